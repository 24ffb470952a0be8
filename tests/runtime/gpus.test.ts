import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getOnNewConnection, json, startTestRuntime, type TestRuntime } from "../support/runtimeServer";
import { RUNTIME_TARGET, serveCommand } from "../support/runtimeTarget";
import { waitFor } from "../support/waitFor";

// The runtime on a VM with GPUs (BUDGET_ACCELERATOR, set by the boot): it checks them with nvidia-smi
// before the predictor loads, names them in the health answer and /metrics, and never serves the
// model on the CPU when they are missing. No GPU here: tests/fixtures/gpu/nvidia-smi stands in for
// NVIDIA's, first on PATH, answering from a state file.
const FAKE_SMI_DIR = join(__dirname, "..", "fixtures", "gpu");
const work = mkdtempSync(join(tmpdir(), "budgetml-gpus-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

let runtimes = 0;
/** The runtime with the fake nvidia-smi in `state` ("ok" or "broken") and `names` as its GPUs. */
async function runtimeWithGpus(
  accelerator: string,
  state: string,
  names = "Tesla T4",
  workers = 1,
): Promise<TestRuntime> {
  const stateFile = join(work, `state-${(runtimes += 1)}`);
  writeFileSync(stateFile, state);
  return startTestRuntime("runtime/echo.cjs", {
    workers,
    env: {
      BUDGET_ACCELERATOR: accelerator,
      PATH: `${FAKE_SMI_DIR}:${process.env.PATH}`,
      FAKE_GPU_STATE: stateFile,
      FAKE_GPU_NAMES: names,
    },
  });
}

const health = async (rt: TestRuntime) => {
  const answer = await fetch(`${rt.url}/`);
  return { status: answer.status, body: (await answer.json()) as Record<string, unknown> };
};

describe(`the runtime with GPUs (${RUNTIME_TARGET})`, () => {
  it("names the GPUs it sees in the health answer and /metrics, and serves", async () => {
    const rt = await runtimeWithGpus("nvidia-tesla-t4:1", "ok");
    try {
      expect(await health(rt)).toEqual({
        status: 200,
        body: expect.objectContaining({ status: "ready", gpus: { check: "passed", names: ["Tesla T4"] } }),
      });
      const token = await rt.token();
      const metrics = await getOnNewConnection(`${rt.url}/metrics`, token);
      expect(metrics).toMatch(
        /^budgetml_gpu_info\{gpu="0",name="Tesla T4",uuid="GPU-00000000-fake-4000-8000-000000000000",driver_version="595\.84"\} 1$/m,
      );
      expect(metrics).toMatch(/^budgetml_gpu_up 1$/m);
      expect(metrics).toMatch(/^budgetml_gpu_memory_used_bytes\{gpu="0"\} 269484032$/m);
      expect(metrics).toMatch(/^budgetml_gpu_utilization_ratio\{gpu="0"\} 0\.12$/m);
      const answer = await fetch(`${rt.url}/predict_dict`, json(token, { payload: { x: 1 } }));
      expect(answer.status).toBe(200);
      expect(rt.logLines.some((line) => line.includes('"message":"GPUs checked: Tesla T4"'))).toBe(true);
    } finally {
      await rt.close();
    }
  });

  it("reports the machine's GPUs once in the whole server's /metrics when several workers read them", async () => {
    const rt = await runtimeWithGpus("nvidia-tesla-t4:1", "ok", "Tesla T4", 2);
    try {
      // Both workers up: each checks the GPUs as it starts.
      await waitFor(() => rt.logLines.filter((line) => line.includes("GPUs checked: Tesla T4")).length === 2, {
        what: "both workers to check the GPUs",
      });
      const metrics = await getOnNewConnection(`${rt.url}/metrics`, await rt.token());
      expect(metrics).toMatch(/^budgetml_gpu_info\{gpu="0",name="Tesla T4",[^}]*\} 1$/m);
      expect(metrics).toMatch(/^budgetml_gpu_up 1$/m);
      expect(metrics).toMatch(/^budgetml_gpu_memory_used_bytes\{gpu="0"\} 269484032$/m);
    } finally {
      await rt.close();
    }
  });

  it("stays load_failed when nvidia-smi fails, with nvidia-smi's reason in the log, and never loads the predictor on the CPU", async () => {
    const rt = await runtimeWithGpus("nvidia-tesla-t4:1", "broken");
    try {
      expect(await health(rt)).toEqual({
        status: 503,
        body: expect.objectContaining({ status: "load_failed", gpus: { check: "failed", names: [] } }),
      });
      const failure = rt.logLines.find((line) => line.includes("GPU check failed"));
      expect(failure).toMatch(
        /"severity":"ERROR".*GPU check failed: nvidia-smi failed: NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver\..*the predictor is not loaded \(it would run on the CPU\)/,
      );
      expect(rt.logLines.some((line) => line.includes("predictor loaded"))).toBe(false);
      const token = await rt.token();
      const refused = await fetch(`${rt.url}/predict_dict`, json(token, { payload: {} }));
      expect(refused.status).toBe(503);
      expect(await refused.json()).toMatchObject({
        status: "load_failed",
        code: "BUDGETML_PREDICTOR_LOAD_FAILED",
        error: expect.stringMatching(/GPU check failed/),
      });
      expect(await getOnNewConnection(`${rt.url}/metrics`, token)).toMatch(/^budgetml_gpu_up 0$/m);
    } finally {
      await rt.close();
    }
  });

  it("fails the check when nvidia-smi sees fewer or other GPUs than declared, or is not installed at all", async () => {
    const fewer = await runtimeWithGpus("nvidia-tesla-t4:2", "ok");
    const other = await runtimeWithGpus("nvidia-l4:1", "ok");
    const none = await startTestRuntime("runtime/echo.cjs", {
      env: { BUDGET_ACCELERATOR: "nvidia-tesla-t4:1", PATH: join(work, "empty") },
    });
    try {
      for (const rt of [fewer, other, none]) expect((await health(rt)).body.status).toBe("load_failed");
      const reasons = [fewer, other, none].map((rt) => rt.logLines.find((line) => line.includes("GPU check failed")));
      expect(reasons[0]).toMatch(/expected 2 × nvidia-tesla-t4 \(NVIDIA T4\), nvidia-smi sees 1: Tesla T4/);
      expect(reasons[1]).toMatch(/expected 1 × nvidia-l4 \(NVIDIA L4\), nvidia-smi sees 1: Tesla T4/);
      expect(reasons[2]).toMatch(/nvidia-smi is not installed \(no NVIDIA driver\)/);
    } finally {
      await Promise.all([fewer.close(), other.close(), none.close()]);
    }
  });

  it("refuses a malformed BUDGET_ACCELERATOR with a one-line error and exit 2", async () => {
    const { args, cwd } = serveCommand();
    const child = spawn(
      process.execPath,
      [...args, "--predictor", join(__dirname, "..", "fixtures", "runtime", "echo.cjs")],
      {
        cwd,
        env: {
          PATH: process.env.PATH,
          BUDGET_USERNAME: "budget",
          BUDGET_PWD: "correct horse battery staple",
          BUDGET_TOKEN: "0123456789abcdef0123456789abcdef",
          BUDGET_ACCELERATOR: "a T4 please",
        },
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
    let stderr = "";
    child.stderr.on("data", (chunk) => (stderr += chunk));
    const code = await new Promise((resolve) => child.on("close", resolve)); // "close": all of stderr read
    expect(code).toBe(2);
    expect(stderr.trim()).toMatch(
      /BUDGET_ACCELERATOR: "a T4 please" is not an accelerator like nvidia-tesla-t4:1 \(type:count\)$/,
    );
  });
});
