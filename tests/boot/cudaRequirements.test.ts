// A Python predictor's requirements on a VM with GPUs: the boot installs the CUDA build of a package
// that has one (onnxruntime → onnxruntime-gpu), and the package as written elsewhere. Offline: pip
// installs from wheels built here (PIP_NO_INDEX + PIP_FIND_LINKS), one per distribution name, each
// saying which it is.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { PREDICTOR_FILES, PYTHON_VENV_DIR } from "../../contracts/predictorFiles";
import { installPythonRequirements } from "../../images/vm/installPythonRequirements";

const run = promisify(execFile);
const DEBIAN_PYTHON = "/usr/bin/python3";
const work = mkdtempSync(join(tmpdir(), "budgetml-cuda-requirements-"));
const wheels = join(work, "wheels");
const saved = { PIP_NO_INDEX: process.env.PIP_NO_INDEX, PIP_FIND_LINKS: process.env.PIP_FIND_LINKS };

/** A wheel for `name` whose module `budget_build` says which distribution it came from. */
async function buildWheel(name: string): Promise<void> {
  const source = join(work, "sources", name);
  mkdirSync(join(source, "budget_build"), { recursive: true });
  writeFileSync(join(source, "budget_build", "__init__.py"), `DISTRIBUTION = ${JSON.stringify(name)}\n`);
  writeFileSync(
    join(source, "setup.py"),
    `from setuptools import setup\nsetup(name=${JSON.stringify(name)}, version="1.20.1", packages=["budget_build"])\n`,
  );
  await run(
    DEBIAN_PYTHON,
    ["-m", "pip", "wheel", "--no-index", "--no-build-isolation", "--no-deps", "--wheel-dir", wheels, source],
    { cwd: source, env: { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: "1" } },
  );
}

beforeAll(async () => {
  await buildWheel("onnxruntime");
  await buildWheel("onnxruntime-gpu");
  Object.assign(process.env, { PIP_NO_INDEX: "1", PIP_FIND_LINKS: wheels });
}, 120_000);
afterAll(() => {
  for (const [key, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  rmSync(work, { recursive: true, force: true });
});

/** Installs `requirements` as the boot does, with or without GPUs; what the environment then imports, and the log. */
async function install(name: string, requirements: string[], gpus: boolean) {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, PREDICTOR_FILES.pythonRequirements), `${requirements.join("\n")}\n`);
  const log: string[] = [];
  await installPythonRequirements(dir, (line) => log.push(line), undefined, DEBIAN_PYTHON, gpus);
  const python = join(dir, PYTHON_VENV_DIR, "bin", "python");
  const { stdout } = await run(python, ["-c", "import budget_build; print(budget_build.DISTRIBUTION)"]);
  return { distribution: stdout.trim(), log };
}

describe("a Python predictor's requirements with GPUs", () => {
  it("installs onnxruntime-gpu for onnxruntime on a GPU VM, version kept, and says so", async () => {
    const { distribution, log } = await install("gpu", ["onnxruntime==1.20.1"], true);
    expect(distribution).toBe("onnxruntime-gpu");
    expect(log).toContain("GPUs: installing the CUDA builds onnxruntime → onnxruntime-gpu");
    expect(log).toContain("installing Python requirements onnxruntime-gpu==1.20.1");
  }, 120_000);

  it("installs a requirements file pinned by hash as written, and says which CUDA builds to pin", async () => {
    const [wheel] = readdirSync(wheels).filter((file) => file.startsWith("onnxruntime-1.20.1-"));
    const hash = createHash("sha256")
      .update(readFileSync(join(wheels, wheel)))
      .digest("hex");
    const { distribution, log } = await install("pinned", [`onnxruntime==1.20.1 --hash=sha256:${hash}`], true);
    expect(distribution).toBe("onnxruntime");
    expect(log).toContain(
      "GPUs: requirements.txt pins hashes, so it is installed as written: pin the CUDA builds yourself (onnxruntime → onnxruntime-gpu)",
    );
  }, 120_000);

  it("installs onnxruntime as written without GPUs (a CPU VM, budgetml local)", async () => {
    const { distribution, log } = await install("cpu", ["onnxruntime==1.20.1"], false);
    expect(distribution).toBe("onnxruntime");
    expect(log.some((line) => line.includes("CUDA"))).toBe(false);
  }, 120_000);
});
