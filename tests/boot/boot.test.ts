import { execFile, spawn, type ChildProcess } from "node:child_process";
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  renameSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { createHash } from "node:crypto";
import { create, extract } from "tar";
import { bundleObjectName } from "../../contracts/bundleName";
import { renderCaddyfile } from "../../images/vm/renderConfig";
import { isRunning } from "../../images/vm/services";
import { getOnNewConnection, json, login } from "../support/runtimeServer";
import { processTree } from "../support/processTree";
import { waitFor } from "../support/waitFor";
import { freePort, PASSWORD, ROOT, SIGNING_KEY, startTestVm, waitForHealth, type TestVm } from "../support/vmStandins";

const run = promisify(execFile);

// The boot path for real: startup.sh (bash, curl) fetches the runtime bundle from the storage
// stand-in and runs boot.cjs, whose Google clients read metadata, objects and secrets from the
// stand-ins; the runtime then starts as a process under a temporary root.
describe("VM boot under a fake metadata server", () => {
  let vm: TestVm;
  const bundleOf = (predictor: string) => vm.runtimeId(predictor);

  beforeAll(async () => {
    vm = await startTestVm({
      sentiment: { file: join(ROOT, "examples", "sentiment", "predictor.ts") },
      slow: { file: join(ROOT, "tests", "fixtures", "slowPredictor.cjs"), entrypoint: "Slow" },
    });
  }, 60_000);

  afterAll(() => vm.close());

  async function predicts(): Promise<unknown> {
    await waitForHealth(vm.url, { status: "ready" });
    const response = await fetch(
      `${vm.url}/predict_dict`,
      json(await login(vm.url, "budget", PASSWORD), { payload: { text: "excellent" } }),
    );
    return response.json();
  }

  it("boots: the runtime answers with the credentials from the secret stand-in, says which bundles it serves, and never logs them", async () => {
    const { stderr } = await vm.boot();
    expect(stderr).toMatch(/fetching runtime/);
    expect(stderr).toMatch(/runtime started for https:\/\/localhost/);
    expect(await predicts()).toMatchObject({ label: "positive" });
    expect(await waitForHealth(vm.url, { status: "ready" })).toMatchObject({ bundle: bundleOf("sentiment") });
    expect(vm.secrets.accessed).toEqual(expect.arrayContaining(["projects/p/secrets/pw", "projects/p/secrets/key"]));
    expect(vm.metadata.tokenRequests).toBeGreaterThan(0);
    const log = readFileSync(join(vm.home, "runtime.log"), "utf8");
    expect(log).toMatch(/predictor loaded/);
    for (const secret of [PASSWORD, SIGNING_KEY]) {
      expect(log).not.toContain(secret);
      expect(stderr).not.toContain(secret);
    }
    // Nor in the environment of any of the runtime's processes (the primary and its workers): they
    // came on its standard input.
    const runtimeProcesses = processTree(Number(readFileSync(join(vm.home, "runtime.pid"), "utf8")));
    expect(runtimeProcesses.length).toBeGreaterThan(1);
    for (const pid of runtimeProcesses) {
      const environ = readFileSync(`/proc/${pid}/environ`, "utf8");
      expect({ pid, secrets: [PASSWORD, SIGNING_KEY].filter((secret) => environ.includes(secret)) }).toEqual({
        pid,
        secrets: [],
      });
    }
  }, 60_000);

  it("boots again: nothing re-installed, serving again", async () => {
    const predictorDir = join(vm.home, "predictors", vm.objects.sentiment.replace(".tgz", ""));
    const installedAt = statSync(join(predictorDir, "predictor.cjs")).mtimeMs;
    const { stderr } = await vm.boot();
    expect(stderr).toMatch(/runtime .* already installed/);
    expect(stderr).toMatch(/predictor .* already installed/);
    expect(stderr).not.toMatch(/fetching/);
    expect(statSync(join(predictorDir, "predictor.cjs")).mtimeMs).toBe(installedAt);
    expect(await predicts()).toMatchObject({ label: "positive" });
  }, 60_000);

  it("fails clearly on missing metadata and on a corrupt bundle, leaving nothing half-written", async () => {
    vm.metadata.setAttribute("budget-password-secret", undefined);
    await expect(vm.boot()).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/FAILED: instance metadata is missing budget-password-secret/),
    });
    vm.metadata.setAttribute("budget-password-secret", "projects/p/secrets/pw/versions/1");

    vm.metadata.setAttribute("budget-predictor-object", vm.bad.notATarball);
    await expect(vm.boot()).rejects.toMatchObject({
      stderr: expect.stringContaining(
        `FAILED: gs://model-bucket/${vm.bad.notATarball} is not a valid predictor bundle`,
      ),
    });
    // Integrity: a bundle whose bytes do not hash to its name is refused before it is unpacked.
    vm.metadata.setAttribute("budget-predictor-object", vm.bad.tamperedPredictor);
    await expect(vm.boot()).rejects.toMatchObject({
      stderr: expect.stringMatching(
        /FAILED: gs:\/\/model-bucket\/predictor-0123456789abcdef\.tgz does not match its name: its sha256 is [0-9a-f]{64}/,
      ),
    });
    vm.metadata.setAttribute("budget-predictor-object", "predictor-corrupt.tgz");
    await expect(vm.boot()).rejects.toMatchObject({
      stderr: expect.stringMatching(/FAILED: gs:\/\/model-bucket\/predictor-corrupt\.tgz is not a bundle name/),
    });
    vm.metadata.setAttribute("budget-runtime-object", vm.bad.tamperedRuntime);
    await expect(vm.boot()).rejects.toMatchObject({
      stderr: expect.stringMatching(
        /FAILED: gs:\/\/model-bucket\/runtime-0123456789abcdef\.tgz does not match its name: its sha256 is [0-9a-f]{64}/,
      ),
    });
    // The running VM's watcher saw the same metadata change and refused the same bundle.
    await waitFor(
      () =>
        // The watcher rolls out each change in turn (those above too): the tampered runtime comes last.
        /FAILED: rolling out [^:]*budget-runtime-object[^:]*: runtime-0123456789abcdef\.tgz does not match its name: its sha256 is [0-9a-f]{64}/.test(
          readFileSync(join(vm.home, "runtime.log"), "utf8"),
        ),
      { timeoutMs: 60_000, what: "the watcher to refuse the tampered runtime" },
    );
    expect(readdirSync(join(vm.home, "runtime")).filter((name) => name.includes("0123456789abcdef"))).toEqual([]); // nor a .partial folder
    expect(readdirSync(join(vm.home, "runtime")).length).toBeGreaterThan(0); // the listing sees the good runtime
    vm.metadata.setAttribute("budget-runtime-object", vm.runtimeObject);
    vm.metadata.setAttribute("budget-predictor-object", "predictor-ffffffffffffffff.tgz");
    // A 404 is retried before the boot gives up: a window of 2 s from the first 404 (however long
    // that attempt took) holds the retry after 1 s, and not the next one, 2 s later.
    await expect(vm.boot({ BUDGET_BOOT_RETRY_SECONDS: "2" })).rejects.toMatchObject({
      stderr: expect.stringMatching(
        /predictor-ffffffffffffffff\.tgz: 404 not found; retrying[\s\S]*FAILED: could not download gs:\/\/model-bucket\/predictor-ffffffffffffffff\.tgz/,
      ),
    });
    const leftovers = readdirSync(join(vm.home, "predictors")).filter(
      (name) => !Object.values(vm.objects).some((object) => name.startsWith(object.replace(".tgz", ""))),
    );
    expect(leftovers).toEqual([]);

    vm.metadata.setAttribute("budget-predictor-object", vm.objects.sentiment);
    await vm.boot();
    expect(await predicts()).toMatchObject({ label: "positive" });
  }, 180_000); // the watcher rolls out each of these metadata changes too, one at a time, beside these boots

  it("checks a bundle name before using it as a path: a ../ name never takes the 'already installed' shortcut", async () => {
    // A folder outside the predictors holding what an installed predictor or runtime would have.
    const elsewhere = join(vm.vmRoot, "elsewhere");
    mkdirSync(elsewhere, { recursive: true });
    cpSync(join(vm.home, "predictors", vm.objects.sentiment.replace(".tgz", "")), elsewhere, { recursive: true });
    cpSync(join(vm.home, "runtime", vm.runtimeObject.replace(".tgz", "")), elsewhere, { recursive: true });
    try {
      vm.metadata.setAttribute("budget-predictor-object", "../../../elsewhere.tgz");
      const predictor = await vm.boot().then(
        () => "booted",
        (error: { stderr: string }) => error.stderr,
      );
      expect(predictor).toMatch(/FAILED: gs:\/\/model-bucket\/\.\.\/\.\.\/\.\.\/elsewhere\.tgz is not a bundle name/);
      expect(predictor).not.toMatch(/already installed.*elsewhere/);
      vm.metadata.setAttribute("budget-predictor-object", vm.objects.sentiment);
      vm.metadata.setAttribute("budget-runtime-object", "../../../elsewhere.tgz");
      const runtime = await vm.boot().then(
        () => "booted",
        (error: { stderr: string }) => error.stderr,
      );
      expect(runtime).toMatch(
        /FAILED: gs:\/\/model-bucket\/\.\.\/\.\.\/\.\.\/elsewhere\.tgz is not a runtime bundle name/,
      );
    } finally {
      vm.metadata.setAttribute("budget-runtime-object", vm.runtimeObject);
      vm.metadata.setAttribute("budget-predictor-object", vm.objects.sentiment);
    }
    await vm.boot();
    expect(await predicts()).toMatchObject({ label: "positive" });
  }, 120_000); // three boots

  it("unpacks bundles as root's own: files and folders only, the archive's owners and setuid bits dropped", async () => {
    /** A bundle from the bucket, unpacked, changed, packed again keeping owners and modes, and put back under its new name. */
    const repacked = async (object: string, change: (dir: string) => void) => {
      const dir = mkdtempSync(join(vm.work, "repack-"));
      await extract({ file: join(vm.bucketDir, object), cwd: dir });
      change(dir);
      const file = join(vm.work, "repacked.tgz");
      await create({ gzip: true, file, cwd: dir, portable: false }, readdirSync(dir));
      const name = bundleObjectName(
        object.split("-")[0],
        createHash("sha256").update(readFileSync(file)).digest("hex"),
      );
      renameSync(file, join(vm.bucketDir, name));
      return name;
    };
    const setuidTool = (dir: string) => {
      writeFileSync(join(dir, "tool"), "#!/bin/sh\n");
      chmodSync(join(dir, "tool"), 0o4757);
      chownSync(join(dir, "tool"), 1234, 1234);
    };
    const withLink = (dir: string) => symlinkSync("/etc/shadow", join(dir, "shadow"));
    const [predictorSetuid, predictorLink, runtimeSetuid, runtimeLink] = [
      await repacked(vm.objects.sentiment, setuidTool),
      await repacked(vm.objects.sentiment, withLink),
      await repacked(vm.runtimeObject, setuidTool),
      await repacked(vm.runtimeObject, withLink),
    ];
    const failure = (env: Record<string, string>) => {
      for (const [key, value] of Object.entries(env)) vm.metadata.setAttribute(key, value);
      return vm.boot().then(
        () => "booted",
        (error: { stderr: string }) => error.stderr,
      );
    };
    try {
      expect(await failure({ "budget-predictor-object": predictorLink })).toMatch(
        new RegExp(
          `FAILED: gs://model-bucket/${predictorLink} holds entries that are neither files nor folders: shadow \\(SymbolicLink\\)`,
        ),
      );
      expect(
        await failure({ "budget-predictor-object": vm.objects.sentiment, "budget-runtime-object": runtimeLink }),
      ).toMatch(
        new RegExp(`FAILED: gs://model-bucket/${runtimeLink} holds entries that are neither files nor folders`),
      );
      expect(
        await failure({ "budget-predictor-object": predictorSetuid, "budget-runtime-object": runtimeSetuid }),
      ).toBe("booted");
      for (const installed of [
        join(vm.home, "predictors", predictorSetuid.replace(".tgz", ""), "tool"),
        join(vm.home, "runtime", runtimeSetuid.replace(".tgz", ""), "tool"),
      ]) {
        const stats = statSync(installed);
        expect({ installed, uid: stats.uid, gid: stats.gid, mode: stats.mode & 0o7777 }).toEqual({
          installed,
          uid: 0,
          gid: 0,
          mode: 0o755,
        });
      }
      expect(await predicts()).toMatchObject({ label: "positive" });
    } finally {
      vm.metadata.setAttribute("budget-runtime-object", vm.runtimeObject);
      vm.metadata.setAttribute("budget-predictor-object", vm.objects.sentiment);
    }
    await vm.boot();
  }, 180_000); // four bundles repacked, four boots

  it("retries a bundle that is not there yet (403/404 while grants propagate) instead of failing the boot", async () => {
    // A bundle not installed yet (names are content-addressed: it must be a real bundle's), taken
    // out of the bucket until the boot has met its first 404.
    const late = vm.objects.slow;
    const aside = join(vm.work, late);
    renameSync(join(vm.bucketDir, late), aside);
    vm.metadata.setAttribute("budget-predictor-object", late);
    vm.metadata.setAttribute("budget-entrypoint", "Slow");
    const booting = vm.bootWatched({ BUDGET_BOOT_RETRY_SECONDS: "60" });
    await waitFor(() => booting.stderr().includes(`${late}: 404 not found; retrying`), {
      timeoutMs: 20_000,
      what: "the boot's first 404",
    });
    renameSync(aside, join(vm.bucketDir, late));
    expect(await booting.done).toBe(0);
    expect(booting.stderr()).not.toMatch(/FAILED/);
    await waitForHealth(vm.url, { bundle: bundleOf("slow"), status: "ready" });
    expect(await predicts()).toMatchObject({ slept: 0 });
    vm.metadata.setAttribute("budget-entrypoint", "");
    vm.metadata.setAttribute("budget-predictor-object", vm.objects.sentiment);
    await waitForHealth(vm.url, { bundle: bundleOf("sentiment"), status: "ready" });
  }, 60_000);

  it("a metadata update reaches the running VM through the watcher (Google runs the startup script at boot only: the watcher runs it)", async () => {
    const bootsBefore = (readFileSync(join(vm.home, "runtime.log"), "utf8").match(/budgetml-boot: switching/g) ?? [])
      .length;
    vm.metadata.setAttribute("budget-entrypoint", "Slow");
    vm.metadata.setAttribute("budget-predictor-object", vm.objects.slow);
    const health = await waitForHealth(vm.url, { bundle: bundleOf("slow"), status: "ready" });
    expect(health.predictor).toMatch(/Slow/);
    const log = readFileSync(join(vm.home, "runtime.log"), "utf8");
    expect((log.match(/budgetml-boot: switching/g) ?? []).length).toBeGreaterThan(bootsBefore);
  }, 60_000);

  it("a new runtime bundle named in the metadata reaches the running VM through the watcher, checked against its name", async () => {
    // Another runtime bundle: the same files plus one, so other bytes and another content name.
    const unpacked = mkdtempSync(join(vm.work, "runtime-next-"));
    await extract({ file: join(vm.bucketDir, vm.runtimeObject), cwd: unpacked });
    writeFileSync(join(unpacked, "NEXT"), "a later runtime\n");
    const repacked = join(vm.work, "runtime-next.tgz");
    await create({ gzip: true, file: repacked, cwd: unpacked, portable: true }, readdirSync(unpacked));
    const nextRuntime = bundleObjectName("runtime", createHash("sha256").update(readFileSync(repacked)).digest("hex"));
    renameSync(repacked, join(vm.bucketDir, nextRuntime));

    vm.metadata.setAttribute("budget-runtime-object", nextRuntime);
    const next = vm.runtimeId("slow", nextRuntime);
    await waitForHealth(vm.url, { bundle: next, status: "ready" });
    expect(existsSync(join(vm.home, "runtime", nextRuntime.replace(/\.tgz$/, ""), "NEXT"))).toBe(true);
    expect(await predicts()).toMatchObject({ slept: 0 });
    vm.metadata.setAttribute("budget-runtime-object", vm.runtimeObject);
    // Back again, whether this change lands before the restarted watcher first reads the metadata or after.
    await waitForHealth(vm.url, { bundle: bundleOf("slow"), status: "ready" });
  }, 60_000);

  it("on the advance preemption notice: drains (health says draining, new work refused, in-flight finishes) and signals the topic", async () => {
    const url = vm.url;
    await waitForHealth(url, { bundle: bundleOf("slow"), status: "ready" });
    const token = await login(url, "budget", PASSWORD);
    const inFlight = fetch(`${url}/predict_dict`, json(token, { payload: { ms: 2500 } }));
    // A new connection each time: the runtime's workers each count their own predictions.
    await waitFor(
      async () => /^budgetml_predictions_in_flight 1$/m.test(await getOnNewConnection(`${url}/metrics`, token)),
      { what: "the prediction in flight" },
    );
    vm.metadata.setPreempted(true);
    await waitForHealth(url, { status: "draining" }, 5000);
    expect((await fetch(`${url}/predict_dict`, json(token, { payload: { ms: 0 } }))).status).toBe(503);
    const finished = await inFlight;
    expect(finished.status).toBe(200);
    expect(await finished.json()).toEqual({ slept: 2500 });
    await waitFor(() => vm.pubsub.published.length > 0, { what: "the restart signal" });
    expect(vm.pubsub.published).toEqual([
      { topic: "projects/p/topics/restart", data: "preempted", attributes: { reason: "preempted" } },
    ]);
    vm.metadata.setPreempted(false);
    vm.metadata.setAttribute("budget-predictor-object", vm.objects.sentiment);
    vm.metadata.setAttribute("budget-entrypoint", "");
    await vm.boot();
    expect(await predicts()).toMatchObject({ label: "positive" });
  }, 60_000);

  it("a planned stop (not a preemption) drains but does not signal the restarter", async () => {
    const signalled = vm.pubsub.published.length;
    const pid = Number(readFileSync(join(vm.home, "runtime.pid"), "utf8"));
    expect(isRunning(pid)).toBe(true); // running before the stop
    const { stderr } = await vm.shutdown();
    expect(stderr).toMatch(/planned stop \(not a preemption\): the restart topic is not signalled/);
    expect(vm.pubsub.published).toHaveLength(signalled);
    expect(isRunning(pid)).toBe(false); // ended (its parent, init, may not have collected it yet)
  }, 60_000);
});

