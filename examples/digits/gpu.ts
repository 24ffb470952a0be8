// Deploys the digits network on a spot VM with an NVIDIA T4 (n1-standard-4 + nvidia-tesla-t4, about
// $0.23/h on spot against $0.54/h on demand, us-central1, December 2026). The VM installs NVIDIA's
// driver once per disk with Google's installer, checks the T4 with nvidia-smi, and the predictor
// runs on it through onnxruntime-node's CUDA execution provider, which its install script fetches
// (hence allowScripts).
//   pulumi config set gcp:project my-project && pulumi config set gcp:zone us-central1-a
//   pulumi up   (with this file as the program's main)
// The same program on this machine, on its CPU (no GPU needed):
//   npx budgetml local --program examples/digits/gpu.ts
import { join } from "node:path";
import { BudgetModel } from "../../index";

const model = new BudgetModel("digits", {
  predictor: join(__dirname, "predictor.ts"),
  requirements: ["onnxruntime-node@1.30.0"],
  allowScripts: ["onnxruntime-node"],
  accelerator: { type: "nvidia-tesla-t4" },
});

export const url = model.url;
export const password = model.password;
export const monthlyCost = model.monthlyCost;
