import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import * as gcpMetadata from "gcp-metadata";
import { GPU_STANDIN_VARIABLE, parseAcceleratorSpec, type Gpus } from "../../contracts/accelerators";
import { checkGpus, type GpuCheck } from "../../contracts/gpuCheck";
import { runtimeEnvironment } from "../../contracts/runtimeEnvironment";
import { bootEnv, type BootEnv } from "./bootEnvironment";
import { aptGet } from "./installPythonRequirements";

const run = promisify(execFile);

// The NVIDIA driver, installed once per disk by Google's documented method for Debian 12: Google's
// installer, cuda_installer.pyz from GoogleCloudPlatform/compute-gpu-installation ("Install GPU
// drivers", https://cloud.google.com/compute/docs/gpus/install-drivers-gpu; the installer's
// linux/README.md and linux/startup_script.sh, v1.9.1). `install_driver` updates the kernel within
// its series, installs its headers, DKMS and build tools, and reboots; run again after the reboot,
// it adds NVIDIA's Debian 12 repository, installs the driver (`nvidia-open`: NVIDIA's open kernel
// modules) and holds the kernel packages so an automatic upgrade cannot break it. It keeps its
// progress in /opt/google/cuda-installer (checkpoint files, logs), so a run after a reboot — or
// after a preemption in the middle — continues where the last one stopped.

/** Where Google's installer works and keeps its checkpoints and logs (its config.py, INSTALLER_DIR). */
export const INSTALLER_DIR = "/opt/google/cuda-installer";

/**
 * The CUDA 12 runtime libraries and cuDNN 9, from NVIDIA's Debian 12 repository that the installer
 * has just added: what onnxruntime's CUDA execution provider loads (onnxruntime-node's and
 * onnxruntime-gpu's; "CUDA 12.x and cuDNN 9.x", onnxruntime's CUDA EP requirements). PyTorch's
 * CUDA wheels bring their own copies and need only the driver.
 */
export const CUDA_LIBRARY_PACKAGES = [
  "cuda-cudart-12-8",
  "libcublas-12-8",
  "libcufft-12-8",
  "libcurand-12-8",
  "libcudnn9-cuda-12",
] as const;

/** Where NVIDIA's CUDA 12.8 packages put their libraries (cuDNN's go to the system's own library folder). */
export const CUDA_LIBRARY_PATH = "/usr/local/cuda-12.8/targets/x86_64-linux/lib";

/** Runs of the installer without a working driver before the boot gives up: a first run and its reboot, with room for a preemption in between. */
export const MAX_INSTALLER_RUNS = 4;

/** What the installer prints right before it reboots the VM (os_installers/__init__.py, `reboot`). */
const REBOOT_ANNOUNCEMENT = "Rebooting now";

/** How long to wait for the reboot the installer started before calling it failed. */
const REBOOT_GRACE_MS = 5 * 60_000;

/** Where the boot keeps what it did for the GPUs, once per disk. */
function statePaths(home: string) {
  const dir = join(home, "gpu");
  return { dir, installed: join(dir, "driver-installed.json"), runs: join(dir, "installer-runs") };
}

/**
 * The installer's download location: Google's bucket for the zone's multi-region, as Google's own
 * startup script and the installer's config.py name it (`compute-gpu-installation-{us,eu,asia}`;
 * Africa, Europe and the Middle East → eu; Asia and Australia → asia; the rest → us). Tests point
 * `BUDGET_GPU_INSTALLER_URL` at a loopback stand-in instead.
 */
export function installerUrl(zone: string): string {
  const continent = zone.split("-")[0];
  const multiRegion =
    { africa: "eu", europe: "eu", me: "eu", asia: "asia", australia: "asia" }[continent as "africa"] ?? "us";
  return `https://storage.googleapis.com/compute-gpu-installation-${multiRegion}/installer/latest/cuda_installer.pyz`;
}

/** What the GPU step ended in. `rebooting`: the installer is rebooting the VM; the next boot continues. */
export type GpuSetup = GpuCheck | { check: "rebooting" };

/** Where and how the step runs. */
export interface GpuStepOptions {
  /** `/` on a VM; a temporary root under tests. */
  root: string;
  home: string;
  log: (message: string) => void;
  env?: BootEnv;
}

/**
 * The boot's GPU step for the VM's `budget-accelerator` metadata: none without GPUs, nothing but a
 * line on a machine standing in for the VM without them (the local deployment), else
 * {@link prepareGpus}.
 */
