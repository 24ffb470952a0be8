import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { runtimeEnv } from "../../images/vm/boot";
import { servedDeployment } from "../../contracts/servedDeployment";
import type { BootConfig } from "../../images/vm/bootConfig";
import { pullImage } from "../../images/vm/pullImage";
import { renderEnvFile } from "../../images/vm/renderConfig";
import {
  DOCKER_BRIDGE_GATEWAY,
  googleRegistryOf,
  renderCredentialHelper,
  renderDockerConfig,
  renderDockerEnvFile,
  renderImageSlotUnit,
} from "../../images/vm/renderImage";
import { startMetadataServer } from "../../local/standins/metadataServer";
import { loginFrom, PASSWORD, startTestRuntime } from "../support/runtimeServer";

const run = promisify(execFile);

/**
 * `docker run --env-file` as docker reads it (docker/cli opts/envfile.go, parseKeyValueFile): each
 * line with leading whitespace trimmed; blank lines and `#` comments skipped; the name up to the
 * first `=` (no whitespace allowed in it); the value is everything after it, taken literally — no
 * quote removal, no escapes.
 */
function parseLikeDocker(content: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const raw of content.split("\n")) {
    const line = raw.replace(/^\s+/, "");
    if (line === "" || line.startsWith("#")) continue;
    const at = line.indexOf("=");
    const name = at < 0 ? line : line.slice(0, at);
    if (/\s/.test(name)) throw new Error(`variable '${name}' contains whitespaces`);
    if (at >= 0) values[name] = line.slice(at + 1);
  }
  return values;
}

const config: BootConfig = {
  bucket: "b",
  runtimeObject: "runtime-1.tgz",
  predictorObject: "predictor-1.tgz",
  entrypoint: "",
  username: "budget",
  passwordSecret: "projects/p/secrets/pw",
  tokenSecret: "projects/p/secrets/key",
  hostname: "h.sslip.io",
  topic: "",
  image: "europe-docker.pkg.dev/proj/models/sentiment:1",
  acmeEmail: "",
  accelerator: "",
  maxBatchSize: "",
  maxBatchWaitMs: "",
  loadBalancer: "",
  healthIp: "",
  deployment: "",
};

