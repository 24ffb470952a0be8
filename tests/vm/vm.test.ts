import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { execFile } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer, connect, type AddressInfo, type Server } from "node:net";
import { promisify } from "node:util";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent, fetch, type RequestInit } from "undici";
import { buildPredictorBundle } from "../../bundles/predictorBundle";
import { buildRuntimeBundle } from "../../bundles/runtimeBundle";
import type { LoopbackServer } from "../../local/standins/listen";
import { startMetadataServer, type MetadataServer } from "../../local/standins/metadataServer";
import { startPubSubServer, type PublishedMessage } from "../../local/standins/pubsubServer";
import { startSecretManagerServer } from "../../local/standins/secretManagerServer";
import { onlyToken } from "../../local/standins/accessPolicy";
import { startStorageServer } from "../../local/standins/storageServer";
import { frontIdOf, FRONT_HEADER } from "../../contracts/servedDeployment";
import { failuresBeyondReload, startLoad, type Credentials } from "../support/predictionLoad";
import { freePort } from "../support/freePort";
import { waitFor } from "../support/waitFor";
import { bootDebianVm, debianRoot, portTaken, whyNoVm, type DebianVm, type ExecResult } from "./debianVm";
import { startNodeMirror, type NodeMirror } from "./nodeMirror";

/** The token the metadata stand-in issues to the "VM"; the Secret Manager stand-in accepts only it. */
const VM_ACCESS_TOKEN = "vm-token-" + Math.random().toString(36).slice(2);

// The VM's boot for real: a Debian 12 root (as on a fresh GCE VM: no Node.js, no Caddy) boots
// with systemd as PID 1, and the VM's own startup.sh runs in it as root against the local cloud
// (the stand-ins `budgetml local` runs). Everything is checked from outside, through Caddy over
// HTTPS, as a client of the deployed model would see it.

const ROOT = join(__dirname, "..", "..");
const PYTHON_FIXTURES = join(ROOT, "tests", "python", "fixtures");
const run = promisify(execFile);

/** Builds tests/python/fixtures/tinyPackage into a wheel in `dir` with this machine's Debian Python; returns its path. */
async function buildTinyWheel(dir: string): Promise<string> {
  const source = join(dir, "source");
  mkdirSync(dir, { recursive: true });
  await run("cp", ["-r", join(PYTHON_FIXTURES, "tinyPackage"), source]); // setuptools writes beside the sources
  await run(
    "/usr/bin/python3",
    ["-m", "pip", "wheel", "--no-index", "--no-build-isolation", "--no-deps", "--wheel-dir", dir, source],
    { cwd: dir, env: { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: "1" } },
  );
  return join(dir, readdirSync(dir).find((name) => name.endsWith(".whl")) as string);
}
const CACHE = process.env.BUDGET_VM_CACHE ?? "/var/cache/budgetml";
const USERNAME = "budget";
// Both begin as tests/python/fixtures/snoopsOnRuntime.py recognises a secret.
const PASSWORD = `isolation-secret-${randomBytes(9).toString("base64url")}`;
const SIGNING_KEY = `isolation-secret-${randomBytes(24).toString("hex")}`;
/** The Secret Manager stand-in's versions, read live: a rotation adds one to each. */
const secretVersions = { "projects/p/secrets/pw": [PASSWORD], "projects/p/secrets/key": [SIGNING_KEY] };
/** The login clients use now (a rotation moves them to the next one). */
let login: Credentials = { username: USERNAME, password: PASSWORD, generation: 0 };
const CADDY_CA = "/var/lib/caddy/.local/share/caddy/pki/authorities/local/root.crt";
const PORTS = { http: 80, https: 443, runtime: 8080, caddyAdmin: 2019 };
/** Google's window between the preemption notice and the hard stop. */
const PREEMPTION_WINDOW_MS = 30_000;

// Skipped only where this machine cannot create namespaces (or is not root), and never quietly.
const skipReason = whyNoVm();
if (skipReason) {
  const bar = "!".repeat(100);
  process.stderr.write(
    `\n${bar}\n!! tests/vm SKIPPED: ${skipReason}\n!! The VM's systemd boot path was NOT tested on this machine.\n${bar}\n\n`,
  );
}

/** Figures printed at the end (and read by the report). */
const measured: Record<string, string> = {};