export async function gpuStep(accelerator: string, options: GpuStepOptions): Promise<GpuSetup | undefined> {
  if (!accelerator) return undefined;
  if ((options.env ?? bootEnv())[GPU_STANDIN_VARIABLE] === "cpu") {
    options.log(`${accelerator} declared; no GPU on this machine standing in for the VM: the model serves on its CPU`);
    return undefined;
  }
  return prepareGpus(parseAcceleratorSpec(accelerator), options);
}

/**
 * Makes the VM's GPUs usable before the runtime starts, and says whether they are: the driver
 * installed once per disk (a later boot — after a preemption too — only checks), then nvidia-smi
 * must show the declared GPUs. A failure is logged as `FAILED: …` on the serial console; the
 * runtime still starts and, checking the GPUs itself, answers `load_failed` rather than serving
 * the model on the CPU.
 */
export async function prepareGpus(gpus: Gpus, options: GpuStepOptions): Promise<GpuSetup> {
  const { home, log } = options;
  const paths = statePaths(home);
  if (existsSync(paths.installed)) {
    const installed = JSON.parse(await readFile(paths.installed, "utf8")) as { driver?: string };
    log(`NVIDIA driver ${installed.driver ?? ""} already installed on this disk; checking the GPUs`);
  } else {
    const installed = await installDriver(gpus, options);
    if (installed) return installed;
  }
  const check = await checkGpus(gpus);
  if (check.check === "passed") log(`GPUs ready: ${check.devices.map((device) => device.name).join(", ")}`);
  else log(`FAILED: GPU check: ${check.reason}; the runtime starts and reports load_failed`);
  return check;
}

/**
 * Runs Google's installer until the driver works, then installs the CUDA libraries and records the
 * driver as installed. Returns how the step ended when it cannot go on to the GPU check (a reboot
 * under way, a failed installation); undefined once the driver is in place.
 */
async function installDriver(gpus: Gpus, options: GpuStepOptions): Promise<GpuSetup | undefined> {
  const { root, log, env = bootEnv() } = options;
  const paths = statePaths(options.home);
  await mkdir(paths.dir, { recursive: true });
  const runs = existsSync(paths.runs) ? Number(await readFile(paths.runs, "utf8")) || 0 : 0;
  const installerDir = join(root, INSTALLER_DIR);
  const failed = (reason: string): GpuSetup => {
    log(`FAILED: GPU driver: ${reason}; the runtime starts and reports load_failed`);
    return { check: "failed", reason, devices: [] };
  };
  if (runs >= MAX_INSTALLER_RUNS)
    return failed(
      `Google's installer ran ${runs} times without a working driver; its logs are in ${installerDir}. Replace the VM (a new disk) to start over`,
    );
  const onVm = isVm(env);
  const python = onVm ? "python3" : env.BUDGET_PYTHON || "python3";
  if (onVm) await ensurePython3(log);
  const installer = join(installerDir, "cuda_installer.pyz");
  if (!existsSync(installer)) {
    const url = env.BUDGET_GPU_INSTALLER_URL || installerUrl(await zoneOf());
    log(`downloading Google's GPU driver installer from ${url}`);
    try {
      await download(url, installer);
    } catch (error) {
      return failed(`could not download ${url}: ${(error as Error).message}`);
    }
  }
  // A preemption may have stopped the last run inside dpkg: apt refuses to go on until it is finished.
  if (runs > 0 && onVm) await run("dpkg", ["--configure", "-a"], { env: noninteractive() }).catch(() => undefined);
  await writeFile(paths.runs, String(runs + 1));
  log(
    `installing the NVIDIA driver for ${gpus.count} × ${gpus.type} with Google's installer (run ${runs + 1}; it may reboot the VM)`,
  );
  const { code, output } = await runInstaller(python, installer, installerDir, log);
  const check = await checkGpus(gpus);
  if (check.check !== "passed") {
    if (code === 0 && output.includes(REBOOT_ANNOUNCEMENT)) {
      log("Google's installer is rebooting the VM to go on with the driver; the runtime starts after the reboot");
      return { check: "rebooting" };
    }
    return failed(
      code === 0
        ? `Google's installer finished but the driver does not work (${check.reason}); its logs are in ${installerDir}`
        : `Google's installer failed (exit ${code}): ${lastLines(output)}; its logs are in ${installerDir}`,
    );
  }
  if (onVm) {
    log(`installing the CUDA 12 runtime libraries and cuDNN 9 (${CUDA_LIBRARY_PACKAGES.join(", ")})`);
    try {
      await aptGet(["update"]);
      await aptGet(["install", "-y", "--no-install-recommends", ...CUDA_LIBRARY_PACKAGES]);
    } catch (error) {
      return failed(`could not install the CUDA libraries: ${(error as Error).message}`);
    }
  }
  const driver = check.devices[0]?.driverVersion ?? "";
  await writeFile(
    paths.installed,
    JSON.stringify({ driver, installedAt: new Date().toISOString(), cudaLibraries: onVm ? CUDA_LIBRARY_PACKAGES : [] }),
  );
  log(`NVIDIA driver ${driver} installed (once per disk)`);
  return undefined;
}

