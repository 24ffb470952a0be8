import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { PASSWORD, SIGNING_KEY, USERNAME, json, login } from "../support/runtimeServer";
import { waitFor } from "../support/waitFor";

const ROOT = join(__dirname, "..", "..");

/** Runs `budgetml` from source, compiled on the fly by esbuild. */
function budgetml(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn(process.execPath, [join(ROOT, "scripts", "runTs.cjs"), join(ROOT, "cli.ts"), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

function finished(child: ChildProcess): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d) => (stdout += d));
  child.stderr?.on("data", (d) => (stderr += d));
  // "close", not "exit": by then all of its output has been read.
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
}

function listening(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let stderr = "";
    child.stderr?.on("data", (d) => {
      stderr += d;
      const match = /serving (http:\/\/localhost:\d+)/.exec(stderr);
      if (match) resolve(match[1].replace("localhost", "127.0.0.1"));
    });
    child.on("exit", (code) => reject(new Error(`exited ${code}: ${stderr}`)));
  });
}

const credentials = { BUDGET_USERNAME: USERNAME, BUDGET_PWD: PASSWORD, BUDGET_TOKEN: SIGNING_KEY };

describe("budgetml serve", () => {
  it.each([
    [["serve", "--nope"], /budgetml: Unknown option '--nope'/],
    [["serve", "--predictor", "missing.ts"], /budgetml: predictor file not found: missing\.ts/],
    [
      ["serve", "--predictor", "examples/sentiment/predictor.ts", "--port", "http"],
      /budgetml: --port must be a whole number from 0 to 65535, got "http"/,
    ],
    [
      ["serve", "--predictor", "examples/sentiment/predictor.ts", "--workers", "0"],
      /--workers must be a whole number from 1 to 64/,
    ],
    [
      ["serve", "--predictor", "examples/sentiment/predictor.ts", "--max-batch-size", "many"],
      /budgetml: --max-batch-size must be a whole number from 1 to 4096, got "many"/,
    ],
    [
      ["serve", "--predictor", "examples/sentiment/predictor.ts", "--max-batch-wait-ms", "5"],
      /budgetml: --max-batch-wait-ms needs a batch size above 1 \(--max-batch-size\): batching is off/,
    ],
    [["serve", "stray"], /Unexpected argument 'stray'/],
    [["launch"], /unknown command "launch"/],
  ])("%j is a one-line error and exit 2", async (args, message) => {
    const { code, stderr } = await finished(budgetml(args, credentials));
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
  });

  it("refuses a short signing key", async () => {
    const { code, stderr } = await finished(
      budgetml(["serve", "--predictor", "examples/sentiment/predictor.ts"], { ...credentials, BUDGET_TOKEN: "short" }),
    );
    expect(code).toBe(2);
    expect(stderr).toMatch(/BUDGET_TOKEN must be at least 16 characters/);
  });

  it("prints help and exits 0", async () => {
    const { code, stdout } = await finished(budgetml(["serve", "--help"]));
    expect(code).toBe(0);
    expect(stdout).toMatch(/--predictor FILE/);
  });

  it("generates credentials when none are set and prints them to the terminal, not the log", async () => {
    const child = budgetml([
      "serve",
      "--predictor",
      "examples/sentiment/predictor.ts",
      "--port",
      "0",
      "--workers",
      "1",
    ]);
    let stderr = "";
    let stdout = "";
    child.stdout?.on("data", (d) => (stdout += d));
    child.stderr?.on("data", (d) => (stderr += d));
    try {
      const url = await listening(child);
      // The credentials line follows the "serving" line on stderr.
      const password = await waitFor(() => /password (\S+)/.exec(stderr)?.[1], {
        what: "the generated password on stderr",
      });
      const token = await login(url, "budget", password);
      // The server listens before the predictor has loaded (it answers 503 "starting" until then).
      await waitFor(async () => (await fetch(`${url}/`)).status === 200, { what: "the predictor to load" });
      const response = await fetch(`${url}/predict_dict`, json(token, { payload: { text: "this is terrible" } }));
      expect(await response.json()).toMatchObject({ label: "negative" });
      expect(stdout).toContain('"severity":"INFO"');
      expect(stdout).not.toContain(password);
    } finally {
      child.kill("SIGKILL");
    }
  });
});