(skipReason ? describe.skip : describe)("the VM boot on Debian 12 with systemd as PID 1", () => {
  let work: string;
  let base: string;
  let vm: DebianVm | undefined;
  let metadata: MetadataServer;
  let storage: LoopbackServer;
  let secrets: LoopbackServer & { accessed: string[] };
  let pubsub: LoopbackServer & { published: PublishedMessage[] };
  let mirror: NodeMirror;
  let objects: { predictor: string; slow: string; snoop: string };
  /** Where the VM reaches the metadata stand-in: 127.0.0.2, so the runtime's unit can be denied it alone. */
  let metadataHost: string;
  let metadataForwarder: Server | undefined;
  /** A wheel of tests/python/fixtures/tinyPackage, which the snooping predictor requires. */
  let wheel: string;
  let https: Agent | undefined;
  const started: ChildProcess[] = [];

  beforeAll(async () => {
    const busy = Object.entries(PORTS).filter(([, port]) => portTaken(port));
    if (busy.length > 0)
      throw new Error(
        `the VM shares this machine's network and needs these ports free: ${busy.map(([name, port]) => `${port} (${name})`).join(", ")}`,
      );
    work = mkdtempSync(join(tmpdir(), "budgetml-vm-"));
    const bucketDir = join(work, "buckets", "model-bucket");
    mkdirSync(bucketDir, { recursive: true });
    // All settled before any failure is thrown, so nothing still writes into `work` after afterAll removed it.
    const settled = await Promise.allSettled([
      debianRoot(),
      buildRuntimeBundle(join(work, "build")),
      buildPredictorBundle({
        predictor: join(ROOT, "examples", "sentiment", "predictor.ts"),
        outDir: join(work, "build"),
      }),
      buildPredictorBundle({
        predictor: join(__dirname, "announcingSlowPredictor.cjs"),
        entrypoint: "Slow",
        outDir: join(work, "build"),
      }),
      startNodeMirror(CACHE),
      buildPredictorBundle({
        predictor: join(PYTHON_FIXTURES, "snoopsOnRuntime.py"),
        requirements: ["budget-tiny==1.0"],
        outDir: join(work, "build", "snoop"),
      }),
      buildTinyWheel(join(work, "wheels")),
    ] as const);
    if (settled[4].status === "fulfilled") mirror = settled[4].value; // closed by afterAll, whatever else failed
    for (const result of settled) if (result.status === "rejected") throw result.reason;
    const [root, runtime, predictor, slow, , snoop, builtWheel] = settled.map(
      (result) => (result as PromiseFulfilledResult<unknown>).value,
    ) as [
      string,
      Awaited<ReturnType<typeof buildRuntimeBundle>>,
      Awaited<ReturnType<typeof buildPredictorBundle>>,
      Awaited<ReturnType<typeof buildPredictorBundle>>,
      NodeMirror,
      Awaited<ReturnType<typeof buildPredictorBundle>>,
      string,
    ];
    base = root;
    wheel = builtWheel;
    for (const bundle of [runtime, predictor, slow, snoop])
      copyFileSync(bundle.file, join(bucketDir, bundle.objectName));
    objects = { predictor: predictor.objectName, slow: slow.objectName, snoop: snoop.objectName };
    storage = await startStorageServer(join(work, "buckets"));
    secrets = await startSecretManagerServer(secretVersions, onlyToken(VM_ACCESS_TOKEN));
    pubsub = await startPubSubServer();
    metadata = await startMetadataServer({
      accessToken: VM_ACCESS_TOKEN,
      attributes: {
        "budget-bucket": "model-bucket",
        "budget-runtime-object": runtime.objectName,
        "budget-predictor-object": predictor.objectName,
        "budget-entrypoint": "",
        "budget-username": USERNAME,
        "budget-password-secret": "projects/p/secrets/pw/versions/1",
        "budget-token-secret": "projects/p/secrets/key/versions/1",
        // No domain: the external IP is loopback (127.0.0.1), so the VM serves localhost with Caddy's own CA.
        "budget-topic": "projects/p/topics/restart",
        // As on a VM: a roll-out runs the instance's startup script again.
        "startup-script": readFileSync(join(ROOT, "images", "vm", "startup.sh"), "utf8"),
      },
    });
    // The metadata stand-in listens on 127.0.0.1, where the runtime is also reached; the VM gets it
    // on 127.0.0.2 instead, an address the runtime's unit can be denied as it is denied 169.254.169.254.
    metadataForwarder = createServer((client) => {
      const server = connect(Number(metadata.host.split(":")[1]), "127.0.0.1");
      client.pipe(server).pipe(client);
      for (const end of [client, server]) end.on("error", () => (client.destroy(), server.destroy()));
    });
    await new Promise<void>((resolve) => metadataForwarder?.listen(0, "127.0.0.2", resolve));
    metadataHost = `127.0.0.2:${(metadataForwarder.address() as AddressInfo).port}`;
  }, 15 * 60_000); // the first run on a machine builds the Debian root (about 2 minutes)

  afterAll(async () => {
    for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    if (vm) await vm.powerOff();
    await https?.close();
    await Promise.all([metadata?.close(), storage?.close(), secrets?.close(), pubsub?.close(), mirror?.close()]);
    await new Promise((resolve) => (metadataForwarder ? metadataForwarder.close(resolve) : resolve(undefined)));
    if (work) rmSync(work, { recursive: true, force: true });
    process.stderr.write(
      `\nVM figures:\n${Object.entries(measured)
        .map(([k, v]) => `  ${k}: ${v}`)
        .join("\n")}\n`,
    );
  }, 120_000);

  /** The environment GCE's script runner gives startup.sh, plus the endpoints of the local cloud. */
  function cloudEnv(overrides: Record<string, string> = {}): Record<string, string> {
    return {
      GCE_METADATA_HOST: metadataHost,
      STORAGE_EMULATOR_HOST: storage.url,
      SECRET_MANAGER_ENDPOINT: secrets.url,
      PUBSUB_ENDPOINT: pubsub.url,
      BUDGET_NODE_VERSION: mirror.major,
      BUDGET_NODE_DIST: mirror.url,
      ...overrides,
    };
  }

  /** Runs one of the VM's scripts as GCE does: fetched afresh into a temporary file, run by bash as root. */
  async function runScript(script: "startup" | "shutdown", env = cloudEnv()): Promise<ExecResult & { ms: number }> {
    const live = vm as DebianVm;
    copyFileSync(join(ROOT, "images", "vm", `${script}.sh`), join(live.fs, "tmp", `budgetml-${script}.sh`));
    const before = Date.now();
    const result = await live.exec(["bash", `/tmp/budgetml-${script}.sh`], { env, timeoutMs: 10 * 60_000 });
    return { ...result, ms: Date.now() - before };
  }

  /** Requests through Caddy over HTTPS, trusting only the VM's own Caddy CA. */
  function request(path: string, init: RequestInit = {}) {
    https ??= new Agent({ connect: { ca: readFileSync(join((vm as DebianVm).fs, CADDY_CA)) } });
    return fetch(`https://localhost${path}`, { ...init, dispatcher: https });
  }

  async function token(password = login.password) {
    return request("/token", {
      method: "POST",
      body: new URLSearchParams({
        grant_type: "",
        username: USERNAME,
        password,
        scope: "",
        client_id: "",
        client_secret: "",
      }),
    });
  }

  async function predictDict(bearer: string, payload: unknown, path = "/predict_dict") {
    return request(path, {
      method: "POST",
      headers: { authorization: `Bearer ${bearer}`, "content-type": "application/json" },
      body: JSON.stringify({ payload }),
    });
  }

  /** Waits until the runtime answers `ready` through Caddy (a runtime restarting answers 502/503). */
  async function servingOverHttps(deadlineMs = 120_000): Promise<void> {
    await waitFor(() => existsSync(join((vm as DebianVm).fs, CADDY_CA)), {
      timeoutMs: deadlineMs,
      intervalMs: 100,
      what: "the Caddy CA",
    });
    await waitFor(
      () =>
        request("/").then(async (r) => r.status === 200 && ((await r.json()) as { status: string }).status === "ready"),
      { timeoutMs: deadlineMs, intervalMs: 100, what: "the runtime to serve through Caddy" },
    );
  }

  /** The runtime's units: one per blue/green slot. */
  const RUNTIME_UNITS = ["budgetml-a.service", "budgetml-b.service"];

  /** The runtime unit(s) running now. */
  async function runningRuntimeUnits(): Promise<string[]> {
    const { stdout } = await (vm as DebianVm).exec([
      "systemctl",
      "list-units",
      ...RUNTIME_UNITS,
      "--state=running",
      "--plain",
      "--no-legend",
    ]);
    return stdout
      .split("\n")
      .map((line) => line.split(/\s+/)[0])
      .filter(Boolean);
  }

  /** Whether no runtime slot is running. */
  async function runtimeStopped(): Promise<boolean> {
    const { stdout } = await (vm as DebianVm).exec(["systemctl", "is-active", ...RUNTIME_UNITS]);
    return stdout
      .trim()
      .split("\n")
      .every((state) => state === "inactive");
  }

  /** The runtime's journal (every slot), as plain lines. */
  async function runtimeJournal(lines = 1000): Promise<string> {
    return (
      await (vm as DebianVm).exec([
        "journalctl",
        ...RUNTIME_UNITS.flatMap((unit) => ["-u", unit]),
        "-o",
        "cat",
        "--no-pager",
        "-n",
        String(lines),
      ])
    ).stdout;
  }

  async function unitState(unit: string) {
    return (await (vm as DebianVm).exec(["systemctl", "is-active", unit])).stdout.trim();
  }

  it(
    "first boot: refuses a Node.js tarball that does not match SHASUMS256, then installs Node.js and Caddy, waiting for apt's locks",
    async () => {
      const disk = join(work, "disk");
      const powerOn = Date.now();
      vm = await bootDebianVm(base, disk);
      measured["system up (first boot)"] = `${vm.bootMs} ms`;
      expect((await vm.exec(["sh", "-c", "command -v node caddy xz || true"])).stdout).toBe(""); // a fresh, minimal disk

      const tampered = await runScript("startup", cloudEnv({ BUDGET_NODE_DIST: `${mirror.url}/tampered` }));
      expect(tampered.code).toBe(1);
      expect(tampered.stderr).toMatch(
        new RegExp(
          `FAILED: node-${mirror.version}-linux-x64\\.tar\\.xz does not match its SHA-256 in SHASUMS256\\.txt`,
        ),
      );
      expect(existsSync(join(vm.fs, "usr/local/bin/node"))).toBe(false);

      // The image's own package jobs hold apt's locks at first boot (unattended-upgrades, the guest
      // agent): one holder for the package lists, one for dpkg, released one after the other.
      copyFileSync(join(__dirname, "holdLocks.pl"), join(vm.fs, "tmp", "holdLocks.pl"));
      const holdLock = async (...files: string[]) => {
        const holder = vm!.start(["perl", "/tmp/holdLocks.pl", ...files]);
        started.push(holder);
        let out = "";
        holder.stdout?.on("data", (chunk) => (out += chunk));
        holder.stderr?.on("data", (chunk) => (out += chunk));
        await waitFor(() => out.includes("locked") || holder.exitCode !== null, {
          timeoutMs: 30_000,
          what: `a holder of ${files.join(", ")}`,
        });
        if (holder.exitCode !== null) throw new Error(`lock holder exited ${holder.exitCode}: ${out}`);
        return () => new Promise<void>((resolve) => (holder.once("exit", () => resolve()), holder.stdin?.end()));
      };
      // And a previous boot was stopped while dpkg ran: its journal is still there, so apt refuses
      // to install anything until `dpkg --configure -a` has run (apt-pkg/deb/debsystem.cc).
      const journal = await vm.exec(["sh", "-c", "dpkg-query -s procps > /var/lib/dpkg/updates/0000"]);
      expect(journal.code).toBe(0);
      const releaseLists = await holdLock("/var/lib/apt/lists/lock");
      const releaseDpkg = await holdLock("/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock");

      const startedAt = Date.now();
      const copied = join(vm.fs, "tmp", "budgetml-startup.sh");
      copyFileSync(join(ROOT, "images", "vm", "startup.sh"), copied);
      const boot = vm.start(["bash", "/tmp/budgetml-startup.sh"], cloudEnv());
      started.push(boot);
      let stderr = "";
      boot.stderr?.on("data", (chunk) => (stderr += chunk));
      const bootExit = new Promise<number | null>((resolve) => boot.once("exit", (code) => resolve(code)));
      await waitFor(() => stderr.includes("waiting for the apt lock") || boot.exitCode !== null, {
        timeoutMs: 5 * 60_000,
        what: "startup.sh to wait for the apt lists lock",
      });
      if (boot.exitCode !== null)
        throw new Error(`startup.sh exited ${boot.exitCode} before waiting for the apt lock:\n${stderr}`);
      await releaseLists();
      // apt-get install now runs, and must wait for the dpkg lock rather than fail.
      await waitFor(
        async () => boot.exitCode !== null || (await vm!.exec(["pgrep", "-f", "apt-get .*install"])).code === 0,
        { timeoutMs: 5 * 60_000, intervalMs: 250, what: "apt-get install to wait for the dpkg lock" },
      );
      if (boot.exitCode !== null)
        throw new Error(`startup.sh exited ${boot.exitCode} instead of waiting for the dpkg lock:\n${stderr}`);
      await releaseDpkg();
      const code = await bootExit;
      if (code !== 0) throw new Error(`startup.sh exited ${code}:\n${stderr}`);
      measured["startup.sh (first boot: Node.js + apt caddy + bundles)"] = `${Date.now() - startedAt} ms`;
      expect(stderr).toMatch(
        new RegExp(`installing Node.js node-${mirror.version} from ${mirror.url}/latest-v${mirror.major}\\.x`),
      );
      expect(stderr).toMatch(/installing xz-utils/); // tar -J needs it
      expect(stderr).toMatch(/a previous boot was interrupted while installing packages: dpkg --configure -a/);
      expect(stderr).toMatch(/installing caddy/);
      expect(stderr).toMatch(/fetching runtime/);
      expect((await vm.exec(["ls", "-A", "/var/lib/dpkg/updates"])).stdout.trim()).toBe("");
      await servingOverHttps();
      measured["first boot, power-on to serving over HTTPS"] = `${Date.now() - powerOn} ms`;
      expect((await vm.exec(["node", "--version"])).stdout.trim()).toBe(mirror.version);
      expect(mirror.requested).toEqual(
        expect.arrayContaining([
          `/latest-v${mirror.major}.x/SHASUMS256.txt`,
          `/latest-v${mirror.major}.x/node-${mirror.version}-linux-x64.tar.xz`,
        ]),
      );
    },
    15 * 60_000,
  );

  it("serves the seed's client flow over HTTPS, and refuses bad input with the seed's statuses", async () => {
    const login = await token();
    expect(login.status).toBe(200);
    const { access_token, token_type } = (await login.json()) as { access_token: string; token_type: string };
    expect(token_type).toBe("bearer");
    for (const path of ["/predict_dict", "/predict_dict/"]) {
      const answer = await predictDict(access_token, { text: "I love this" }, path);
      expect({ path, status: answer.status }).toEqual({ path, status: 200 });
      expect(await answer.json()).toMatchObject({ label: "positive" });
    }
    expect((await token("wrong password")).status).toBe(401);
    const anonymous = await predictDict("", { text: "x" });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect((await predictDict("not-a-token", { text: "x" })).status).toBe(401);
    const malformed = await request("/predict_dict", {
      method: "POST",
      headers: { authorization: `Bearer ${access_token}`, "content-type": "application/json" },
      body: "{not json",
    });
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ error: expect.stringMatching(/^Malformed JSON/) });
    // Plain HTTP is redirected to HTTPS.
    const plain = await fetch("http://localhost/docs", { redirect: "manual" });
    expect([301, 308]).toContain(plain.status);
    expect(plain.headers.get("location")).toBe("https://localhost/docs");
    expect((await request("/")).status).toBe(200); // still serving
  }, 120_000);

  it("runs the runtime as its unprivileged user, logs with Cloud Logging severities, and never logs a secret", async () => {
    const live = vm as DebianVm;
    const [serving, ...others] = await runningRuntimeUnits();
    expect(others).toEqual([]);
    const main = (await live.exec(["systemctl", "show", "-p", "MainPID", "--value", serving])).stdout.trim();
    expect(Number(main)).toBeGreaterThan(0);
    expect((await live.exec(["ps", "-o", "user=", "-p", main])).stdout.trim()).toBe("budgetml");
    expect((await live.exec(["stat", "-c", "%a %U", "/etc/budgetml/runtime-a.env"])).stdout.trim()).toBe("600 root");
    const lines = (await runtimeJournal()).split("\n").filter((line) => line.startsWith("{"));
    expect(lines.length).toBeGreaterThan(0);
    const severities = new Set(lines.map((line) => (JSON.parse(line) as { severity?: string }).severity));
    expect(
      [...severities].every((s) =>
        ["DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL", "ALERT", "EMERGENCY"].includes(String(s)),
      ),
    ).toBe(true);
    expect(lines.some((line) => /predictor loaded/.test(line))).toBe(true);
    const everything = (await live.exec(["journalctl", "-b", "-o", "cat", "--no-pager"])).stdout;
    expect(everything).toContain("budgetml");
    for (const secret of [PASSWORD, SIGNING_KEY]) expect(everything).not.toContain(secret);
    // The credentials: in a root-only file systemd hands the runtime as its standard input, in no
    // process's environment — neither the runtime's primary nor its cluster workers'.
    expect((await live.exec(["stat", "-c", "%a %U", "/etc/budgetml/runtime-a.credentials"])).stdout.trim()).toBe(
      "600 root",
    );
    expect(readFileSync(join(live.fs, "etc", "budgetml", "runtime-a.env"), "utf8")).not.toMatch(/BUDGET_(PWD|TOKEN)=/);
    const pids = (await live.exec(["pgrep", "-u", "budgetml"])).stdout.trim().split("\n");
    expect(pids.length).toBeGreaterThanOrEqual(2); // the primary and its workers
    for (const pid of pids) {
      const environ = readFileSync(join(`/proc/${live.pid}/root/proc`, pid, "environ"), "utf8");
      expect({ pid, secrets: [PASSWORD, SIGNING_KEY].filter((secret) => environ.includes(secret)) }).toEqual({
        pid,
        secrets: [],
      });
    }
  }, 120_000);

  it("sandboxes every unit it runs (systemd-analyze security), and denies the runtime the metadata server", async () => {
    const live = vm as DebianVm;
    const [serving] = await runningRuntimeUnits();
    // The exposure systemd-analyze gives each unit (0 = fully sandboxed, 10 = not at all); each
    // was 9.0–9.6 with only User= and NoNewPrivileges= or nothing. Measured: 1.3, 1.8, 2.7.
    const ceilings: Record<string, number> = {
      [serving]: 1.5,
      "budgetml-preemption.service": 2.0,
      "budgetml-rollout.service": 3.0,
    };
    for (const [unit, ceiling] of Object.entries(ceilings)) {
      const { stdout, stderr } = await live.exec(["systemd-analyze", "security", "--no-pager", unit]);
      const exposure = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(stdout)?.[1] ?? `NaN ${stderr}`);
      measured[`systemd-analyze security ${unit}`] = `${exposure}`;
      expect({ unit, exposure, withinCeiling: exposure <= ceiling }).toEqual({ unit, exposure, withinCeiling: true });
    }
    const denied = (await live.exec(["systemctl", "show", "-p", "IPAddressDeny", "--value", serving])).stdout;
    expect(denied).toMatch(/169\.254\.169\.254/);
    expect(denied).toMatch(/127\.0\.0\.2/); // the stand-in's address, as the real one's
  }, 120_000);

  it(
    "cached second boot: nothing downloaded again, serving over HTTPS",
    async () => {
      measured["power-off"] = `${await (vm as DebianVm).powerOff()} ms`;
      https = undefined;
      const requestsBefore = mirror.requested.length;
      const powerOn = Date.now();
      vm = await bootDebianVm(base, join(work, "disk"));
      measured["system up (second boot)"] = `${vm.bootMs} ms`;
      const second = await runScript("startup");
      if (second.code !== 0) throw new Error(`startup.sh exited ${second.code}:\n${second.stderr}`);
      expect(second.stderr).toMatch(/runtime .* already installed/);
      expect(second.stderr).toMatch(/predictor .* already installed/);
      expect(second.stderr).not.toMatch(/installing|fetching/);
      measured["startup.sh (cached second boot)"] = `${second.ms} ms`;
      await servingOverHttps();
      measured["cached second boot, power-on to serving over HTTPS"] = `${Date.now() - powerOn} ms`;
      expect(mirror.requested.length).toBe(requestsBefore);
      const { access_token } = (await (await token()).json()) as { access_token: string };
      expect(await (await predictDict(access_token, { text: "awful" })).json()).toMatchObject({ label: "negative" });
    },
    10 * 60_000,
  );

  it(
    "switches to new bundles named in the instance metadata without a failed request",
    async () => {
      const { access_token } = (await (await token()).json()) as { access_token: string };
      const failures: string[] = [];
      let answered = 0;
      let switched = false;
      let stop = false;
      // Clients keep predicting through Caddy, one request after another, for the whole switch.
      const clients = (async () => {
        while (!stop) {
          const answer = await predictDict(access_token, { text: "I love this", ms: 0, id: "switch" }).then(
            async (r) => ({ status: r.status, body: await r.text() }),
            (error: Error) => ({ status: 0, body: error.message }),
          );
          answered += 1;
          if (answer.status !== 200) failures.push(`${answer.status} ${answer.body}`);
          else if (answer.body.includes('"slept"')) switched = true;
        }
      })();
      const [before] = await runningRuntimeUnits();
      const changed = Date.now();
      metadata.setAttribute("budget-predictor-object", objects.slow); // as `pulumi up` with a new predictor does
      try {
        await waitFor(() => switched, {
          timeoutMs: 5 * 60_000,
          intervalMs: 100,
          what: "the new predictor to answer through Caddy",
        });
        measured["bundle switch, metadata change to the new predictor answering"] =
          `${Date.now() - changed} ms, ${answered} requests, ${failures.length} failed`;
        await waitFor(
          async () => (await runningRuntimeUnits()).join() !== before && (await runningRuntimeUnits()).length === 1,
          { timeoutMs: PREEMPTION_WINDOW_MS, intervalMs: 200, what: "the old slot to drain and stop" },
        );
      } finally {
        stop = true;
        await clients;
      }
      expect(failures).toEqual([]);
      expect(answered).toBeGreaterThan(10);
    },
    10 * 60_000,
  );

  it(
    "a new login and a new certificate contact reach the running VM: the login rolled out to the other slot (tokens issued before refused), Caddy reloaded, not restarted",
    async () => {
      const live = vm as DebianVm;
      const health = async () => {
        const answer = await request("/");
        return {
          bundle: ((await answer.json()) as { bundle: string }).bundle,
          front: answer.headers.get(FRONT_HEADER),
        };
      };
      const caddyPid = async () =>
        (await live.exec(["systemctl", "show", "-p", "MainPID", "--value", "caddy"])).stdout.trim();
      const load = startLoad("https://localhost", () => login, 2, {
        payload: { text: "I love this", ms: 0 },
        request: (url, init) =>
          request(url.replace("https://localhost", ""), init as RequestInit) as unknown as Promise<Response>,
      });
      await waitFor(() => load.predictions().length >= 10, {
        timeoutMs: 60_000,
        what: "predictions before the change",
      });
      const oldToken = ((await (await token()).json()) as { access_token: string }).access_token;
      const [before, pidBefore] = [await health(), await caddyPid()];
      const rotation = {
        password: `isolation-secret-${randomBytes(9).toString("base64url")}`,
        key: `isolation-secret-${randomBytes(24).toString("hex")}`,
      };
      secretVersions["projects/p/secrets/pw"].push(rotation.password);
      secretVersions["projects/p/secrets/key"].push(rotation.key);
      const changed = Date.now();
      // As `pulumi up` with a new password and an acmeEmail does: one setMetadata, the new versions named.
      metadata.replaceAttributes({
        ...metadata.attributes,
        "budget-password-secret": "projects/p/secrets/pw/versions/2",
        "budget-token-secret": "projects/p/secrets/key/versions/2",
        "budget-acme-email": "ops@example.test",
      });
      await waitFor(async () => (await health()).bundle !== before.bundle, {
        timeoutMs: 5 * 60_000,
        intervalMs: 50,
        what: "the new login to be served",
      });
      login = { username: USERNAME, password: rotation.password, generation: 1 };
      measured["new login, metadata change to served"] = `${Date.now() - changed} ms`;
      await waitFor(
        async () => (await health()).front === frontIdOf({ hostname: "localhost", acmeEmail: "ops@example.test" }),
        {
          timeoutMs: 60_000,
          what: "Caddy to serve the new contact",
        },
      );
      const done = Date.now();
      const servedBefore = load.predictions().length;
      await waitFor(() => load.predictions().length >= servedBefore + 10, { what: "predictions with the new login" });
      const answers = await load.stop();
      // Refused, and only that: what was issued under the previous login.
      const unexpected = failuresBeyondReload(answers, changed, done, 2).filter(
        (a) => !(a.status === 401 && a.generation === 0),
      );
      expect(unexpected).toEqual([]);
      expect(answers.some((a) => a.kind === "predict" && a.status === 200 && a.generation === 1)).toBe(true);
      expect((await predictDict(oldToken, { text: "x" })).status).toBe(401);
      expect((await token(PASSWORD)).status).toBe(401);
      expect(await caddyPid()).toBe(pidBefore); // reloaded in place
      expect(readFileSync(join(live.fs, "etc", "caddy", "Caddyfile"), "utf8")).toMatch(/\temail ops@example\.test/);
      expect((await runningRuntimeUnits()).length).toBe(1);
    },
    10 * 60_000,
  );

  it(
    "a Python model installed by a roll-out finds the credentials nowhere and cannot reach the metadata server",
    async () => {
      const live = vm as DebianVm;
      // The image's pip finds the predictor's one requirement in a local folder (no index here).
      mkdirSync(join(live.fs, "srv", "wheels"), { recursive: true });
      copyFileSync(wheel, join(live.fs, "srv", "wheels", wheel.split("/").pop() as string));
      chmodSync(join(live.fs, "srv", "wheels"), 0o755);
      writeFileSync(join(live.fs, "etc", "pip.conf"), "[global]\nno-index = true\nfind-links = /srv/wheels\n");
      const changed = Date.now();
      metadata.setAttribute("budget-entrypoint", "");
      metadata.setAttribute("budget-predictor-object", objects.snoop); // the watcher rolls it out
      try {
        await waitFor(
          () =>
            request("/").then(
              async (r) =>
                ((await r.json()) as { predictor?: string; status: string }).predictor?.includes(".py") && r.ok,
              () => false,
            ),
          {
            timeoutMs: 8 * 60_000,
            intervalMs: 500,
            what: "the Python predictor to serve (python3-venv and its requirement installed)",
          },
        );
        measured["roll-out of a Python predictor with a requirement (python3-venv from apt)"] =
          `${Date.now() - changed} ms`;
        // Installed by the install account, not the runtime's, and out of the runtime's reach.
        const venv = `/opt/budgetml/predictors/${objects.snoop.replace(".tgz", "")}/venv`;
        expect((await live.exec(["stat", "-c", "%U %a", `${venv}/pyvenv.cfg`])).stdout.trim()).toBe(
          "budgetml-install 644",
        );
        const { access_token } = (await (await token()).json()) as { access_token: string };
        const answer = (await (await predictDict(access_token, { metadata: metadataHost })).json()) as {
          found: string[];
          parent: Record<string, string>;
          uid: number;
          metadata: string;
        };
        expect(answer.uid).not.toBe(0);
        // The login served now: the one a rotation (the test before) put in place.
        const served = { password: login.password, key: secretVersions["projects/p/secrets/key"].at(-1) as string };
        expect({ password: answer.found.includes(served.password), key: answer.found.includes(served.key) }).toEqual({
          password: false,
          key: false,
        });
        // Refused, or not even visible: with ProtectProc=invisible, /proc shows only the processes
        // one may ptrace, and Landlock leaves the Python host none outside its own domain.
        for (const [what, outcome] of Object.entries(answer.parent))
          expect({ what, outcome }).toEqual({
            what,
            outcome: expect.stringMatching(/^(Permission denied|No such file or directory)$/),
          });
        expect(Object.keys(answer.parent).sort()).toEqual(["environ", "maps", "mem"]);
        expect(answer.metadata).not.toBe("got a token");
        expect(answer.metadata).toMatch(/timed out|Operation not permitted|refused/i);
        expect(await runtimeJournal()).not.toMatch(/not kept from other processes/);
        // The boot itself (root) still reads the metadata server at the same address.
        expect(
          (
            await live.exec([
              "curl",
              "-sS",
              "-m",
              "5",
              "-H",
              "Metadata-Flavor: Google",
              `http://${metadataHost}/computeMetadata/v1/instance/service-accounts/default/token`,
            ])
          ).stdout,
        ).toContain(VM_ACCESS_TOKEN);
      } finally {
        metadata.setAttribute("budget-predictor-object", objects.slow);
      }
    },
    10 * 60_000,
  );

  /** Boots the slow predictor (its prediction takes `payload.ms`) and starts one prediction through Caddy. */
  async function slowPredictionInFlight(ms: number) {
    metadata.setAttribute("budget-predictor-object", objects.slow);
    metadata.setAttribute("budget-entrypoint", "Slow");
    const boot = await runScript("startup");
    expect(boot.code).toBe(0);
    await servingOverHttps();
    const { access_token } = (await (await token()).json()) as { access_token: string };
    const id = randomBytes(6).toString("hex");
    let early: string | undefined;
    const inFlight = predictDict(access_token, { ms, id }).then(async (answer) => {
      early ??= `answered ${answer.status} ${await answer.clone().text()}`;
      return answer;
    });
    await waitFor(async () => early || (await runtimeJournal(200)).includes(`prediction ${id} started`), {
      timeoutMs: 60_000,
      intervalMs: 100,
      what: "the prediction to start in the runtime",
    });
    if (early) throw new Error(`the prediction ended before it was seen starting: ${early}`);
    return { inFlight }; // still running: the caller awaits it
  }

  it(
    "shutdown.sh drains an in-flight prediction inside the 30 s preemption window and signals the restart topic",
    async () => {
      // Long enough that it is still running, seconds from its end, when the shutdown script starts.
      const { inFlight } = await slowPredictionInFlight(8000);
      let answeredAt = 0;
      const answered = inFlight.then((answer) => ((answeredAt = Date.now()), answer));
      const signalled = pubsub.published.length;
      // A preemption: only then does the shutdown script signal the restarter (a planned stop does not).
      metadata.setPreempted(true);
      const shutdown = await runScript("shutdown").finally(() => metadata.setPreempted(false));
      const shutdownEnded = Date.now();
      expect({
        code: shutdown.code,
        output: shutdown.code === 0 ? "" : `${shutdown.stdout}${shutdown.stderr}`,
      }).toEqual({ code: 0, output: "" });
      measured["shutdown.sh drain (in-flight 8 s prediction)"] =
        `${shutdown.ms} ms of the ${PREEMPTION_WINDOW_MS / 1000} s window`;
      expect(shutdown.ms).toBeLessThan(PREEMPTION_WINDOW_MS);
      const answer = await answered;
      expect(answer.status).toBe(200);
      expect(await answer.json()).toEqual({ slept: 8000 });
      expect(answeredAt).toBeLessThanOrEqual(shutdownEnded); // the runtime stopped only after answering
      expect(await runtimeStopped()).toBe(true);
      // The preemption watcher sees the same notice and may signal too: the restarter's request ids make that harmless.
      expect(pubsub.published.slice(signalled)).toEqual(
        expect.arrayContaining([
          { topic: "projects/p/topics/restart", data: "preempted", attributes: { reason: "preempted" } },
        ]),
      );
    },
    5 * 60_000,
  );

  it(
    "the preemption watcher reacts to instance/preempted: drains, stops the runtime and signals the restart topic",
    async () => {
      const { inFlight } = await slowPredictionInFlight(3000);
      expect(await unitState("budgetml-preemption.service")).toBe("active");
      const signalled = pubsub.published.length;
      const noticed = Date.now();
      metadata.setPreempted(true);
      try {
        await waitFor(() => pubsub.published.length > signalled, {
          timeoutMs: PREEMPTION_WINDOW_MS,
          what: "the restart topic signal",
        }).catch(async (error: Error) => {
          const watcher = await (vm as DebianVm).exec([
            "journalctl",
            "-u",
            "budgetml-preemption.service",
            "-o",
            "short-precise",
            "--no-pager",
            "-n",
            "40",
          ]);
          throw new Error(`${error.message}\nthe watcher's journal:\n${watcher.stdout}`);
        });
        const answer = await inFlight;
        expect(answer.status).toBe(200);
        await waitFor(runtimeStopped, {
          timeoutMs: PREEMPTION_WINDOW_MS,
          intervalMs: 200,
          what: "the runtime to stop",
        });
        measured["preemption notice to runtime stopped (in-flight 3 s prediction)"] = `${Date.now() - noticed} ms`;
        expect(Date.now() - noticed).toBeLessThan(PREEMPTION_WINDOW_MS);
        expect(pubsub.published[signalled]).toEqual({
          topic: "projects/p/topics/restart",
          data: "preempted",
          attributes: { reason: "preempted" },
        });
      } finally {
        metadata.setPreempted(false);
      }
    },
    5 * 60_000,
  );

  it(
    "a stop during a roll-out: shutdown.sh stops the roll-out first, then the runtime, and exits 0",
    async () => {
      // One metadata change at a time, each a complete deployment: the watcher rolls each one out.
      const rollingOut = async () => (await unitState("budgetml-rollout.service")) === "activating";
      metadata.setAttribute("budget-entrypoint", ""); // the slow bundle serves with its default export too
      await servingOverHttps();
      await waitFor(async () => !(await rollingOut()), {
        timeoutMs: 60_000,
        intervalMs: 100,
        what: "the first roll-out to finish",
      });
      metadata.setAttribute("budget-predictor-object", objects.predictor);
      await waitFor(rollingOut, { timeoutMs: 60_000, intervalMs: 50, what: "the roll-out to be under way" });
      const shutdown = await runScript("shutdown");
      expect({
        code: shutdown.code,
        output: shutdown.code === 0 ? "" : `${shutdown.stdout}${shutdown.stderr}`,
      }).toEqual({ code: 0, output: "" });
      expect(await unitState("budgetml-rollout.service")).not.toBe("activating");
      expect(await runtimeStopped()).toBe(true);
      expect(await runningRuntimeUnits()).toEqual([]);
    },
    5 * 60_000,
  );

  it("powers off", async () => {
    measured["final power-off"] = `${await (vm as DebianVm).powerOff()} ms`;
    expect(existsSync(`/proc/${(vm as DebianVm).pid}`)).toBe(false);
  }, 120_000);

  it(
    "the README's recipe: `budgetml local --json`, then startup.sh as root in a fresh Debian root with the endpoints it printed, serves https://localhost with Caddy's internal CA",
    async () => {
      const port = await freePort();
      const local = spawn(
        process.execPath,
        [
          join(ROOT, "scripts", "runTs.cjs"),
          join(ROOT, "cli.ts"),
          "local",
          join(ROOT, "examples", "sentiment", "predictor.ts"),
          "--port",
          String(port),
          "--json",
        ],
        { cwd: ROOT, env: { PATH: process.env.PATH }, stdio: ["ignore", "pipe", "pipe"] },
      );
      started.push(local);
      let out = "";
      let err = "";
      local.stdout?.on("data", (chunk) => (out += chunk));
      local.stderr?.on("data", (chunk) => (err += chunk));
      const exited = new Promise((resolve) => local.once("exit", resolve));
      try {
        await waitFor(
          () => {
            if (local.exitCode !== null) throw new Error(`budgetml local exited ${local.exitCode}: ${err}`);
            return out.split("\n").filter(Boolean).length >= 2;
          },
          { timeoutMs: 5 * 60_000, intervalMs: 200, what: "budgetml local's two JSON lines" },
        );
        const [model, { endpoints }] = out
          .split("\n")
          .filter(Boolean)
          .map((line) => JSON.parse(line) as unknown) as [
          { username: string; password: string },
          { endpoints: Record<string, string> },
        ];
        https = undefined;
        vm = await bootDebianVm(base, join(work, "disk-readme"));
        copyFileSync(join(ROOT, "images", "vm", "startup.sh"), join(vm.fs, "tmp", "startup.sh"));
        // A real machine downloads Node.js from nodejs.org; this one from the loopback mirror.
        const boot = await vm.exec(["bash", "/tmp/startup.sh"], {
          env: { ...endpoints, BUDGET_NODE_VERSION: mirror.major, BUDGET_NODE_DIST: mirror.url },
          timeoutMs: 10 * 60_000,
        });
        if (boot.code !== 0) throw new Error(`startup.sh exited ${boot.code}:\n${boot.stderr}`);
        expect(boot.stderr).toMatch(/runtime started for https:\/\/localhost /);
        await servingOverHttps(); // through Caddy over HTTPS, trusting only the VM's own Caddy CA
        const form = new URLSearchParams({ username: model.username, password: model.password });
        const answer = await request("/token", { method: "POST", body: form });
        expect(answer.status).toBe(200);
        const { access_token } = (await answer.json()) as { access_token: string };
        expect(await (await predictDict(access_token, { text: "I love this" })).json()).toMatchObject({
          label: "positive",
        });
        const caddyLog = (await vm.exec(["journalctl", "-u", "caddy", "-o", "cat", "--no-pager"])).stdout;
        expect(caddyLog).not.toMatch(/acme|sslip\.io/i); // no public certificate was asked for
      } finally {
        local.kill("SIGINT");
        await exited;
        if (vm) measured["README recipe VM power-off"] = `${await vm.powerOff()} ms`;
      }
    },
    20 * 60_000,
  );
});