describe("a custom image under docker", () => {
  const hostile = `p"a'ss $HOME \\n = #x `;

  it("passes every value to docker exactly, which the systemd env file's quoting would not", () => {
    const env = { BUDGET_USERNAME: "budget", BUDGET_PWD: hostile, BUDGET_TOKEN: "k".repeat(32) };
    expect(parseLikeDocker(renderDockerEnvFile(env))).toEqual(env);
    // The bug this prevents: docker keeps the quotes systemd's format needs, so the password never matches.
    expect(parseLikeDocker(renderEnvFile(env)).BUDGET_PWD).not.toBe(hostile);
    expect(() => renderDockerEnvFile({ BUDGET_PWD: "two\nlines" })).toThrow(
      "cannot pass BUDGET_PWD to docker: its value contains a line break or NUL",
    );
    expect(() => renderDockerEnvFile({ "BAD NAME": "x" })).toThrow('cannot pass "BAD NAME" to docker');
  });

  it("keeps the image's own predictor path, listens on the container's interfaces, trusts exactly the bridge gateway", () => {
    const env = runtimeEnv(config, { password: "pw", signingKey: "k".repeat(32) });
    expect(env).not.toHaveProperty("BUDGET_PREDICTOR_PATH"); // the image's ENV keeps it
    expect(env).toMatchObject({
      BUDGET_HOST: "0.0.0.0",
      BUDGET_TRUSTED_PROXY: DOCKER_BRIDGE_GATEWAY,
      BUDGET_PWD: "pw",
    });
    expect(runtimeEnv({ ...config, entrypoint: "Model" }, { password: "pw", signingKey: "k" })).toMatchObject({
      BUDGET_PREDICTOR_ENTRYPOINT: "Model",
    });
    const bundle = runtimeEnv(
      { ...config, image: "" },
      { password: "pw", signingKey: "k", predictorDir: "/opt/budgetml/predictors/p" },
    );
    expect(bundle).toMatchObject({
      BUDGET_PREDICTOR_PATH: "/opt/budgetml/predictors/p/predictor.cjs",
      BUDGET_HOST: "127.0.0.1",
    });
    expect(bundle).not.toHaveProperty("BUDGET_TRUSTED_PROXY");
    expect(bundle).not.toHaveProperty("BUDGET_MAX_BATCH_SIZE");
  });

  it("rolls out a change of the batching settings as it does new bundles (the watcher compares deployments)", () => {
    const before = { "budget-runtime-object": "runtime-1.tgz", "budget-predictor-object": "predictor-1.tgz" };
    for (const changed of [{ "budget-max-batch-size": "32" }, { "budget-max-batch-wait-ms": "5" }] as Array<
      Record<string, string>
    >)
      expect(servedDeployment({ ...before, ...changed })).not.toBe(servedDeployment(before));
  });

  it("hands the metadata's batching settings to the runtime, in a custom image as in the bundle", () => {
    const batching = { maxBatchSize: "32", maxBatchWaitMs: "5" };
    for (const image of [config.image, ""])
      expect(
        runtimeEnv({ ...config, ...batching, image }, { password: "pw", signingKey: "k", predictorDir: "/p" }),
      ).toMatchObject({ BUDGET_MAX_BATCH_SIZE: "32", BUDGET_MAX_BATCH_WAIT_MS: "5" });
    expect(runtimeEnv({ ...config, maxBatchSize: "32" }, { password: "pw", signingKey: "k" })).not.toHaveProperty(
      "BUDGET_MAX_BATCH_WAIT_MS",
    );
  });

  it("pulls first through the credential helper, then runs with the env file, the credentials on stdin and its port on loopback only", () => {
    const unit = renderImageSlotUnit({
      slot: "b",
      image: config.image,
      envFile: "/etc/budgetml/runtime-b.env",
      credentialsFile: "/etc/budgetml/runtime-b.credentials",
      port: 8082,
      dockerConfig: "/etc/budgetml/docker",
    });
    expect(unit).toMatch(/^Environment=DOCKER_CONFIG=\/etc\/budgetml\/docker$/m);
    expect(unit).toMatch(/^ExecStartPre=\/usr\/bin\/docker pull europe-docker\.pkg\.dev\/proj\/models\/sentiment:1$/m);
    const start = /^ExecStart=(.*)$/m.exec(unit)?.[1].split(" ") ?? [];
    expect(start).toEqual([
      "/usr/bin/docker",
      "run",
      "--rm",
      "--interactive",
      "--name",
      "budgetml-b",
      "-p",
      "127.0.0.1:8082:8082",
      "--env-file",
      "/etc/budgetml/runtime-b.env",
      config.image,
    ]);
    expect(unit).toMatch(/^StandardInput=file:\/etc\/budgetml\/runtime-b\.credentials$/m);
    // Containers are kept from the metadata server, by a rule added before the image is pulled or run.
    const deny = unit.indexOf("ExecStartPre=/bin/sh -c 'iptables -C DOCKER-USER -d 169.254.169.254/32 -j REJECT");
    expect(deny).toBeGreaterThan(0);
    expect(deny).toBeLessThan(unit.indexOf("ExecStartPre=/usr/bin/docker pull"));
    expect(unit).toContain("|| iptables -I DOCKER-USER -d 169.254.169.254/32 -j REJECT'");
    expect(JSON.parse(renderDockerConfig(config.image))).toEqual({
      credHelpers: { "europe-docker.pkg.dev": "budgetml" },
    });
    expect(JSON.parse(renderDockerConfig("ghcr.io/someone/model:1"))).toEqual({});
    expect([
      googleRegistryOf("gcr.io/p/m"),
      googleRegistryOf("us-docker.pkg.dev/p/r/m"),
      googleRegistryOf("node:20"),
      googleRegistryOf("library/node"),
    ]).toEqual(["gcr.io", "us-docker.pkg.dev", undefined, undefined]);
  });

  it("the runtime image runs the Node.js line and the Debian release the VM runs, not an end-of-life one", () => {
    const dockerfile = readFileSync(join(__dirname, "..", "..", "images", "runtime", "Dockerfile"), "utf8");
    const startup = readFileSync(join(__dirname, "..", "..", "images", "vm", "startup.sh"), "utf8");
    const vmNode = /NODE_VERSION="\$\{BUDGET_NODE_VERSION:-(\d+)\}"/.exec(startup)?.[1];
    expect(vmNode).toBeDefined();
    expect(/^FROM (\S+)$/m.exec(dockerfile)?.[1]).toBe(`node:${vmNode}-bookworm-slim`); // the VM boots debian-12 (bookworm)
  });

  it("the credential helper answers docker with the VM account's token from the metadata server (run for real)", async () => {
    const metadata = await startMetadataServer({ accessToken: "ya29.vm-token" });
    const dir = mkdtempSync(join(tmpdir(), "budgetml-cred-"));
    try {
      const helper = join(dir, "docker-credential-budgetml");
      writeFileSync(helper, renderCredentialHelper(), { mode: 0o755 });
      await run("shellcheck", [helper]);
      const answer = await new Promise<string>((resolve, reject) => {
        const child = execFile(
          helper,
          ["get"],
          { env: { PATH: process.env.PATH, GCE_METADATA_HOST: metadata.host } },
          (error, stdout) => (error ? reject(error) : resolve(stdout)),
        );
        child.stdin?.end("europe-docker.pkg.dev\n");
      });
      expect(JSON.parse(answer)).toEqual({
        ServerURL: "europe-docker.pkg.dev",
        Username: "oauth2accesstoken",
        Secret: "ya29.vm-token",
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await metadata.close();
    }
  });
});

// No docker engine here: `docker` is a script standing in for the CLI, answering each pull as docker
// does when Artifact Registry refuses it (docker's output as users report it: "Error response from
// daemon: Head …: denied: Permission … denied on resource … (or it may not exist)").
describe("the custom image's first pull", () => {
  const DENIED =
    'Error response from daemon: Head "https://europe-docker.pkg.dev/v2/proj/models/sentiment/manifests/1": denied: Permission "artifactregistry.repositories.downloadArtifacts" denied on resource "projects/proj/locations/europe/repositories/models" (or it may not exist)';

  /** A `docker` that fails its first `failures` pulls with `output`, then succeeds; records each call's DOCKER_CONFIG. */
  function fakeDocker(dir: string, failures: number, output: string) {
    const bin = join(dir, "bin");
    mkdirSync(bin);
    writeFileSync(
      join(bin, "docker"),
      `#!/usr/bin/env bash
echo "$* DOCKER_CONFIG=$DOCKER_CONFIG" >> "${dir}/calls"
[ "$(wc -l < "${dir}/calls")" -gt ${failures} ] && exit 0
echo '${output.replace(/'/g, "'\\''")}' >&2
exit 1
`,
      { mode: 0o755 },
    );
    return {
      PATH: `${bin}:${process.env.PATH}`,
      calls: () => readFileSync(join(dir, "calls"), "utf8").trim().split("\n"),
    };
  }

  async function pullWith(dir: string, docker: ReturnType<typeof fakeDocker>) {
    const lines: string[] = [];
    const saved = { PATH: process.env.PATH, retry: process.env.BUDGET_BOOT_RETRY_SECONDS };
    process.env.PATH = docker.PATH;
    process.env.BUDGET_BOOT_RETRY_SECONDS = "6";
    try {
      await pullImage(config.image, join(dir, "docker-config"), (line) => lines.push(line));
      return lines;
    } finally {
      process.env.PATH = saved.PATH;
      if (saved.retry === undefined) delete process.env.BUDGET_BOOT_RETRY_SECONDS;
      else process.env.BUDGET_BOOT_RETRY_SECONDS = saved.retry;
    }
  }

  it("waits while the repository refuses the VM account (its grant propagating), through the credential helper's config", async () => {
    const dir = mkdtempSync(join(tmpdir(), "budgetml-pull-"));
    try {
      const docker = fakeDocker(dir, 2, DENIED);
      const lines = await pullWith(dir, docker);
      expect(docker.calls()).toEqual(Array(3).fill(`pull ${config.image} DOCKER_CONFIG=${join(dir, "docker-config")}`));
      expect(lines).toEqual([
        expect.stringMatching(
          /^docker pull europe-docker\.pkg\.dev\/proj\/models\/sentiment:1: 403 permission denied; retrying in 1 s/,
        ),
        expect.stringMatching(/403 permission denied; retrying in 2 s/),
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);

  it("fails at once on anything else, with docker's words", async () => {
    const dir = mkdtempSync(join(tmpdir(), "budgetml-pull-"));
    try {
      const docker = fakeDocker(
        dir,
        5,
        'Error response from daemon: Get "https://europe-docker.pkg.dev/v2/": dial tcp: lookup europe-docker.pkg.dev: no such host',
      );
      await expect(pullWith(dir, docker)).rejects.toThrow(
        /^docker pull europe-docker\.pkg\.dev\/proj\/models\/sentiment:1 failed: .*no such host$/,
      );
      expect(docker.calls()).toHaveLength(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// The runtime as the container runs it, over real HTTP: requests from the trusted proxy's address
// carry the client in X-Forwarded-For; anyone else's header is ignored.
describe("X-Forwarded-For from exactly the trusted proxy", () => {
  it("one attacker's failed logins lock out that attacker only, and a spoofed header from elsewhere is not believed", async () => {
    // 127.0.0.3 plays Caddy as the container sees it (the bridge gateway).
    const runtime = await startTestRuntime("runtime/echo.cjs", {
      env: { BUDGET_TRUSTED_PROXY: "127.0.0.3", BUDGET_MAX_FAILED_LOGINS: "3" },
    });
    try {
      const attacker = "203.0.113.9";
      const statuses = [];
      for (let i = 0; i < 4; i += 1) statuses.push(await loginFrom(runtime.url, "127.0.0.3", attacker, "wrong"));
      expect(statuses.slice(0, 3)).toEqual([401, 401, 401]);
      expect(statuses[3]).toBe(429);
      // Another client behind the same proxy still logs in.
      expect(await loginFrom(runtime.url, "127.0.0.3", "198.51.100.7", PASSWORD)).toBe(200);
      // A peer that is not the proxy cannot pose as a fresh client: its own address is counted.
      const spoofed = [];
      for (let i = 0; i < 4; i += 1) spoofed.push(await loginFrom(runtime.url, "127.0.0.4", `192.0.2.${i}`, "wrong"));
      expect(spoofed[3]).toBe(429);
    } finally {
      await runtime.close();
    }
  });

  it("refuses a malformed BUDGET_TRUSTED_PROXY at start", async () => {
    const runtime = await startTestRuntime("runtime/echo.cjs", { env: { BUDGET_TRUSTED_PROXY: "everyone" } }).catch(
      (error: Error) => error,
    );
    expect(String(runtime)).toMatch(
      /BUDGET_TRUSTED_PROXY must list addresses, CIDRs or loopback\/linklocal\/uniquelocal; got "everyone"/,
    );
  });
});
