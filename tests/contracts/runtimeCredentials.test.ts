import { spawn } from "node:child_process";
import { join } from "node:path";
import {
  CREDENTIALS_SOURCE,
  decodeCredentials,
  encodeCredentials,
  splitCredentials,
} from "../../contracts/runtimeCredentials";
import { serveCommand } from "../support/runtimeTarget";

// How the boot hands the runtime its credentials on a VM: on standard input, never in its environment.
describe("the runtime's credentials on standard input", () => {
  const credentials = { BUDGET_USERNAME: "budget", BUDGET_PWD: 'p"w\n$x', BUDGET_TOKEN: "k".repeat(32) };

  it("splits a runtime environment into what may be in the environment and what goes on stdin", () => {
    const { env, stdin } = splitCredentials({ ...credentials, PORT: "8081", BUDGET_HOST: "127.0.0.1" });
    expect(env).toEqual({ PORT: "8081", BUDGET_HOST: "127.0.0.1", [CREDENTIALS_SOURCE.name]: "stdin" });
    expect(decodeCredentials(stdin)).toEqual(credentials);
    expect(stdin).toBe(encodeCredentials(credentials));
  });

  it.each([
    ["not JSON", "BUDGET_PWD=x", /standard input is not a JSON object of BUDGET_USERNAME, BUDGET_PWD, BUDGET_TOKEN/],
    ["a JSON array", "[]", /standard input lacks BUDGET_USERNAME, BUDGET_PWD, BUDGET_TOKEN/],
    ["nothing", "", /standard input is not a JSON object/],
    ["a missing key", JSON.stringify({ BUDGET_USERNAME: "u", BUDGET_PWD: "p" }), /lacks BUDGET_TOKEN$/],
    ["a value that is not a string", JSON.stringify({ ...credentials, BUDGET_PWD: 7 }), /lacks BUDGET_PWD$/],
  ])("refuses %s", (_what, text, message) => {
    expect(() => decodeCredentials(text)).toThrow(message);
  });

  /** The runtime's serve command with `stdin` on its standard input; resolves with how it ended. */
  function serveWith(stdin: string, env: Record<string, string>) {
    const { args, cwd } = serveCommand();
    const child = spawn(process.execPath, args, {
      cwd,
      env: { PATH: process.env.PATH, BUDGET_PREDICTOR_PATH: join(__dirname, "..", "fixtures", "noClass.js"), ...env },
      stdio: ["pipe", "ignore", "pipe"],
    });
    child.stdin?.end(stdin);
    let stderr = "";
    child.stderr?.on("data", (chunk) => (stderr += chunk));
    return new Promise<{ code: number | null; stderr: string }>(
      (resolve) => child.on("close", (code) => resolve({ code, stderr })), // "close": all of stderr read
    );
  }

  it("the runtime refuses malformed credentials on stdin, or another source, with one line and exit 2", async () => {
    expect(await serveWith("BUDGET_PWD=x\n", { BUDGET_CREDENTIALS: "stdin" })).toEqual({
      code: 2,
      stderr: expect.stringMatching(/^budgetml-runtime: BUDGET_CREDENTIALS=stdin: standard input is not a JSON object/),
    });
    expect(await serveWith("", { BUDGET_CREDENTIALS: "file" })).toEqual({
      code: 2,
      stderr: expect.stringContaining('BUDGET_CREDENTIALS must be "stdin" (or unset), got "file"'),
    });
  }, 60_000);
});
