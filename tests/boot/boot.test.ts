import { execFile, spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { buildPredictorBundle } from "../../bundles/predictorBundle";
import { buildRuntimeBundle, RUNTIME_ENTRIES } from "../../bundles/runtimeBundle";
import { renderCaddyfile, renderImageUnit } from "../../images/vm/renderConfig";
import { startMetadataServer, type MetadataServer } from "../../local/standins/metadataServer";
import { startPubSubServer, type PublishedMessage } from "../../local/standins/pubsubServer";
import { startSecretManagerServer } from "../../local/standins/secretManagerServer";
import { startStorageServer } from "../../local/standins/storageServer";
import type { LoopbackServer } from "../../local/standins/listen";
import { waitFor } from "../support/waitFor";
import { json, login } from "../support/runtimeServer";

const run = promisify(execFile);
const ROOT = join(__dirname, "..", "..");
const PASSWORD = "password-from-secret-manager";

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

// The boot path for real: startup.sh (bash, curl) fetches the runtime bundle from the storage
// stand-in and runs boot.cjs, whose Google clients read metadata, objects and secrets from the
// stand-ins; the runtime then starts as a process under a temporary root.
describe("VM boot under a fake metadata server", () => {
  let work: string;
  let vmRoot: string;
  let metadata: MetadataServer;
  let storage: LoopbackServer;
  let secrets: LoopbackServer & { accessed: string[] };
  let pubsub: LoopbackServer & { published: PublishedMessage[] };
  let runtimePort: number;
  let objects: { runtime: string; predictor: string; slow: string };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "budgetml-boot-"));
    vmRoot = join(work, "vm");
    const bucketDir = join(work, "buckets", "model-bucket");
    mkdirSync(bucketDir, { recursive: true });
    const runtime = await buildRuntimeBundle(join(work, "build"));
    const predictor = await buildPredictorBundle({ predictor: join(ROOT, "examples", "sentiment", "predictor.ts"), outDir: join(work, "build") });
    const slow = await buildPredictorBundle({ predictor: join(ROOT, "tests", "fixtures", "slowPredictor.cjs"), entrypoint: "Slow", outDir: join(work, "build") });
    for (const bundle of [runtime, predictor, slow]) copyFileSync(bundle.file, join(bucketDir, bundle.objectName));
    writeFileSync(join(bucketDir, "predictor-corrupt.tgz"), "this is not a tarball");
    objects = { runtime: runtime.objectName, predictor: predictor.objectName, slow: slow.objectName };
    pubsub = await startPubSubServer();
    storage = await startStorageServer(join(work, "buckets"));
    secrets = await startSecretManagerServer({ "projects/p/secrets/pw": PASSWORD, "projects/p/secrets/key": "k".repeat(48) });
    runtimePort = await freePort();
    metadata = await startMetadataServer({
      attributes: {
        "budget-bucket": "model-bucket",
        "budget-runtime-object": objects.runtime,
        "budget-predictor-object": objects.predictor,
        "budget-entrypoint": "",
        "budget-username": "budget",
        "budget-password-secret": "projects/p/secrets/pw",
        "budget-token-secret": "projects/p/secrets/key",
        "budget-domain": "",
        "budget-topic": "projects/p/topics/restart",
      },
    });
  }, 60_000);

  afterAll(async () => {
    await runBoot("shutdown").catch(() => undefined);
    await Promise.all([metadata.close(), storage.close(), secrets.close(), pubsub.close()]);
    rmSync(work, { recursive: true, force: true });
  });

  function runBoot(script: "startup" | "shutdown" = "startup") {
    return run("bash", [join(ROOT, "images", "vm", `${script}.sh`)], {
      env: {
        PATH: process.env.PATH,
        BUDGET_ROOT: vmRoot,
        BUDGET_SERVICE_MANAGER: "process",
        BUDGET_RUNTIME_PORT: String(runtimePort),
        GCE_METADATA_HOST: metadata.host,
        STORAGE_EMULATOR_HOST: storage.url,
        SECRET_MANAGER_ENDPOINT: secrets.url,
        PUBSUB_ENDPOINT: pubsub.url,
      },
    });
  }

  async function predicts(): Promise<unknown> {
    const url = `http://127.0.0.1:${runtimePort}`;
    for (let i = 0; i < 100; i += 1) {
      const ready = await fetch(`${url}/`).then((r) => r.status === 200, () => false);
      if (ready) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const response = await fetch(`${url}/predict_dict`, json(await login(url, "budget", PASSWORD), { payload: { text: "excellent" } }));
    return response.json();
  }

  it("boots: the runtime answers with the credentials from the secret stand-in, and never logs them", async () => {
    const { stderr } = await runBoot();
    expect(stderr).toMatch(/fetching runtime/);
    expect(stderr).toMatch(/runtime started for https:\/\/127-0-0-1\.sslip\.io/);
    expect(await predicts()).toMatchObject({ label: "positive" });
    expect(secrets.accessed).toEqual(expect.arrayContaining(["projects/p/secrets/pw", "projects/p/secrets/key"]));
    expect(metadata.tokenRequests).toBeGreaterThan(0);
    const log = readFileSync(join(vmRoot, "opt", "budgetml", "runtime.log"), "utf8");
    expect(log).toMatch(/predictor loaded/);
    expect(log).not.toContain(PASSWORD);
  }, 60_000);

  it("boots again: nothing re-installed, serving again", async () => {
    const predictorDir = join(vmRoot, "opt", "budgetml", "predictors", objects.predictor.replace(".tgz", ""));
    const installedAt = statSync(join(predictorDir, "predictor.cjs")).mtimeMs;
    const { stderr } = await runBoot();
    expect(stderr).toMatch(/runtime .* already installed/);
    expect(stderr).toMatch(/predictor .* already installed/);
    expect(stderr).not.toMatch(/fetching/);
    expect(statSync(join(predictorDir, "predictor.cjs")).mtimeMs).toBe(installedAt);
    expect(await predicts()).toMatchObject({ label: "positive" });
  }, 60_000);

  it("fails clearly on missing metadata and on a corrupt bundle, leaving nothing half-written", async () => {
    metadata.setAttribute("budget-password-secret", undefined);
    await expect(runBoot()).rejects.toMatchObject({ code: 1, stderr: expect.stringMatching(/FAILED: instance metadata is missing budget-password-secret/) });
    metadata.setAttribute("budget-password-secret", "projects/p/secrets/pw");

    metadata.setAttribute("budget-predictor-object", "predictor-corrupt.tgz");
    await expect(runBoot()).rejects.toMatchObject({ stderr: expect.stringMatching(/FAILED: gs:\/\/model-bucket\/predictor-corrupt\.tgz is not a valid predictor bundle/) });
    metadata.setAttribute("budget-predictor-object", "predictor-absent.tgz");
    await expect(runBoot()).rejects.toMatchObject({ stderr: expect.stringMatching(/FAILED: could not download gs:\/\/model-bucket\/predictor-absent\.tgz/) });
    const leftovers = readdirSync(join(vmRoot, "opt", "budgetml", "predictors")).filter((name) => !name.startsWith(objects.predictor.replace(".tgz", "")));
    expect(leftovers).toEqual([]);

    metadata.setAttribute("budget-predictor-object", objects.predictor);
    await runBoot();
    expect(await predicts()).toMatchObject({ label: "positive" });
  }, 60_000);

  it("on the advance preemption notice: drains (health says draining, new work refused, in-flight finishes) and signals the topic", async () => {
    metadata.setAttribute("budget-predictor-object", objects.slow);
    metadata.setAttribute("budget-entrypoint", "Slow");
    await runBoot();
    const url = `http://127.0.0.1:${runtimePort}`;
    await waitFor(() => fetch(`${url}/`).then((r) => r.status === 200, () => false), { what: "the runtime to be ready" });
    const token = await login(url, "budget", PASSWORD);
    await waitFor(() => metadata.watching > 0, { what: "the preemption watcher to wait on the metadata server" });
    const inFlight = fetch(`${url}/predict_dict`, json(token, { payload: { ms: 2500 } }));
    await new Promise((resolve) => setTimeout(resolve, 200));
    metadata.setPreempted(true);
    let health: { status?: string } = {};
    for (let i = 0; i < 40 && health.status !== "draining"; i += 1) {
      health = await fetch(`${url}/`).then((r) => r.json() as Promise<{ status: string }>, () => ({}));
      if (health.status !== "draining") await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(health.status).toBe("draining");
    expect((await fetch(`${url}/predict_dict`, json(token, { payload: { ms: 0 } }))).status).toBe(503);
    const finished = await inFlight;
    expect(finished.status).toBe(200);
    expect(await finished.json()).toEqual({ slept: 2500 });
    await waitFor(() => pubsub.published.length > 0, { what: "the preemption signal on the topic" });
    expect(pubsub.published).toEqual([{ topic: "projects/p/topics/restart", data: "preempted", attributes: { reason: "preempted" } }]);
    metadata.setPreempted(false);
    metadata.setAttribute("budget-predictor-object", objects.predictor);
    metadata.setAttribute("budget-entrypoint", "");
    await runBoot();
    expect(await predicts()).toMatchObject({ label: "positive" });
  }, 60_000);

  it("shutdown stops the runtime", async () => {
    await runBoot("shutdown");
    const pid = Number(readFileSync(join(vmRoot, "opt", "budgetml", "runtime.pid"), "utf8"));
    expect(() => process.kill(pid, 0)).toThrow();
  }, 60_000);
});

