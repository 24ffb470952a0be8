// A Python model's code must not reach the runtime's credentials. The shipped runtime bundle runs
// as an unprivileged account, as on a VM, with its credentials on standard input (as systemd hands
// them over); a hostile predictor then searches the environment, command line and memory of every
// process of that account for them.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { extract } from "tar";
import { buildRuntimeBundle } from "../../../bundles/runtimeBundle";
import { encodeCredentials } from "../../../contracts/runtimeCredentials";
import { freePort } from "../../support/freePort";
import { json, login } from "../../support/runtimeServer";
import { processTree } from "../../support/processTree";
import { waitFor } from "../../support/waitFor";

const run = promisify(execFile);
const UNPRIVILEGED = "nobody";
const MARKER = "isolation-secret-"; // how the fixture recognises a secret
const PASSWORD = `${MARKER}${randomBytes(12).toString("hex")}`;
const SIGNING_KEY = `${MARKER}${randomBytes(12).toString("hex")}`;

describe("a Python predictor cannot reach the runtime's credentials", () => {
  let work: string;
  let runtime: ChildProcess;
  let url: string;
  let log = "";

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "budgetml-isolation-"));
    chmodSync(work, 0o755); // as /opt/budgetml: the runtime's account may pass through
    const bundle = await buildRuntimeBundle(join(work, "build"));
    const dir = join(work, "runtime");
    await run("mkdir", ["-p", dir]);
    await extract({ file: bundle.file, cwd: dir });
    await run("chmod", ["-R", "a+rX", dir]);
    const predictor = join(work, "predictor.py");
    copyFileSync(join(__dirname, "..", "fixtures", "snoopsOnRuntime.py"), predictor);
    chmodSync(predictor, 0o644);
    const [uid, gid] = await Promise.all(
      ["-u", "-g"].map(async (flag) => Number((await run("id", [flag, UNPRIVILEGED])).stdout)),
    );
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    // As the VM's unit starts it: its account, its environment without credentials, the credentials on stdin.
    runtime = spawn(process.execPath, [join(dir, "server.cjs"), "serve"], {
      cwd: dir,
      uid,
      gid,
      env: {
        PATH: process.env.PATH,
        BUDGET_CREDENTIALS: "stdin",
        BUDGET_PREDICTOR_PATH: predictor,
        BUDGET_PYTHON: "/usr/bin/python3",
        BUDGET_WORKERS: "2",
        BUDGET_HOST: "127.0.0.1",
        PORT: String(port),
      },
      stdio: ["pipe", "pipe", "pipe"],
    });
    runtime.stdin?.end(
      encodeCredentials({ BUDGET_USERNAME: "budget", BUDGET_PWD: PASSWORD, BUDGET_TOKEN: SIGNING_KEY }),
    );
    runtime.stdout?.on("data", (chunk) => (log += chunk));
    runtime.stderr?.on("data", (chunk) => (log += chunk));
    await waitFor(
      async () => {
        if (runtime.exitCode !== null) throw new Error(`the runtime exited ${runtime.exitCode}: ${log}`);
        return fetch(`${url}/`).then(
          (r) => r.status === 200,
          () => false,
        );
      },
      { timeoutMs: 60_000, what: "the runtime to be ready" },
    );
  }, 120_000);

  afterAll(async () => {
    for (const pid of runtime?.pid ? processTree(runtime.pid).reverse() : []) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone already
      }
    }
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("none of the runtime's processes — primary, workers, Python hosts — has them in its environment", async () => {
    const pythonHosts = (pids: number[]) =>
      pids.filter((pid) => readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("budgetml_host.py"));
    // The primary, its two workers, and each worker's Python host once both have started one.
    const tree = await waitFor(
      () => {
        const pids = processTree(runtime.pid as number);
        return pythonHosts(pids).length === 2 ? pids : undefined;
      },
      { timeoutMs: 60_000, what: "both workers' Python hosts" },
    );
    expect(tree.length).toBeGreaterThanOrEqual(5);
    for (const pid of tree) {
      const environ = readFileSync(`/proc/${pid}/environ`, "utf8");
      expect({ pid, password: environ.includes(PASSWORD), key: environ.includes(SIGNING_KEY) }).toEqual({
        pid,
        password: false,
        key: false,
      });
    }
  });

  it("the predictor finds them nowhere, and reading its parent's environment and memory is refused", async () => {
    const token = await login(url, "budget", PASSWORD);
    // Both workers' Python hosts (a new connection each, spread by the cluster); a worker still
    // loading its predictor answers 503 `starting`, so each is asked until it answers.
    const answers = await Promise.all(
      [1, 2, 3, 4].map(() =>
        waitFor(
          async () => {
            const response = await fetch(`${url}/predict_dict`, {
              ...json(token, { payload: {} }),
              headers: { ...json(token, {}).headers, connection: "close" },
            });
            if (response.status === 503) return undefined;
            expect(response.status).toBe(200);
            return (await response.json()) as { found: string[]; parent: Record<string, string>; uid: number };
          },
          { timeoutMs: 60_000, what: "a prediction" },
        ),
      ),
    );
    for (const answer of answers) {
      expect(answer.uid).not.toBe(0);
      expect({ password: answer.found.includes(PASSWORD), key: answer.found.includes(SIGNING_KEY) }).toEqual({
        password: false,
        key: false,
      });
      expect(answer.parent).toEqual({
        environ: "Permission denied",
        maps: "Permission denied",
        mem: "Permission denied",
      });
    }
    expect(log).not.toMatch(/not kept from other processes/);
  }, 120_000);
});