/**
 * The runtime's environment for the VM's GPUs: which to check (`BUDGET_ACCELERATOR`) and where the
 * CUDA libraries are. Nothing on a machine standing in for the VM without its GPUs (the local
 * deployment), where the model serves on the CPU.
 */
export function gpuRuntimeEnv(accelerator: string, env: BootEnv = bootEnv()): Record<string, string> {
  if (!accelerator || env[GPU_STANDIN_VARIABLE] === "cpu") return {};
  return { ...runtimeEnvironment({ BUDGET_ACCELERATOR: accelerator }), LD_LIBRARY_PATH: CUDA_LIBRARY_PATH };
}

/** A VM: root, not a test or local root. Elsewhere nothing is installed with apt or dpkg. */
function isVm(env: BootEnv): boolean {
  return process.getuid?.() === 0 && !env.BUDGET_ROOT;
}

function noninteractive(): NodeJS.ProcessEnv {
  return { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
}

/** The installer is a Python zip application (Python 3.8 or later); Debian 12 images may lack python3. */
async function ensurePython3(log: (message: string) => void): Promise<void> {
  if (
    await run("python3", ["--version"]).then(
      () => true,
      () => false,
    )
  )
    return;
  log("installing python3 for Google's GPU driver installer");
  await aptGet(["update"]);
  await aptGet(["install", "-y", "--no-install-recommends", "python3"]);
}

/** The VM's zone, from the metadata server (`projects/N/zones/Z`). */
async function zoneOf(): Promise<string> {
  return (
    String(await gcpMetadata.instance("zone"))
      .split("/")
      .pop() ?? ""
  );
}

/** Downloads `url` to `file` whole (written aside, then renamed), so a cut download never looks complete. */
async function download(url: string, file: string): Promise<void> {
  const answer = await fetch(url, { signal: AbortSignal.timeout(120_000) });
  if (!answer.ok) throw new Error(`HTTP ${answer.status}`);
  await mkdir(join(file, ".."), { recursive: true });
  await writeFile(`${file}.partial`, Buffer.from(await answer.arrayBuffer()));
  await rename(`${file}.partial`, file);
}

/** Runs `python3 cuda_installer.pyz install_driver` as Google documents it, its output on the serial console. */
function runInstaller(
  python: string,
  installer: string,
  cwd: string,
  log: (message: string) => void,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(python, [installer, "install_driver"], { cwd, env: noninteractive() });
    let output = "";
    let pending = "";
    const take = (chunk: Buffer) => {
      output += chunk;
      pending += chunk;
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) if (line.trim()) log(`cuda_installer: ${line}`);
    };
    child.stdout.on("data", take);
    child.stderr.on("data", take);
    child.on("error", (error) => resolve({ code: -1, output: `${output}\n${error.message}` }));
    child.on("close", (code) => {
      if (pending.trim()) log(`cuda_installer: ${pending}`);
      resolve({ code, output });
    });
  });
}

function lastLines(output: string): string {
  return output.trim().split("\n").slice(-3).join(" ");
}

/**
 * While the installer's reboot takes the VM down: nothing more to start. Should the reboot not come,
 * the boot fails after a grace period rather than wait forever.
 */
export async function awaitReboot(graceMs = REBOOT_GRACE_MS): Promise<never> {
  await new Promise((resolve) => setTimeout(resolve, graceMs));
  throw new Error(`Google's GPU driver installer announced a reboot that did not come within ${graceMs / 1000} s`);
}
