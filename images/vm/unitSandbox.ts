import { ENDPOINT_VARIABLES } from "../../contracts/googleEndpoints";

// The systemd sandbox each budgetml unit runs in: as much of systemd's confinement as the unit's
// work allows, so that whatever goes wrong inside one (a compromised model in the runtime, a
// parsing bug in the root-run boot) reaches as little of the machine as possible. Checked on a
// real systemd by tests/vm (`systemd-analyze security` scores it holds).
// https://www.freedesktop.org/software/systemd/man/latest/systemd.exec.html#Sandboxing

/** Which of budgetml's units: what it must be able to do decides what it is denied. */
export type UnitRole = "runtime" | "watcher" | "rollout";

/**
 * The Compute Engine metadata server: 169.254.169.254 (metadata.google.internal), and fd20:ce::254
 * on IPv6-only instances (https://cloud.google.com/compute/docs/metadata/querying-metadata). Its
 * token is the VM service account's, which may read both secrets.
 */
export const METADATA_SERVER_ADDRESSES = ["169.254.169.254", "fd20:ce::254"];

/**
 * The metadata server's addresses, plus the one `GCE_METADATA_HOST` names when it is an IP
 * address other than the one the runtime is reached on (tests run a stand-in on 127.0.0.2).
 */
export function metadataServerAddresses(env: NodeJS.ProcessEnv = process.env): string[] {
  const override = env[ENDPOINT_VARIABLES.metadata]?.replace(/^\[?([^\]]*?)\]?(:\d+)?$/, "$1");
  const usable = override && /^[0-9a-f.:]+$/i.test(override) && !["127.0.0.1", "::1"].includes(override);
  return usable ? [...METADATA_SERVER_ADDRESSES, override] : METADATA_SERVER_ADDRESSES;
}

/** What every unit gets: no new privileges, a read-only system, no kernel knobs, a private /tmp. */
const COMMON = [
  "NoNewPrivileges=yes",
  "ProtectSystem=strict",
  "ProtectHome=yes",
  "PrivateTmp=yes",
  "PrivateDevices=yes",
  "ProtectKernelTunables=yes",
  "ProtectKernelModules=yes",
  "ProtectKernelLogs=yes",
  "ProtectControlGroups=yes",
  "ProtectClock=yes",
  "ProtectHostname=yes",
  "RestrictSUIDSGID=yes",
  "RestrictNamespaces=yes",
  "RestrictRealtime=yes",
  "LockPersonality=yes",
  "SystemCallArchitectures=native",
  "SystemCallErrorNumber=EPERM",
  // Files are created for the unit's own user unless the code says otherwise (what others must
  // read — the runtime's code, Caddy's configuration — gets its mode set explicitly).
  "UMask=0077",
];

/**
 * Google's clients check whether they run on Compute Engine by the machine's network interfaces
 * (gcp-metadata's residency check, `os.networkInterfaces()`), which Node reads over netlink.
 */
const GOOGLE_CLIENT_ADDRESS_FAMILIES = "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK";

/**
 * The `[Service]` lines that sandbox a unit of `role`:
 * - runtime: its unprivileged account with no capabilities at all, writing nowhere but its
 *   private /tmp, other users' processes hidden, the system calls of an ordinary service (plus
 *   Landlock's, with which the Python host confines itself), and no route to the metadata server
 *   (`IPAddressDeny=`, enforced by the kernel for every process of the unit, a model's included);
 * - watcher: root without capabilities (it only fetches runtime bundles into /opt/budgetml, which
 *   root owns, and asks systemd to roll out or stop);
 * - rollout: root with the few capabilities installing needs (changing to the install account,
 *   giving it its folders, removing what it wrote), writing only where the boot writes: /etc
 *   (units, env files, Caddy's configuration, accounts), /opt/budgetml, /run/budgetml and
 *   /usr/local/bin (docker's credential helper). Packages it needs are installed by systemd in a
 *   unit of their own (`systemd-run`), outside this read-only view of the system.
 */
export function renderSandbox(role: UnitRole, env: NodeJS.ProcessEnv = process.env): string {
  const lines: Record<UnitRole, string[]> = {
    runtime: [
      "CapabilityBoundingSet=",
      "AmbientCapabilities=",
      "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
      "ProtectProc=invisible",
      "RemoveIPC=yes",
      "SystemCallFilter=@system-service landlock_create_ruleset landlock_add_rule landlock_restrict_self",
      "SystemCallFilter=~@privileged @resources",
      `IPAddressDeny=${metadataServerAddresses(env).join(" ")}`,
    ],
    watcher: [
      "CapabilityBoundingSet=",
      GOOGLE_CLIENT_ADDRESS_FAMILIES,
      "ReadWritePaths=/opt/budgetml",
      "SystemCallFilter=@system-service",
      "SystemCallFilter=~@privileged @resources",
    ],
    rollout: [
      "CapabilityBoundingSet=CAP_CHOWN CAP_DAC_OVERRIDE CAP_FOWNER CAP_SETUID CAP_SETGID",
      GOOGLE_CLIENT_ADDRESS_FAMILIES,
      // The boot lock's folder: made by systemd if missing, kept after the unit (startup.sh's boot shares it).
      "RuntimeDirectory=budgetml",
      "RuntimeDirectoryPreserve=yes",
      "ReadWritePaths=/etc /opt/budgetml /usr/local/bin",
      "SystemCallFilter=@system-service",
    ],
  };
  return [...COMMON, ...lines[role]].map((line) => `${line}\n`).join("");
}

/**
 * The properties of the transient unit one install step (pip, npm and the code they run) runs in
 * on a VM: the common sandbox, a umask that lets the runtime read what it installs, nothing
 * writable but `writable`, no capabilities, no route to the metadata server.
 */
export function installStepSandbox(writable: string[], metadata: string[]): string[] {
  return [
    ...COMMON.filter((line) => !line.startsWith("UMask=")),
    "UMask=0022",
    "CapabilityBoundingSet=",
    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
    "SystemCallFilter=@system-service",
    `ReadWritePaths=${writable.join(" ")}`,
    `IPAddressDeny=${metadata.join(" ")}`,
  ];
}
