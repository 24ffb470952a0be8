// examples/digits over HTTP: a neural network in ONNX run by onnxruntime-node. Against the shipped
// runtime bundle (the default) it loads the predictor bundle pulumi up would upload (predictor.cjs
// with the model inside, onnxruntime-node beside it as the VM's npm install would put it); with
// BUDGET_TEST_RUNTIME=source the runtime compiles predictor.ts.
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { extract } from "tar";
import { buildPredictorBundle } from "../../bundles/predictorBundle";
import { json, startTestRuntime, type TestRuntime } from "../support/runtimeServer";
import { RUNTIME_TARGET } from "../support/runtimeTarget";

const ROOT = join(__dirname, "..", "..");
const EXAMPLE = join(ROOT, "examples", "digits");
const samples = require(join(EXAMPLE, "samples.json")) as Array<{ label: number; sklearn: number; pixels: number[] }>;

describe(`examples/digits (${RUNTIME_TARGET})`, () => {
  let runtime: TestRuntime;
  let batching: TestRuntime;
  let token: string;
  let work: string | undefined;

  beforeAll(async () => {
    let predictor = join(EXAMPLE, "predictor.ts");
    if (RUNTIME_TARGET === "bundle") {
      work = mkdtempSync(join(tmpdir(), "budgetml-digits-"));
      const bundle = await buildPredictorBundle({
        predictor,
        requirements: ["onnxruntime-node@1.30.0"],
        outDir: join(work, "out"),
      });
      const installed = join(work, "predictor");
      mkdirSync(join(installed, "node_modules"), { recursive: true });
      await extract({ file: bundle.file, cwd: installed });
      symlinkSync(
        realpathSync(join(ROOT, "node_modules", "onnxruntime-node")),
        join(installed, "node_modules", "onnxruntime-node"),
      );
      predictor = join(installed, "predictor.cjs");
    }
    [runtime, batching] = await Promise.all([
      startTestRuntime(predictor),
      startTestRuntime(predictor, { env: { BUDGET_MAX_BATCH_SIZE: "16" } }),
    ]);
    token = await runtime.token();
  }, 60_000);
  afterAll(async () => {
    await Promise.all([runtime?.close(), batching?.close()]);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const predict = (payload: unknown) => fetch(`${runtime.url}/predict_dict`, json(token, { payload }));

  it("loads the ONNX model and reads a held-out digit as the trained network does", async () => {
    expect((await fetch(`${runtime.url}/`)).status).toBe(200);
    const response = await predict({ pixels: samples[0].pixels });
    expect(response.status).toBe(200);
    const answer = (await response.json()) as { digit: number; probability: number; probabilities: number[] };
    expect(answer.digit).toBe(samples[0].sklearn);
    expect(answer.probabilities).toHaveLength(10);
    expect(answer.probabilities.reduce((a, b) => a + b)).toBeCloseTo(1, 3);
    expect(answer.probability).toBe(Math.max(...answer.probabilities));
  });

  it("reads a batch: every answer matches scikit-learn's own network, and nearly all match the labels", async () => {
    const response = await predict({ images: samples.map((s) => s.pixels) });
    const { predictions } = (await response.json()) as { predictions: Array<{ digit: number }> };
    expect(predictions.map((p) => p.digit)).toEqual(samples.map((s) => s.sklearn));
    expect(predictions.filter((p, i) => p.digit === samples[i].label).length).toBeGreaterThanOrEqual(9);
  });

  it.each([
    [{ pixels: [1, 2, 3] }, 'image 0: "pixels" must be 64 numbers from 0 to 16 (an 8x8 image, row by row)'],
    [{ pixels: Array(64).fill(17) }, 'image 0: "pixels" must be 64 numbers from 0 to 16 (an 8x8 image, row by row)'],
    [{ images: [] }, '"images" must be a list of 1 to 1000 images'],
  ])("answers 422 for %j", async (payload, message) => {
    const response = await predict(payload);
    expect(response.status).toBe(422);
    expect(await response.json()).toEqual({ error: message });
  });

  it("with batching on, answers concurrent requests from shared runs of the network, each exactly as alone", async () => {
    const batchToken = await batching.token();
    const alone = await Promise.all(samples.map(async (sample) => (await predict({ pixels: sample.pixels })).json()));
    const requests = [...samples, ...samples].map((sample) =>
      fetch(`${batching.url}/predict_dict`, json(batchToken, { payload: { pixels: sample.pixels } })),
    );
    const bad = fetch(`${batching.url}/predict_dict`, json(batchToken, { payload: { pixels: [1] } }));
    const answers = await Promise.all((await Promise.all(requests)).map((r) => r.json()));
    expect(answers).toEqual([...alone, ...alone]);
    expect((await bad).status).toBe(422); // its own answer, whatever batch it shared
    const [batches, batched] = await batching.metrics("budgetml_batch_size_count", "budgetml_batch_size_sum");
    expect(batched).toBe(21);
    expect(batches).toBeLessThan(21);
  });
});
