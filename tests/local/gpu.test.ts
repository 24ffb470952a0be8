import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { extract } from "tar";
import { buildPredictorBundle } from "../../bundles/predictorBundle";
import { launchLocalProgram } from "../../local/localProgram";
import { resolveProgram, runProgramFile } from "../../local/programFile";
import { deploymentRoot } from "../support/localDeployment";
import { json, login, startTestRuntime } from "../support/runtimeServer";
import { waitFor } from "../support/waitFor";

const ROOT = join(__dirname, "..", "..");
const samples = require(join(ROOT, "examples", "digits", "samples.json")) as Array<{
  sklearn: number;
  pixels: number[];
}>;

// `budgetml local` with an accelerator: examples/digits/gpu.ts declares a T4 VM; this machine has
// no GPU, so the deployment says so in one line and the same predictor serves on the CPU — the
// boot installs no driver and tells the runtime of no GPU (it would otherwise refuse to serve).
describe("budgetml local with an accelerator", () => {
  it("serves a GPU deployment on this machine's CPU, and says so in one line", async () => {
    const lines: string[] = [];
    const port = 20000 + Math.floor(Math.random() * 20000);
    const deployment = await launchLocalProgram({
      program: () => runProgramFile(resolveProgram(join(ROOT, "examples", "digits", "gpu.ts")).entry),
      port,
      report: (line) => lines.push(line),
    });
    try {
      const gpuLines = lines.filter((line) => /GPU/.test(line));
      expect(gpuLines).toEqual([
        "budgetml local: digits declares 1 × nvidia-tesla-t4 (n1-standard-4); no GPU here: it serves on this machine's CPU (deployed, the VM installs the NVIDIA driver and checks its GPUs with nvidia-smi before serving)",
      ]);
      const [model] = deployment.models;
      const health = (await (await fetch(`http://127.0.0.1:${port}/`)).json()) as Record<string, unknown>;
      expect(health).toMatchObject({ status: "ready" });
      expect(health.gpus).toBeUndefined(); // no GPU check: the runtime was told of none
      const token = await login(model.url.replace("localhost", "127.0.0.1"), model.username, model.password);
      const answer = await fetch(
        `http://127.0.0.1:${port}/predict_dict`,
        json(token, { payload: { pixels: samples[0].pixels } }),
      );
      expect(await answer.json()).toMatchObject({ digit: samples[0].sklearn });
      // The VM's own account of it: the boot's line, and the predictor's.
      const vms = join(deploymentRoot(lines.join("\n")), "vm");
      const home = join(vms, readdirSync(vms)[0], "opt", "budgetml");
      const log = readFileSync(join(home, "runtime.log"), "utf8");
      expect(log).toContain("digits: no GPU in this deployment: on the CPU");
    } finally {
      await deployment.stop();
    }
  }, 300_000);
});

// Deployed, the example asks onnxruntime for its CUDA execution provider; where it cannot have it
// (here: the npm package's CPU binaries only) load() fails and the runtime says so, rather than the
// model serving on the CPU of a VM billed for a GPU. The GPU check itself passes (stand-in nvidia-smi).
// The shipped runtime serves the predictor bundle as `pulumi up` builds it, its requirement installed
// beside it as on the VM (here: this checkout's node_modules, linked).
describe("the digits example on a GPU VM without onnxruntime's CUDA provider", () => {
  it("stays load_failed with onnxruntime's reason instead of serving on the CPU", async () => {
    const work = mkdtempSync(join(tmpdir(), "budgetml-digits-gpu-"));
    writeFileSync(join(work, "gpu-state"), "ok");
    const bundle = await buildPredictorBundle({
      predictor: join(ROOT, "examples", "digits", "predictor.ts"),
      requirements: ["onnxruntime-node@1.30.0"],
      outDir: join(work, "out"),
    });
    const installed = join(work, "predictor");
    mkdirSync(installed);
    await extract({ file: bundle.file, cwd: installed });
    symlinkSync(join(ROOT, "node_modules"), join(installed, "node_modules"));
    const rt = await startTestRuntime(join(installed, "predictor.cjs"), {
      env: {
        BUDGET_ACCELERATOR: "nvidia-tesla-t4:1",
        PATH: `${join(__dirname, "..", "fixtures", "gpu")}:${process.env.PATH}`,
        FAKE_GPU_STATE: join(work, "gpu-state"),
      },
    });
    try {
      const health = await fetch(`${rt.url}/`);
      expect(health.status).toBe(503);
      expect(await health.json()).toMatchObject({
        status: "load_failed",
        gpus: { check: "passed", names: ["Tesla T4"] },
      });
      // The reason is logged as the load fails; its line may reach us just after the health answer.
      await waitFor(() => rt.logLines.some((line) => line.includes("OrtSessionOptionsAppendExecutionProvider_Cuda")), {
        what: "onnxruntime's reason in the log",
      });
      expect(rt.logLines.some((line) => line.includes("on the CPU"))).toBe(false);
      const refused = await fetch(
        `${rt.url}/predict_dict`,
        json(await rt.token(), { payload: { pixels: samples[0].pixels } }),
      );
      expect(refused.status).toBe(503);
    } finally {
      await rt.close();
      rmSync(work, { recursive: true, force: true });
    }
  }, 60_000);
});
