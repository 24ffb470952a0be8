import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { Agent, request } from "node:http";
import { join } from "node:path";
import { processStat } from "../../images/vm/services";
import { freePort } from "../support/freePort";
import { getOnNewConnection, json, login, startTestRuntime, type TestRuntime } from "../support/runtimeServer";
import { RUNTIME_TARGET, serveCommand } from "../support/runtimeTarget";
import { waitFor } from "../support/waitFor";

const FIXTURES = join(__dirname, "..", "fixtures");

/** Runs `serve` for the current target with these flags and environment; resolves on exit. */
function serve(
  flags: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const { args, cwd } = serveCommand();
  const child = spawn(process.execPath, [...args, ...flags], {
    cwd,
    env: { PATH: process.env.PATH, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  let stdout = "";
  child.stderr.on("data", (d) => (stderr += d));
  child.stdout.on("data", (d) => (stdout += d));
  // "close", not "exit": by then all of its output has been read.
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stderr, stdout })));
}

const credentials = {
  BUDGET_USERNAME: "budget",
  BUDGET_PWD: "correct horse battery staple",
  BUDGET_TOKEN: "0123456789abcdef0123456789abcdef",
};
const passthrough = join(FIXTURES, "runtime", "passthrough.cjs");

describe(`the runtime's serve process (${RUNTIME_TARGET})`, () => {
  it.each([
    [["--nope"], credentials, /Unknown option '--nope'/],
    [["--predictor", "missing.cjs"], credentials, /predictor file not found: missing\.cjs/],
    [
      ["--predictor", passthrough, "--port", "http"],
      credentials,
      /--port must be a whole number from 0 to 65535, got "http"/,
    ],
    [["--predictor", passthrough, "--workers", "0"], credentials, /--workers must be a whole number from 1 to 64/],
    [
      ["--predictor", passthrough],
      { ...credentials, BUDGET_TOKEN: "short" },
      /BUDGET_TOKEN must be at least 16 characters/,
    ],
    [
      ["--predictor", passthrough],
      { BUDGET_USERNAME: "budget" },
      /missing environment variables BUDGET_PWD, BUDGET_TOKEN/,
    ],
    [
      ["--predictor", passthrough],
      { ...credentials, BUDGET_PROVISIONING: "cheap" },
      /BUDGET_PROVISIONING must be spot, preemptible or standard, got "cheap"/,
    ],
  ])("%j is a one-line error and exit 2", async (flags, env, message) => {
    const { code, stderr } = await serve(flags, env);
    expect(code).toBe(2);
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(stderr).toMatch(message);
  });

  it("reports in its health answer the provisioning model the VM runs as (BUDGET_PROVISIONING, set at boot)", async () => {
    const server = await startTestRuntime(passthrough, { env: { BUDGET_PROVISIONING: "standard" } });
    try {
      expect(await (await fetch(`${server.url}/`)).json()).toMatchObject({ status: "ready", provisioning: "standard" });
    } finally {
      await server.close();
    }
  });

  it.each([1, 2])(
    "on SIGTERM with %i worker(s): finishes the in-flight request, refuses new ones, exits 0",
    async (workers) => {
      const server = await startTestRuntime("slowPredictor.cjs", { entrypoint: "Slow", workers });
      try {
        const token = await login(server.url);
        const inFlight = fetch(`${server.url}/predict_dict`, json(token, { payload: { ms: 1500 } }));
        await waitFor(() => server.logLines.some((line) => line.includes('"path":"/token"')), {
          what: "the login to be logged",
        });
        // Metrics come from whichever worker takes the connection: ask on a new connection each
        // time (fetch would reuse one, and so one worker) until the worker running it answers.
        await waitFor(
          async () =>
            /^budgetml_predictions_in_flight 1$/m.test(await getOnNewConnection(`${server.url}/metrics`, token)),
          { what: "the slow prediction to start" },
        );
        server.child.kill("SIGTERM");
        if (workers === 1) {
          await waitFor(
            async () => ((await (await fetch(`${server.url}/`)).json()) as { status: string }).status === "draining",
            { what: "health to say draining" },
          );
          const refused = await fetch(`${server.url}/predict_dict`, json(token, { payload: { ms: 0 } }));
          expect(refused.status).toBe(503);
          expect(refused.headers.get("retry-after")).toBe("2");
          expect(await refused.json()).toMatchObject({ status: "draining", code: "BUDGETML_SHUTTING_DOWN" });
        }
        const response = await inFlight;
        expect(response.status).toBe(200);
        expect(await response.json()).toEqual({ slept: 1500 });
        expect((await server.exited).code).toBe(0);
      } finally {
        await server.close();
      }
    },
  );

  it("on SIGTERM while a dead worker's replacement is due: starts no replacement, and exits once the others drain", async () => {
    const server = await startTestRuntime("slowPredictor.cjs", { entrypoint: "Slow", workers: 2 });
    // One kept-alive connection: every request on it reaches the same worker.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const token = await login(server.url);
      const predict = (payload: object) =>
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = request(
            `${server.url}/predict_dict`,
            {
              method: "POST",
              agent,
              headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
            },
            (res) => {
              let body = "";
              res.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
              res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
            },
          );
          req.on("error", reject).end(JSON.stringify({ payload }));
        });
      const draining = Number(JSON.parse((await predict({ pid: true })).body).pid);
      const slow = predict({ ms: 2500 });
      await waitFor(async () => (await server.metric("budgetml_predictions_in_flight")) === 1, {
        what: "the slow prediction to start",
      });
      const [dying] = workersOf(server.child.pid!).filter((pid) => pid !== draining);
      process.kill(dying, "SIGKILL");
      await waitFor(() => server.logLines.some((line) => line.includes("worker died; starting another")), {
        what: "the primary to see the worker die",
      });
      // Its replacement is due in a second; the other worker drains for longer than that.
      server.child.kill("SIGTERM");
      expect((await slow).status).toBe(200);
      expect(await exitWithin(server, 10_000)).toEqual({ exited: { code: 0, signal: null }, workers: [] });
    } finally {
      agent.destroy();
      for (const pid of workersOf(server.child.pid!)) process.kill(pid, "SIGKILL");
      await server.close();
    }
  }, 60_000);

  it("replaces its workers when every one of them died at once, and exits on SIGTERM before the replacements start", async () => {
    // A port of its own, as on the VM: with port 0, workers started once every one had died would listen on another.
    const server = await startTestRuntime("slowPredictor.cjs", {
      entrypoint: "Slow",
      workers: 2,
      port: await freePort(),
    });
    try {
      const deaths = () => server.logLines.filter((line) => line.includes("worker died; starting another")).length;
      const first = workersOf(server.child.pid!);
      for (const pid of first) process.kill(pid, "SIGKILL");
      await waitFor(() => deaths() === 2, { what: "the primary to see both workers die" });
      // The primary lives on (nothing else keeps it alive while it waits to replace them)…
      await waitFor(
        async () => {
          if (server.child.exitCode !== null) throw new Error(`the primary exited ${server.child.exitCode}`);
          return (await fetch(`${server.url}/`).catch(() => undefined))?.status === 200;
        },
        { what: "new workers to serve" },
      );
      // …and when it is told to stop while replacements are due, it starts none and exits at once.
      for (const pid of workersOf(server.child.pid!)) process.kill(pid, "SIGKILL");
      await waitFor(() => deaths() === 4, { what: "the primary to see both new workers die" });
      server.child.kill("SIGTERM");
      expect(await exitWithin(server, 10_000)).toEqual({ exited: { code: 0, signal: null }, workers: [] });
    } finally {
      for (const pid of workersOf(server.child.pid!)) process.kill(pid, "SIGKILL");
      await server.close();
    }
  }, 60_000);
});

/** How the primary ended within `ms` ("still running" if it did not), and its workers still running then. */
async function exitWithin(server: TestRuntime, ms: number) {
  let timer: NodeJS.Timeout | undefined;
  const exited = await Promise.race([
    server.exited,
    new Promise((resolve) => (timer = setTimeout(() => resolve("still running"), ms))),
  ]);
  clearTimeout(timer);
  return { exited, workers: workersOf(server.child.pid!) };
}

/** The running child processes of `pid` (a primary's workers). */
function workersOf(pid: number): number[] {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      const stat = processStat(Number(entry));
      return stat?.parent === pid && stat.state !== "Z";
    })
    .map(Number);
}