describe("boot scripts and Caddy", () => {
  it("keeps every shell script shellcheck-clean", async () => {
    const scripts = readdirSync(join(ROOT, "images", "vm")).filter((f) => f.endsWith(".sh")).map((f) => join(ROOT, "images", "vm", f));
    expect(scripts.length).toBeGreaterThanOrEqual(2);
    await expect(run("shellcheck", scripts)).resolves.toBeDefined();
  });

  it("renders a Caddyfile caddy accepts for a real domain", async () => {
    const dir = mkdtempSync(join(tmpdir(), "budgetml-caddy-"));
    writeFileSync(join(dir, "Caddyfile"), renderCaddyfile({ hostname: "api.example.com", upstreamPort: 8080 }));
    await expect(run("caddy", ["validate", "--config", join(dir, "Caddyfile"), "--adapter", "caddyfile"], { env: { ...process.env, HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir } })).resolves.toBeDefined();
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves the runtime through caddy over TLS (tls internal) on loopback", async () => {
    const dir = mkdtempSync(join(tmpdir(), "budgetml-caddy-"));
    const upstream = await freePort();
    const [httpPort, httpsPort] = [await freePort(), await freePort()];
    const runtime = spawn(process.execPath, [join(ROOT, "scripts", "runTs.cjs"), join(ROOT, "cli.ts"), "serve", "--predictor", join(ROOT, "examples", "sentiment", "predictor.ts"), "--port", String(upstream), "--workers", "1", "--host", "127.0.0.1"], {
      env: { PATH: process.env.PATH, BUDGET_USERNAME: "budget", BUDGET_PWD: PASSWORD, BUDGET_TOKEN: "t".repeat(32) },
      stdio: "ignore",
    });
    writeFileSync(join(dir, "Caddyfile"), renderCaddyfile({ hostname: "localhost", upstreamPort: upstream, tlsInternal: true, httpPort, httpsPort, adminSocket: join(dir, "admin.sock") }));
    let caddy: ChildProcess | undefined;
    try {
      caddy = spawn("caddy", ["run", "--config", join(dir, "Caddyfile"), "--adapter", "caddyfile"], { env: { ...process.env, HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir }, stdio: "ignore" });
      const curl = (...args: string[]) => run("curl", ["-sS", "--insecure", "--resolve", `localhost:${httpsPort}:127.0.0.1`, ...args]);
      let body = "";
      for (let i = 0; i < 100 && !body.includes('"ready"'); i += 1) {
        body = await curl(`https://localhost:${httpsPort}/`).then((r) => r.stdout, () => "");
        if (!body.includes('"ready"')) await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(JSON.parse(body)).toMatchObject({ status: "ready" });
      const token = JSON.parse((await curl("-X", "POST", `https://localhost:${httpsPort}/token`, "-d", `username=budget&password=${PASSWORD}`)).stdout).access_token;
      const predicted = await curl("-X", "POST", `https://localhost:${httpsPort}/predict_dict/`, "-H", `Authorization: Bearer ${token}`, "-H", "content-type: application/json", "-d", '{"payload":{"text":"awful"}}');
      expect(JSON.parse(predicted.stdout)).toMatchObject({ label: "negative" });
      const redirect = await run("curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", "--resolve", `localhost:${httpPort}:127.0.0.1`, `http://localhost:${httpPort}/docs`]);
      expect(redirect.stdout).toMatch(/^30[18] https:\/\/localhost/);
    } finally {
      caddy?.kill("SIGKILL");
      runtime.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});


describe("custom image path", () => {
  it("runs the image under docker with the env file, and the base image starts the bundle's server", async () => {
    const unit = renderImageUnit({ image: "europe-docker.pkg.dev/p/r/model:1", envFile: "/etc/budgetml/runtime.env", port: 8080 });
    expect(unit).toMatch(/^ExecStart=\/usr\/bin\/docker run --rm --name budgetml -p 127\.0\.0\.1:8080:8080 --env-file \/etc\/budgetml\/runtime\.env -e BUDGET_HOST=0\.0\.0\.0 europe-docker\.pkg\.dev\/p\/r\/model:1$/m);
    const dockerfile = readFileSync(join(ROOT, "images", "runtime", "Dockerfile"), "utf8");
    expect(dockerfile).toMatch(/^ENTRYPOINT \["node", "\/opt\/budgetml\/runtime\/server\.cjs", "serve"\]$/m);
    expect(Object.keys(RUNTIME_ENTRIES)).toContain("server.cjs");
  });
});
