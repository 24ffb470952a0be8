import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { chown, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { PREDICTOR_FILES, PYTHON_VENV_DIR } from "../../bundles/predictorFiles";
import { pythonCudaBuilds } from "./cudaBuilds";

const run = promisify(execFile);

/** The runtime's unprivileged account on the VM (systemd runs the runtime as it). */
export const RUNTIME_USER = "budgetml";

/** A user to run a step as. */
export interface RunAs {
  uid: number;
  gid: number;
}

/**
 * Whom pip runs as: `BUDGET_RUNTIME_USER` if set (tests: an existing unprivileged account), else
 * the runtime's own account when the boot runs as root on a VM (created if missing), else whoever
 * runs the boot (the local deployment, as an ordinary user).
 */
export async function pipUser(env: NodeJS.ProcessEnv = process.env): Promise<RunAs | undefined> {
  const name =
    env.BUDGET_RUNTIME_USER ||
    (process.getuid?.() === 0 && env.BUDGET_SERVICE_MANAGER !== "process" ? RUNTIME_USER : undefined);
  if (!name) return undefined;
  if (name === RUNTIME_USER)
    await run("id", [name]).catch(() =>
      run("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name]),
    );
  const [{ stdout: uid }, { stdout: gid }] = await Promise.all([run("id", ["-u", name]), run("id", ["-g", name])]);
  return { uid: Number(uid), gid: Number(gid) };
}

/**
 * Installs a Python predictor's requirements with pip into `dir/venv`, as `user` (never as root:
 * a package's setup code runs with the rights of whoever installs it). `dir` is the predictor's
 * `.partial` folder, named by the bundle's hash once complete, so a reboot finds the environment
 * there and installs nothing. Without requirements there is no environment: the runtime uses
 * `python3` itself. pip honours its own environment variables (`PIP_INDEX_URL`, `PIP_NO_INDEX`,
 * `PIP_FIND_LINKS`), which is how the tests install offline.
 */
export async function installPythonRequirements(
  dir: string,
  log: (message: string) => void,
  user?: RunAs,
  python = process.env.BUDGET_PYTHON || "python3",
  gpus = false,
): Promise<void> {
  let requirementsFile = join(dir, PREDICTOR_FILES.pythonRequirements);
  const written = existsSync(requirementsFile)
    ? (await readFile(requirementsFile, "utf8")).split("\n").filter((line) => line.trim())
    : [];
  if (written.length === 0) return;
  // With GPUs, the packages that have a CUDA build get it (images/vm/cudaBuilds.ts).
  const { requirements, swapped } = gpus ? pythonCudaBuilds(written) : { requirements: written, swapped: [] };
  if (swapped.length > 0) {
    log(`GPUs: installing the CUDA builds ${swapped.join(", ")}`);
    requirementsFile = join(dir, "requirements-cuda.txt");
    await writeFile(requirementsFile, `${requirements.join("\n")}\n`);
  }
  log(`installing Python requirements ${requirements.join(", ")}`);
  if (user) await chownTree(dir, user);
  const as = {
    ...user,
    maxBuffer: 16 << 20,
    cwd: dir,
    env: { ...process.env, HOME: dir, PIP_NO_CACHE_DIR: "1", PIP_DISABLE_PIP_VERSION_CHECK: "1", PIP_NO_INPUT: "1" },
  };
  await ensureVenvSupport(python, log);
  const venv = join(dir, PYTHON_VENV_DIR);
  await run(python, ["-m", "venv", venv], as).catch((error: { stderr?: string; message: string }) => {
    const reason = (error.stderr || error.message).trim().split("\n").slice(-2).join(" ");
    // Debian leaves venv's pip bootstrap to the python3-venv package.
    throw new Error(
      `could not create a Python virtual environment with ${python} (on Debian: apt-get install python3-venv): ${reason}`,
    );
  });
  await run(join(venv, "bin", "python"), ["-m", "pip", "install", "--requirement", requirementsFile], as).catch(
    (error: { stderr?: string; message: string }) => {
      throw new Error(`pip install failed: ${(error.stderr || error.message).trim().split("\n").slice(-3).join(" ")}`);
    },
  );
}

/**
 * The runtime's environment for the installed predictor in `dir`: which file, and which Python —
 * the predictor's virtual environment when it has requirements, else the boot's own
 * `BUDGET_PYTHON` if set (the local deployment), else `python3`.
 */
export function installedPredictorEnv(dir: string, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  if (!existsSync(join(dir, PREDICTOR_FILES.python)))
    return { BUDGET_PREDICTOR_PATH: join(dir, PREDICTOR_FILES.javascript) };
  const venvPython = join(dir, PYTHON_VENV_DIR, "bin", "python");
  const python = existsSync(venvPython) ? venvPython : env.BUDGET_PYTHON;
  return { BUDGET_PREDICTOR_PATH: join(dir, PREDICTOR_FILES.python), ...(python ? { BUDGET_PYTHON: python } : {}) };
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
  if (process.getuid?.() !== 0 || process.env.BUDGET_ROOT) return; // the venv step reports it
  log("installing python3-venv");
  await aptGet(["update"]);
  await aptGet(["install", "-y", "--no-install-recommends", "python3-venv"]);
}

/**
 * apt-get, retried while another apt holds its locks (on a first boot, the image's own package
 * jobs; `apt-get update` does not honour DPkg::Lock::Timeout for the lists lock), as startup.sh does.
 */
export async function aptGet(args: string[], waitMs = 300_000): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      await run("apt-get", ["-qq", "-o", `DPkg::Lock::Timeout=${waitMs / 1000}`, ...args], {
        env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
        maxBuffer: 16 << 20,
      });
      return;
    } catch (error) {
      const output = String((error as { stderr?: string }).stderr ?? error);
      if (!output.includes("Could not get lock") || Date.now() > deadline)
        throw new Error(`apt-get ${args.join(" ")} failed: ${output.trim().split("\n").slice(-2).join(" ")}`);
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }
}

/** Gives `dir` and everything in it to `user`, so a step run as that user can write there. */
export async function chownTree(dir: string, { uid, gid }: RunAs): Promise<void> {
  await chown(dir, uid, gid);
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    await chown(join(entry.parentPath ?? (entry as unknown as { path: string }).path, entry.name), uid, gid);
  }
}
