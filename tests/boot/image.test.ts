import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { runtimeEnv } from "../../images/vm/boot";
import type { BootConfig } from "../../images/vm/bootConfig";
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
  loadBalancer: "",
  healthIp: "",
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
  });

  it("pulls first through the credential helper, then runs with the env file and its port on loopback only", () => {
    const unit = renderImageSlotUnit({
      slot: "b",
      image: config.image,
      envFile: "/etc/budgetml/runtime-b.env",
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
      "--name",
      "budgetml-b",
      "-p",
      "127.0.0.1:8082:8082",
      "--env-file",
      "/etc/budgetml/runtime-b.env",
      config.image,
    ]);
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
