// Handwritten digits with a small neural network in ONNX, run by onnxruntime-node.
// model.onnx (10 KB, made by train.py) is bundled into the predictor as bytes: nothing to download.
// On a VM with a GPU (BUDGET_ACCELERATOR, set by the VM's boot) it runs on the GPU through
// onnxruntime's CUDA execution provider, and only there: without it load() fails (health
// load_failed) rather than serving on the CPU unnoticed. Elsewhere — budgetml local, budgetml serve,
// a CPU VM — on the CPU. Either way it says which, once, as it loads.
import { InferenceSession, Tensor } from "onnxruntime-node";
import type { Payload } from "../../index";
import model from "./model.onnx";

const PIXELS = 64; // an 8x8 image, row by row, each 0 (white) to 16 (black), as scikit-learn's digits

type Prediction = { digit: number; probability: number; probabilities: number[] };

export class Predictor {
  private session!: InferenceSession;

  async load() {
    const gpu = process.env.BUDGET_ACCELERATOR;
    this.session = await InferenceSession.create(model, { executionProviders: gpu ? ["cuda"] : ["cpu"] });
    console.log(
      gpu
        ? `digits: on the GPU (${gpu}), through onnxruntime's CUDA execution provider`
        : "digits: no GPU in this deployment: on the CPU",
    );
  }

  async predict(request: Payload) {
    const [answer] = await this.predictBatch([request]);
    return answer;
  }

  /**
   * Several requests in one run of the network (used when batching is on: `maxBatchSize` above 1):
   * every image of every request goes into one tensor, and each request gets its own rows back.
   */
  async predictBatch(requests: Payload[]) {
    const parsed = requests.map((request) => toImages(request.payload));
    const images = parsed.flatMap((images) => (typeof images === "string" ? [] : images));
    const predictions = images.length > 0 ? await this.run(images) : [];
    let row = 0;
    return requests.map((request, i) => {
      const own = parsed[i];
      if (typeof own === "string") {
        return new Response(JSON.stringify({ error: own }), {
          status: 422,
          headers: { "content-type": "application/json" },
        });
      }
      const mine = predictions.slice(row, (row += own.length));
      return "images" in request.payload ? { predictions: mine } : mine[0];
    });
  }

  private async run(images: number[][]): Promise<Prediction[]> {
    const pixels = new Float32Array(images.length * PIXELS);
    images.forEach((image, row) => image.forEach((value, column) => (pixels[row * PIXELS + column] = value / 16)));
    const { probabilities } = await this.session.run({
      pixels: new Tensor("float32", pixels, [images.length, PIXELS]),
    });
    const scores = probabilities.data as Float32Array;
    return images.map((_, row) => {
      const own = Array.from(scores.subarray(row * 10, row * 10 + 10));
      const digit = own.indexOf(Math.max(...own));
      return { digit, probability: round(own[digit]), probabilities: own.map(round) };
    });
  }
}

/** The images in the payload (`pixels`, or `images` for a batch), or what is wrong with them. */
function toImages(payload: Record<string, unknown>): number[][] | string {
  const images = "images" in payload ? payload.images : [payload.pixels];
  if (!Array.isArray(images) || images.length < 1 || images.length > 1000)
    return '"images" must be a list of 1 to 1000 images';
  const bad = images.findIndex(
    (image) =>
      !Array.isArray(image) ||
      image.length !== PIXELS ||
      !image.every((v) => typeof v === "number" && v >= 0 && v <= 16),
  );
  if (bad >= 0) return `image ${bad}: "pixels" must be ${PIXELS} numbers from 0 to 16 (an 8x8 image, row by row)`;
  return images as number[][];
}

const round = (x: number) => Math.round(x * 1e4) / 1e4;
