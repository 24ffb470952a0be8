import { ENDPOINT_VARIABLES } from "../../contracts/googleEndpoints";
import { METADATA_SERVER_ADDRESSES } from "./unitSandbox";

/**
 * What runs a custom image (`budget-image`) under docker on the VM, rendered as pure functions and
 * tested without docker: the env file, the unit, and the registry credentials.
 */

/**
 * The docker bridge's gateway: from inside a container whose port is published on the host's
 * loopback, Caddy's requests arrive from this address (docker's default `bridge` network,
 * 172.17.0.0/16 — https://docs.docker.com/engine/network/drivers/bridge/). The runtime in the
 * container trusts `X-Forwarded-For` from exactly this peer, so the login limiter sees each real
 * client instead of one address for everyone.
 */
export const DOCKER_BRIDGE_GATEWAY = "172.17.0.1";

/**
 * An env file for `docker run --env-file`. Docker takes each line literally — `KEY=value`, no
 * quoting and no escapes: quotes would become part of the value (docker/cli#4665, #3630; the
 * parser is docker/cli `opts/envfile.go`). So values are written raw, and a value docker cannot
 * carry (a line break, a NUL, invalid UTF-8 is impossible from a JS string) is refused here with
 * its key named, rather than silently cut at the line break.
 */
export function renderDockerEnvFile(values: Record<string, string>): string {
  const lines = Object.entries(values).map(([key, value]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key))
      throw new Error(`cannot pass ${JSON.stringify(key)} to docker: not an environment variable name`);
    if (/[\r\n\0]/.test(value))
      throw new Error(
        `cannot pass ${key} to docker: its value contains a line break or NUL, which an --env-file cannot carry`,
      );
    return `${key}=${value}`;
  });
  return `${lines.join("\n")}\n`;
}

/**
 * The registry host of an image reference, when it is one whose pulls need Google credentials
 * (Artifact Registry `*-docker.pkg.dev`, Container Registry `gcr.io`); otherwise undefined.
 */
export function googleRegistryOf(image: string): string | undefined {
  const first = image.split("/")[0];
  if (!image.includes("/") || !/[.:]/.test(first)) return undefined;
  return /(^|\.)(pkg\.dev|gcr\.io)$/.test(first.replace(/:\d+$/, "")) ? first : undefined;
}

/** The docker CLI config that sends pulls from Google's registry through our credential helper. */
export function renderDockerConfig(image: string): string {
  const registry = googleRegistryOf(image);
  return `${JSON.stringify(registry ? { credHelpers: { [registry]: CREDENTIAL_HELPER } } : {}, null, 2)}\n`;
}

/** docker runs `docker-credential-<name>`. */
export const CREDENTIAL_HELPER = "budgetml";

/**
 * A docker credential helper (`docker-credential-budgetml get`, the server URL on stdin) that
 * answers with the VM service account's access token from the metadata server: Artifact Registry
 * accepts the user `oauth2accesstoken` with an access token as password
 * (https://cloud.google.com/artifact-registry/docs/docker/authentication#token). No gcloud needed,
 * nothing stored on disk; the account needs `roles/artifactregistry.reader` on the repository.
 */
export function renderCredentialHelper(): string {
  return `#!/usr/bin/env bash
# docker credential helper: the VM service account's access token for Google's registries.
set -euo pipefail
case "\${1:-}" in
  get)
    read -r server || true
    token="$(curl -fsS --retry 5 -H "Metadata-Flavor: Google" \\
      "http://\${${ENDPOINT_VARIABLES.metadata}:-metadata.google.internal}/computeMetadata/v1/instance/service-accounts/default/token" |
      sed -n 's/.*"access_token" *: *"\\([^"]*\\)".*/\\1/p')"
    [ -n "$token" ] || { echo "no access token from the metadata server" >&2; exit 1; }
    printf '{"ServerURL":"%s","Username":"oauth2accesstoken","Secret":"%s"}\\n' "$server" "$token"
    ;;
  store|erase|list) exit 0 ;;
  *) echo "usage: docker-credential-${CREDENTIAL_HELPER} get|store|erase|list" >&2; exit 1 ;;
esac
`;
}

/**
 * `ExecStartPre=` lines that keep every container from the metadata server (whose token reads the
 * secrets): a reject rule in docker's `DOCKER-USER` chain, which docker leaves to the host's own
 * rules and consults first for traffic from containers
 * (https://docs.docker.com/engine/network/packet-filtering-firewalls/#add-iptables-policies-before-dockers-rules),
 * added once. The VM's own processes (the boot, docker's credential helper) are not forwarded
 * traffic and keep their access.
 */
export function denyContainersMetadata(): string {
  return METADATA_SERVER_ADDRESSES.filter((address) => !address.includes(":"))
    .map((address) => {
      const rule = `DOCKER-USER -d ${address}/32 -j REJECT`;
      return `ExecStartPre=/bin/sh -c 'iptables -C ${rule} 2>/dev/null || iptables -I ${rule}'\n`;
    })
    .join("");
}

/**
 * One slot's unit for the image: keeps containers from the metadata server, pulls (through the credential helper, so a private
 * Artifact Registry works), then runs it with the docker env file and the credentials on its
 * standard input (`--interactive` passes the unit's, a root-only file, on to the runtime), its
 * port published on the host's loopback only — Caddy is the only way in. The image keeps its own
 * predictor path.
 */
export function renderImageSlotUnit(options: {
  slot: string;
  image: string;
  envFile: string;
  credentialsFile: string;
  port: number;
  dockerConfig: string;
}): string {
  const name = `budgetml-${options.slot}`;
  return `[Unit]
Description=budgetml runtime, slot ${options.slot} (image ${options.image})
After=docker.service network-online.target
Requires=docker.service

[Service]
Type=simple
Environment=DOCKER_CONFIG=${options.dockerConfig}
${denyContainersMetadata()}ExecStartPre=/usr/bin/docker pull ${options.image}
ExecStartPre=-/usr/bin/docker rm -f ${name}
StandardInput=file:${options.credentialsFile}
ExecStart=/usr/bin/docker run --rm --interactive --name ${name} -p 127.0.0.1:${options.port}:${options.port} --env-file ${options.envFile} ${options.image}
ExecStop=/usr/bin/docker stop --time 25 ${name}
Restart=on-failure
RestartSec=2
TimeoutStartSec=900
TimeoutStopSec=28

[Install]
WantedBy=multi-user.target
`;
}
