import { spawn } from "node:child_process";
import { join } from "node:path";
import { getOnNewConnection, json, login, startTestRuntime } from "../support/runtimeServer";
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
  return new Promise((resolve) => child.on("exit", (code) => resolve({ code, stderr, stdout })));
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
});
