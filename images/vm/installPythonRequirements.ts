import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { PREDICTOR_FILES, PYTHON_VENV_DIR } from "../../contracts/predictorFiles";
import { runtimeEnvironment } from "../../contracts/runtimeEnvironment";
import { pipRequirementProblem, requiresHashes } from "../../contracts/pipRequirements";
import { bootEnv, type BootEnv } from "./bootEnvironment";
import { pythonCudaBuilds } from "./cudaBuilds";
import { removeTree } from "./extractBundle";
import { folderFor, runInstallStep, type RunAs } from "./installAccount";

const run = promisify(execFile);

/** The folder, beside the environment, that pip may use as its home while it installs (removed after). */
const INSTALL_HOME = ".install-home";

/**
 * Installs a Python predictor's requirements with pip into `dir/venv`, as `user` (never as root:
 * a package's setup code runs with the rights of whoever installs it). `dir` is the predictor's
 * `.partial` folder — root's, unpacked from a bundle checked against its name — named by the
 * bundle's hash once complete, so a reboot finds the environment there and installs nothing. The
 * installer can write only to `venv` and a home folder of its own, both created here, empty, for
 * it: root changes the owner of nothing else, and removes the home folder without following links.
 * The requirements are checked again here, line by line, as when the bundle was built: pip options
 * and URLs are refused (a bundle made by hand cannot point pip at another index or turn off TLS
 * checks); lines pinned by `--hash` make pip require hashes for everything it installs.
 * Without requirements there is no environment: the runtime uses `python3` itself. pip honours
 * its own environment variables (`PIP_INDEX_URL`, `PIP_NO_INDEX`, `PIP_FIND_LINKS`), which is how
 * the tests install offline.
 */
export async function installPythonRequirements(
  dir: string,
  log: (message: string) => void,
  user?: RunAs,
  python = bootEnv().BUDGET_PYTHON || "python3",
  gpus = false,
): Promise<void> {
  let requirementsFile = join(dir, PREDICTOR_FILES.pythonRequirements);
  const written = existsSync(requirementsFile)
    ? (await readFile(requirementsFile, "utf8")).split("\n").filter((line) => line.trim())
    : [];
  if (written.length === 0) return;
  const problems = written.map((line) => pipRequirementProblem(line)).filter(Boolean);
  if (problems.length > 0) throw new Error(`${PREDICTOR_FILES.pythonRequirements} refused: ${problems.join("; ")}`);
  // With GPUs, the packages that have a CUDA build get it (images/vm/cudaBuilds.ts) — unless the
  // file pins hashes: they name the files as written (the CPU builds), and pip's hash mode would
  // refuse the CUDA builds and their new dependencies.
  const cuda = gpus ? pythonCudaBuilds(written) : { requirements: written, swapped: [] };
  const pinned = cuda.swapped.length > 0 && requiresHashes(written);
  if (pinned)
    log(
      `GPUs: ${PREDICTOR_FILES.pythonRequirements} pins hashes, so it is installed as written: pin the CUDA builds yourself (${cuda.swapped.join(", ")})`,
    );
  const { requirements, swapped } = pinned ? { requirements: written, swapped: [] } : cuda;
  if (swapped.length > 0) {
    log(`GPUs: installing the CUDA builds ${swapped.join(", ")}`);
    requirementsFile = join(dir, "requirements-cuda.txt");
    await writeFile(requirementsFile, `${requirements.join("\n")}\n`);
  }
  log(`installing Python requirements ${requirements.join(", ")}`);
  await ensureVenvSupport(python, log);
  const venv = join(dir, PYTHON_VENV_DIR);
  const home = join(dir, INSTALL_HOME);
  await folderFor(venv, user);
  await folderFor(home, user);
  const as = {
    user,
    cwd: dir,
    writable: [venv, home],
    env: {
      HOME: home,
      PIP_NO_CACHE_DIR: "1",
      PIP_DISABLE_PIP_VERSION_CHECK: "1",
      PIP_NO_INPUT: "1",
    },
  };
  try {
    // Debian leaves venv's pip bootstrap to the python3-venv package.
    await runInstallStep(
      `creating a Python virtual environment with ${python} (on Debian: apt-get install python3-venv)`,
      python,
      ["-m", "venv", venv],
      as,
    );
    const hashes = requiresHashes(requirements) ? ["--require-hashes"] : [];
    await runInstallStep(
      "pip install",
      join(venv, "bin", "python"),
      ["-m", "pip", "install", ...hashes, "--requirement", requirementsFile],
      as,
    );
  } finally {
    await removeTree(home);
  }
}

/**
 * The runtime's environment for the installed predictor in `dir`: which file, and which Python —
 * the predictor's virtual environment when it has requirements, else the boot's own
 * `BUDGET_PYTHON` if set (the local deployment), else `python3`.
 */
export function installedPredictorEnv(dir: string, env: BootEnv = bootEnv()): Record<string, string> {
  if (!existsSync(join(dir, PREDICTOR_FILES.python)))
    return runtimeEnvironment({ BUDGET_PREDICTOR_PATH: join(dir, PREDICTOR_FILES.javascript) });
  const venvPython = join(dir, PYTHON_VENV_DIR, "bin", "python");
  const python = existsSync(venvPython) ? venvPython : env.BUDGET_PYTHON;
  return runtimeEnvironment({
    BUDGET_PREDICTOR_PATH: join(dir, PREDICTOR_FILES.python),
    BUDGET_PYTHON: python || undefined,
  });
}

/**
 * Debian's python3 leaves `venv`'s pip bootstrap (ensurepip) to the python3-venv package, which
 * Google's Debian images do not install. On a VM (root, no test root) it is installed here, once
 * per disk; elsewhere the error says what to install.
 */
async function ensureVenvSupport(python: string, log: (message: string) => void): Promise<void> {
  const hasVenv = () =>
    run(python, ["-c", "import ensurepip, venv"]).then(
      () => true,
      () => false,
    );
  if (await hasVenv()) return;
  if (process.getuid?.() !== 0 || bootEnv().BUDGET_ROOT) return; // the venv step reports it
  log("installing python3-venv");
  await aptGet(["update"]);
  await aptGet(["install", "-y", "--no-install-recommends", "python3-venv"]);
}

/**
 * apt-get on a VM, as a transient systemd unit, retried while another apt holds its locks (on a
 * first boot, the image's own package jobs; `apt-get update` does not honour DPkg::Lock::Timeout
 * for the lists lock), as startup.sh does.
 */
export async function aptGet(args: string[], waitMs = 300_000): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      // A unit of its own: the roll-out unit that may call this sees the system read-only.
      await run(
        "systemd-run",
        [
          "--wait",
          "--pipe",
          "--quiet",
          "--collect",
          "--setenv=DEBIAN_FRONTEND=noninteractive",
          "--",
          "apt-get",
          "-qq",
          "-o",
          `DPkg::Lock::Timeout=${waitMs / 1000}`,
          ...args,
        ],
        { maxBuffer: 16 << 20 },
      );
      return;
    } catch (error) {
      const output = String((error as { stderr?: string }).stderr ?? error);
      if (!output.includes("Could not get lock") || Date.now() > deadline)
        throw new Error(`apt-get ${args.join(" ")} failed: ${output.trim().split("\n").slice(-2).join(" ")}`);
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }
}