describe("a stop during a roll-out (a VM of its own)", () => {
  let vm: TestVm;
  beforeAll(async () => {
    vm = await startTestVm({ sentiment: { file: join(ROOT, "examples", "sentiment", "predictor.ts") } });
  }, 60_000);
  afterAll(() => vm.close());

  it("stops the roll-out first, so it cannot start a runtime behind the stop", async () => {
    const pidIn = (name: string) =>
      existsSync(join(vm.home, name)) ? Number(readFileSync(join(vm.home, name), "utf8")) : undefined;
    await vm.boot();
    await waitForHealth(vm.url, { status: "ready" });
    // Even before the watcher first reads the metadata: it compares it with what the boot rolled out.
    vm.metadata.setAttribute("budget-entrypoint", "Predictor"); // the same class, named: one change, one roll-out
    const rollout = await waitFor(
      () => {
        const pid = pidIn("rollout.pid");
        return isRunning(pid) ? pid : undefined;
      },
      { what: "the watcher's roll-out to run" },
    );
    await vm.shutdown();
    expect(isRunning(rollout)).toBe(false);
    expect(["runtime-a.pid", "runtime-b.pid"].map((file) => isRunning(pidIn(file)))).toEqual([false, false]);
  }, 60_000);
});

describe("boot scripts and Caddy", () => {
  it("keeps every shell script shellcheck-clean", async () => {
    const scripts = readdirSync(join(ROOT, "images", "vm"))
      .filter((f) => f.endsWith(".sh"))
      .map((f) => join(ROOT, "images", "vm", f));
    expect(scripts.length).toBeGreaterThanOrEqual(2);
    await expect(
      run("shellcheck", [...scripts, join(ROOT, "tests", "vm", "debianRoot.sh"), join(ROOT, ".ci", "run")]),
    ).resolves.toBeDefined();
  });

  it("renders a Caddyfile caddy accepts for a real domain", async () => {
    const dir = mkdtempSync(join(tmpdir(), "budgetml-caddy-"));
    writeFileSync(
      join(dir, "Caddyfile"),
      renderCaddyfile({ hostname: "api.example.com", upstreamPorts: [8081, 8082] }),
    );
    await expect(
      run("caddy", ["validate", "--config", join(dir, "Caddyfile"), "--adapter", "caddyfile"], {
        env: { ...process.env, HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir },
      }),
    ).resolves.toBeDefined();
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves the runtime through caddy over TLS (tls internal) on loopback", async () => {
    const dir = mkdtempSync(join(tmpdir(), "budgetml-caddy-"));
    const upstream = await freePort();
    const [httpPort, httpsPort] = [await freePort(), await freePort()];
    const runtime = spawn(
      process.execPath,
      [
        join(ROOT, "scripts", "runTs.cjs"),
        join(ROOT, "cli.ts"),
        "serve",
        "--predictor",
        join(ROOT, "examples", "sentiment", "predictor.ts"),
        "--port",
        String(upstream),
        "--workers",
        "1",
        "--host",
        "127.0.0.1",
      ],
      {
        env: { PATH: process.env.PATH, BUDGET_USERNAME: "budget", BUDGET_PWD: PASSWORD, BUDGET_TOKEN: "t".repeat(32) },
        stdio: "ignore",
      },
    );
    writeFileSync(
      join(dir, "Caddyfile"),
      renderCaddyfile({
        hostname: "localhost",
        upstreamPorts: [upstream],
        tlsInternal: true,
        httpPort,
        httpsPort,
        adminSocket: join(dir, "admin.sock"),
      }),
    );
    let caddy: ChildProcess | undefined;
    try {
      caddy = spawn("caddy", ["run", "--config", join(dir, "Caddyfile"), "--adapter", "caddyfile"], {
        env: { ...process.env, HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir },
        stdio: "ignore",
      });
      const curl = (...args: string[]) =>
        run("curl", ["-sS", "--insecure", "--resolve", `localhost:${httpsPort}:127.0.0.1`, ...args]);
      const body = await waitFor(
        () =>
          curl(`https://localhost:${httpsPort}/`).then(
            (r) => (r.stdout.includes('"ready"') ? r.stdout : undefined),
            () => undefined,
          ),
        { timeoutMs: 20_000, intervalMs: 200, what: "Caddy to serve the runtime over HTTPS" },
      );
      expect(JSON.parse(body)).toMatchObject({ status: "ready" });
      const token = JSON.parse(
        (await curl("-X", "POST", `https://localhost:${httpsPort}/token`, "-d", `username=budget&password=${PASSWORD}`))
          .stdout,
      ).access_token;
      const predicted = await curl(
        "-X",
        "POST",
        `https://localhost:${httpsPort}/predict_dict/`,
        "-H",
        `Authorization: Bearer ${token}`,
        "-H",
        "content-type: application/json",
        "-d",
        '{"payload":{"text":"awful"}}',
      );
      expect(JSON.parse(predicted.stdout)).toMatchObject({ label: "negative" });
      const redirect = await run("curl", [
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{redirect_url}",
        "--resolve",
        `localhost:${httpPort}:127.0.0.1`,
        `http://localhost:${httpPort}/docs`,
      ]);
      expect(redirect.stdout).toMatch(/^30[18] https:\/\/localhost/);
    } finally {
      caddy?.kill("SIGKILL");
      runtime.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
