import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import { gcloudCallsFrom } from "../support/gcloudCalls";
import { BUILT_CLI, deploymentRoot, described, processesUnder } from "../support/localDeployment";
import { json, login } from "../support/runtimeServer";
import { waitFor } from "../support/waitFor";

const ROOT = join(__dirname, "..", "..");

/** `budgetml local ARGS`, the CLI as the package ships it, its output collected as it comes. */
function budgetmlLocal(args: string[]) {
  const child: ChildProcess = spawn(process.execPath, [BUILT_CLI, "local", ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const run = {
    child,
    stdout: "",
    stderr: "",
    // "close", not "exit": the process's last output may still be on its way when it has exited.
    exited: new Promise<number | null>((resolve) => child.on("close", resolve)),
  };
  child.stdout!.on("data", (d) => (run.stdout += d));
  child.stderr!.on("data", (d) => (run.stderr += d));
  let closed = false;
  void run.exited.then(() => (closed = true));
  /** Waits until `pattern` shows in stdout/stderr; fails at once if the command ends without it. */
  const waitForOutput = async (stream: "stdout" | "stderr", pattern: RegExp, timeoutMs = 120_000) => {
    const found = await waitFor(() => pattern.exec(run[stream]) ?? (closed ? "ended" : null), {
      timeoutMs,
      intervalMs: 100,
      what: `${pattern} in budgetml local's ${stream}`,
    });
    if (found === "ended")
      throw new Error(`budgetml local exited ${child.exitCode ?? child.signalCode} before ${pattern}: ${run.stderr}`);
    return found;
  };
  return {
    ...run,
    get stdout() {
      return run.stdout;
    },
    get stderr() {
      return run.stderr;
    },
    waitForOutput,
  };
}

const freePortBase = () => 20000 + Math.floor(Math.random() * 20000);

// The whole local deployment as a user runs it: `budgetml local`, real processes end to end.
describe("budgetml local", () => {
  it("serves all three endpoints, comes back after preemptions, and leaves nothing behind", async () => {
    const port = freePortBase();
    const local = budgetmlLocal(["tests/fixtures/allEndpoints.ts", "--port", String(port), "--preempt-every", "4"]);
    let folder = "";
    try {
      const password = (await local.waitForOutput("stdout", /password: (\S+)/))[1];
      folder = deploymentRoot(local.stderr);
      expect(processesUnder(folder).length).toBeGreaterThan(0); // the check below can see them
      const url = `http://127.0.0.1:${port}`;
      const token = await login(url, "budget", password);
      expect(local.stdout).toContain(`curl -s -X POST http://localhost:${port}/predict_dict`);

      const dict = await fetch(`${url}/predict_dict`, json(token, { payload: { a: 1 } }));
      expect(await dict.json()).toEqual({ kind: "dict", payload: { a: 1 } });
      const generic = await fetch(`${url}/predict`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}` },
        body: "raw text",
      });
      expect(await generic.json()).toEqual({ kind: "generic", body: "raw text" });
      const form = new FormData();
      form.append("request", new Blob([new Uint8Array([1, 2, 3])]), "x.png");
      const image = await fetch(`${url}/predict_image`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}` },
        body: form,
      });
      expect(await image.json()).toEqual({ kind: "image", filename: "x.png", size: 3 });

      // Keep predicting through a preemption; count what failed while the instance was down.
      let failed = 0;
      let succeeded = 0;
      const comebacks = () => local.stderr.match(/back after [\d.]+ s/g)?.length ?? 0;
      const comebacksBefore = comebacks(); // a preemption may already have come and gone
      await waitFor(
        async () => {
          if (local.child.exitCode !== null) throw new Error(`budgetml local exited: ${local.stderr}`);
          const ok = await login(url, "budget", password)
            .then((fresh) => fetch(`${url}/predict_dict`, json(fresh, { payload: {} })))
            .then(
              (r) => r.status === 200,
              () => false,
            );
          if (ok) succeeded += 1;
          else failed += 1;
          return comebacks() > comebacksBefore && failed > 0;
        },
        { timeoutMs: 60_000, intervalMs: 100, what: "the instance to come back after a preemption" },
      );
      expect(local.stderr).toMatch(/preempting allEndpoints's instance/);
      expect(failed).toBeGreaterThan(0); // the outage was real
      expect(succeeded).toBeGreaterThan(0);
      const fresh = await login(url, "budget", password);
      expect((await fetch(`${url}/predict_dict`, json(fresh, { payload: { after: true } }))).status).toBe(200);

      // The VM's boots and services never looked for a gcloud (the developer's, on a machine with the
      // Cloud SDK): their project is in GOOGLE_CLOUD_PROJECT. The record can see such a call:
      expect(gcloudCallsFrom(folder)).toEqual([]);
      execFileSync("sh", ["-c", "gcloud config config-helper || true"], {
        env: { PATH: process.env.PATH, BUDGET_ROOT: folder },
        stdio: "ignore",
      });
      expect(gcloudCallsFrom(folder)).toHaveLength(1);
    } finally {
      local.child.kill("SIGINT");
    }
    expect(await local.exited).toBe(0);
    expect(
      await fetch(`http://127.0.0.1:${port}/`).then(
        () => "open",
        () => "closed",
      ),
    ).toBe("closed");
    expect(processesUnder(folder).map(described)).toEqual([]);
    expect(existsSync(folder)).toBe(false);
  }, 120_000);

  it("stops what it started when Ctrl-C comes while it boots, and a second Ctrl-C while it stops leaves nothing behind either", async () => {
    const port = freePortBase();
    const local = budgetmlLocal(["tests/fixtures/allEndpoints.ts", "--port", String(port)]);
    let folder = "";
    try {
      folder = deploymentRoot((await local.waitForOutput("stderr", /^budgetml local: working in .*$/m))[0]);
      // The VM's boot runs (its processes are in a process group of their own, which Ctrl-C in a terminal does not reach).
      await waitFor(() => processesUnder(join(folder, "vm")).length > 0, { timeoutMs: 110_000, what: "the VM's boot" });
    } finally {
      local.child.kill("SIGINT");
    }
    await local.waitForOutput("stderr", /budgetml local: stopping…/);
    local.child.kill("SIGINT"); // an impatient second Ctrl-C
    expect(await local.exited).toBe(0);
    expect(processesUnder(folder).map(described)).toEqual([]);
    expect(existsSync(folder)).toBe(false);
  }, 120_000);

  it("runs a user's Pulumi program: each BudgetModel on its own port, config from --config, one JSON line per model", async () => {
    const port = freePortBase();
    const local = budgetmlLocal([
      "--program",
      "tests/fixtures/programs/twoModels",
      "--port",
      String(port),
      "--config",
      "firstUser=alice",
      "--json",
    ]);
    try {
      await local.waitForOutput("stdout", /(.*\n){4}/); // two model lines, two endpoints lines
      const lines = local.stdout
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as Record<string, string>);
      expect(lines.slice(0, 2).map((line) => Object.keys(line).sort())).toEqual(
        [0, 1].map(() => ["docsUrl", "model", "parked", "password", "url", "username"]),
      );
      const [first, second] = lines;
      expect(first).toMatchObject({
        model: "first",
        url: `http://localhost:${port}`,
        docsUrl: `http://localhost:${port}/docs`,
        username: "alice",
        parked: false,
      });
      expect(second).toMatchObject({ model: "second", url: `http://localhost:${port + 1}`, username: "budget" });
      expect(first.password).not.toBe(second.password);
      expect(lines[2]).toHaveProperty(["endpoints", "GCE_METADATA_HOST"]);
      for (const [model, modelPort] of [
        [first, port],
        [second, port + 1],
      ] as const) {
        const token = await login(`http://127.0.0.1:${modelPort}`, model.username, model.password);
        const answer = await fetch(
          `http://127.0.0.1:${modelPort}/predict_dict`,
          json(token, { payload: { model: model.model } }),
        );
        expect(await answer.json()).toEqual({ kind: "dict", payload: { model: model.model } });
      }
    } finally {
      local.child.kill("SIGINT");
    }
    expect(await local.exited).toBe(0);
  }, 150_000);

  it("serves a program's running model and leaves its parked one (running: false) stopped, without waiting for it", async () => {
    const port = freePortBase();
    const local = budgetmlLocal([
      "--program",
      "tests/fixtures/programs/parkedModel.ts",
      "--port",
      String(port),
      "--json",
    ]);
    try {
      await local.waitForOutput("stdout", /(.*\n){4}/);
      const [serving, parked] = local.stdout
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(serving).toMatchObject({ model: "serving", url: `http://localhost:${port}`, parked: false });
      expect(parked).toMatchObject({ model: "parked", url: `http://localhost:${port + 1}`, parked: true });
      const token = await login(`http://127.0.0.1:${port}`, "budget", serving.password as string);
      expect((await fetch(`http://127.0.0.1:${port}/predict_dict`, json(token, { payload: {} }))).status).toBe(200);
      // Its scheduler job is paused and nothing starts its VM: nothing answers on its port, nothing runs from its folder.
      expect(
        await fetch(`http://127.0.0.1:${port + 1}/`).then(
          () => "open",
          () => "closed",
        ),
      ).toBe("closed");
      const vms = join(deploymentRoot(local.stderr), "vm");
      const vmOf = (model: string) => join(vms, readdirSync(vms).find((name) => name.includes(model)) as string);
      expect(processesUnder(vmOf("serving")).length).toBeGreaterThan(0); // the check can see a VM's processes
      expect(processesUnder(vmOf("parked"))).toEqual([]);
    } finally {
      local.child.kill("SIGINT");
    }
    expect(await local.exited).toBe(0);
  }, 120_000);

  it("refuses a program whose every model is parked, with exit 2", async () => {
    const local = budgetmlLocal([
      "--program",
      "tests/fixtures/programs/parkedModel.ts",
      "--port",
      String(freePortBase()),
      "--config",
      "parkAll=true",
    ]);
    expect(await local.exited).toBe(2);
    expect(local.stderr).toMatch(
      /every BudgetModel .*parkedModel\.ts declares is parked \(running: false\): nothing to serve/,
    );
  }, 120_000);

  it("fails the run with the component's own words when a domain given as an output turns out invalid, and removes its folder", async () => {
    const local = budgetmlLocal([
      "--program",
      "tests/fixtures/programs/outputDomain.ts",
      "--port",
      String(freePortBase()),
      "--config",
      "domain=not a domain",
    ]);
    expect(await local.exited).toBe(1);
    expect(local.stderr).toMatch(
      /budgetml: the program failed: BudgetModel "domained": domain: "not a domain" is not a domain name\n$/,
    );
    expect(existsSync(deploymentRoot(local.stderr))).toBe(false);
  }, 120_000);

  it("fails, as the cloud would, when the program does not grant the VM its password secret", async () => {
    const local = budgetmlLocal([
      "--program",
      "tests/fixtures/programs/withoutPasswordGrant.ts",
      "--port",
      String(freePortBase()),
    ]);
    expect({ code: await local.exited, stderr: local.stderr }).toMatchObject({ code: 1 });
    expect(local.stderr).toMatch(
      /Permission 'secretmanager\.versions\.access' denied on resource 'projects\/budgetml-local\/secrets\/budgetml-ungranted-[0-9a-f]+-password\/versions\/1'.* for bm-ungranted-[0-9a-f]+@budgetml-local\.iam\.gserviceaccount\.com/,
    );
    expect(local.stdout).not.toMatch(/password/);
  }, 120_000);

  it.each([
    [[], /missing PREDICTOR/],
    [["nope.ts"], /predictor file not found: nope\.ts/],
    [
      ["examples/sentiment/predictor.ts", "--preempt-every", "soon"],
      /--preempt-every must be a number from 1 to 86400, got "soon"/,
    ],
    [
      ["examples/sentiment/predictor.ts", "--port", "80.5"],
      /--port must be a whole number from 1 to 65535, got "80.5"/,
    ],
    [["examples/sentiment/predictor.ts", "--bogus"], /Unknown option '--bogus'/],
    [["examples/sentiment/predictor.ts", "--port", "BUSY"], /port \d+ is already in use: pass --port with a free one/],
    [["--program", "nowhere"], /program not found: nowhere/],
    [["--program", "tests/fixtures"], /no program in tests\/fixtures: expected index\.ts or index\.js/],
    [
      ["--program", "tests/fixtures/programs/twoModels", "--config", "novalue"],
      /--config expects KEY=VALUE, got "novalue"/,
    ],
    [
      ["--program", "tests/fixtures/programs/twoModels", "examples/sentiment/predictor.ts"],
      /--program runs the program's own models/,
    ],
    [["examples/sentiment/predictor.ts", "--config", "a=b"], /--config belongs to --program/],
    [
      ["examples/sentiment/predictor.ts", "--requirements", "sentiment@^5", "--allow-scripts", "sharp"],
      /--allow-scripts: "sharp" is not among --requirements/,
    ],
    [
      ["--program", "tests/fixtures/programs/twoModels", "--allow-scripts", "sharp"],
      /--allow-scripts and --replicas belong to the PREDICTOR form/,
    ],
    [
      ["examples/iris/predictor.py", "--allow-scripts", "scikit-learn"],
      /--allow-scripts: names npm requirements whose install scripts may run; a \.py predictor has pip requirements/,
    ],
  ])("rejects %j with one line and exit 2", async (args, message) => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
    args = args.map((arg) => (arg === "BUSY" ? String((busy.address() as AddressInfo).port) : arg));
    const local = budgetmlLocal(args);
    expect(await local.exited).toBe(2);
    expect(local.stderr).toMatch(message);
    busy.close();
  });
});
