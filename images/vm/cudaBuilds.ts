/**
 * On a VM with GPUs, a predictor's packages in their CUDA builds; elsewhere (a CPU VM, the local
 * deployment) as written. One requirements list serves both: the same bundle runs on the CPU under
 * `budgetml local` and on the GPU when deployed.
 *
 * Python: the PyPI packages whose CUDA build is another distribution or an extra. PyTorch needs
 * nothing: PyPI's `torch` for Linux x86_64 is the CUDA build, with NVIDIA's CUDA wheels as its
 * dependencies (pytorch.org, "Get started": pip3 install torch is CUDA on Linux).
 * - onnxruntime → onnxruntime-gpu ("onnxruntime-gpu: for CUDA", onnxruntime.ai, Install ONNX Runtime)
 * - jax → jax[cuda12] (JAX installation: pip install -U "jax[cuda12]" for NVIDIA GPUs)
 * - tensorflow, tensorflow-cpu → tensorflow[and-cuda] (tensorflow.org, pip install: "tensorflow[and-cuda]" for GPU on Linux)
 */
const PYTHON_CUDA_BUILDS: Readonly<Record<string, string>> = {
  onnxruntime: "onnxruntime-gpu",
  jax: "jax[cuda12]",
  tensorflow: "tensorflow[and-cuda]",
  "tensorflow-cpu": "tensorflow[and-cuda]",
};

/** PEP 503's name normalisation: case, `-`, `_` and `.` do not tell names apart. */
function normalized(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, "-");
}

/**
 * The requirement lines with each package that has a CUDA build named as it (its version and
 * marker kept), and which were swapped. A line that already names extras is left as written.
 */
export function pythonCudaBuilds(requirements: string[]): { requirements: string[]; swapped: string[] } {
  const swapped: string[] = [];
  const out = requirements.map((line) => {
    const match = /^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\s*(?:[<>=!~;@].*)?)$/.exec(line);
    const cuda = match && PYTHON_CUDA_BUILDS[normalized(match[1])];
    if (!match || !cuda) return line;
    swapped.push(`${match[1]} → ${cuda}`);
    return `${cuda}${match[2]}`;
  });
  return { requirements: out, swapped };
}

/**
 * npm's environment for a predictor's install: onnxruntime-node's install script (when allowed by
 * `allowScripts`) fetches its CUDA execution provider only where there are GPUs, and nothing
 * elsewhere — its script reads `ONNXRUNTIME_NODE_INSTALL` ("cuda12" or "skip",
 * onnxruntime-node's script/install.js).
 */
export function npmGpuEnv(gpus: boolean): Record<string, string> {
  return { ONNXRUNTIME_NODE_INSTALL: gpus ? "cuda12" : "skip" };
}
