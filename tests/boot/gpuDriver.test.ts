import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GPU_STANDIN_VARIABLE } from "../../contracts/accelerators";
import {
  CUDA_LIBRARY_PATH,
  gpuRuntimeEnv,
  gpuStep,
  INSTALLER_DIR,
  installerUrl,
  MAX_INSTALLER_RUNS,
  prepareGpus,
} from "../../images/vm/gpuDriver";
import {
  buildFakeInstaller,
  FAKE_GPU_FIXTURES,
  startDownloadLocation,
  type DownloadLocation,
} from "../support/fakeGpuInstaller";

// The boot's GPU step under a temporary root: Google's installer (a stand-in with its interface:
// tests/fixtures/gpu/fakeInstaller) downloaded from a loopback stand-in of its bucket and run until
// the driver works, across the reboot it asks for; once per disk; then nvidia-smi (a stand-in too)
// decides. The step runs as on a VM except for the reboot, which here is the test booting again.
const T4 = { type: "nvidia-tesla-t4", count: 1 };
let bucket: DownloadLocation;
let work: string;
const savedPath = process.env.PATH;

beforeAll(async () => {
  bucket = await startDownloadLocation();
  work = mkdtempSync(join(tmpdir(), "budgetml-gpu-step-"));
  process.env.PATH = `${FAKE_GPU_FIXTURES}:${savedPath}`;
});

afterAll(async () => {
  process.env.PATH = savedPath;
  delete process.env.FAKE_GPU_STATE;
  await bucket.close();
  rmSync(work, { recursive: true, force: true });
});

let disks = 0;
/** A fresh disk (root) with its own GPU state, and an installer in the bucket whose reboot is only a line. */
async function freshDisk(options: { failDriver?: boolean } = {}) {
  const root = join(work, `disk-${(disks += 1)}`);
  const gpuState = join(root, "var", "lib", "fake-gpu", "state");
  mkdirSync(join(root, "var", "lib", "fake-gpu"), { recursive: true });
  process.env.FAKE_GPU_STATE = gpuState;
  const installer = join(work, `installer-${disks}.pyz`);
  await buildFakeInstaller(installer, { gpuState, reboot: ["echo", "(reboot)"], failDriver: options.failDriver });
  const path = `/installer-${disks}/cuda_installer.pyz`;
  bucket.serve(path, readFileSync(installer));
  const lines: string[] = [];
  const options_ = {
    root,
    home: join(root, "opt", "budgetml"),
    log: (line: string) => lines.push(line),
    env: { BUDGET_ROOT: root, BUDGET_GPU_INSTALLER_URL: `${bucket.url}${path}` },
  };
  return {
    root,
    gpuState,
    lines,
    options: options_,
    downloads: () => bucket.requested.filter((p) => p === path).length,
    installerRuns: () =>
      existsSync(join(root, INSTALLER_DIR, "runs.log"))
        ? readFileSync(join(root, INSTALLER_DIR, "runs.log"), "utf8")
            .trim()
            .split("\n").length
        : 0,
  };
}

describe("the boot's GPU step", () => {
  it("installs the driver with Google's installer across its reboot, once per disk; later boots only check", async () => {
    const disk = await freshDisk();
    // First boot: the installer prepares the system and reboots.
    expect(await prepareGpus(T4, disk.options)).toEqual({ check: "rebooting" });
    expect(disk.downloads()).toBe(1);
    expect(disk.lines).toEqual(
      expect.arrayContaining([
        `downloading Google's GPU driver installer from ${disk.options.env.BUDGET_GPU_INSTALLER_URL}`,
        "installing the NVIDIA driver for 1 × nvidia-tesla-t4 with Google's installer (run 1; it may reboot the VM)",
        "cuda_installer: Rebooting now.",
        "Google's installer is rebooting the VM to go on with the driver; the runtime starts after the reboot",
      ]),
    );
    // The boot after the reboot: the installer goes on and installs the driver; nvidia-smi passes.
    disk.lines.length = 0;
    const after = await prepareGpus(T4, disk.options);
    expect(after).toMatchObject({ check: "passed", devices: [{ name: "Tesla T4", driverVersion: "595.84" }] });
    expect(disk.lines).toEqual(
      expect.arrayContaining([
        "cuda_installer: GPU driver installation completed!",
        "NVIDIA driver 595.84 installed (once per disk)",
        "GPUs ready: Tesla T4",
      ]),
    );
    expect(disk.downloads()).toBe(1); // kept on the disk
    expect(disk.installerRuns()).toBe(2);
    // A boot after a preemption: nothing installed, nothing downloaded, the GPUs checked.
    disk.lines.length = 0;
    expect(await prepareGpus(T4, disk.options)).toMatchObject({ check: "passed" });
    expect(disk.lines).toEqual([
      "NVIDIA driver 595.84 already installed on this disk; checking the GPUs",
      "GPUs ready: Tesla T4",
    ]);
    expect(disk.installerRuns()).toBe(2);
    expect(disk.downloads()).toBe(1);
  });

  it("says so when the GPU stops answering later, and does not reinstall", async () => {
    const disk = await freshDisk();
    await prepareGpus(T4, disk.options);
    await prepareGpus(T4, disk.options);
    writeFileSync(disk.gpuState, "lost"); // the GPU fell off the bus
    disk.lines.length = 0;
    const check = await prepareGpus(T4, disk.options);
    expect(check).toEqual({
      check: "failed",
      devices: [],
      reason:
        "nvidia-smi failed: NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.",
    });
    expect(disk.lines).toEqual([
      "NVIDIA driver 595.84 already installed on this disk; checking the GPUs",
      `FAILED: GPU check: ${(check as { reason: string }).reason}; the runtime starts and reports load_failed`,
    ]);
    expect(disk.installerRuns()).toBe(2);
  });

  it("gives up on an installer that keeps failing instead of rebooting forever", async () => {
    const disk = await freshDisk({ failDriver: true });
    expect(await prepareGpus(T4, disk.options)).toEqual({ check: "rebooting" });
    const failed = await prepareGpus(T4, disk.options);
    expect(failed).toMatchObject({
      check: "failed",
      reason: expect.stringMatching(
        /^Google's installer failed \(exit 1\): .*The installation failed :\(; its logs are in .*\/opt\/google\/cuda-installer$/,
      ),
    });
    for (let run = 3; run <= MAX_INSTALLER_RUNS; run += 1) await prepareGpus(T4, disk.options);
    disk.lines.length = 0;
    expect(await prepareGpus(T4, disk.options)).toMatchObject({
      check: "failed",
      reason: expect.stringMatching(
        new RegExp(`^Google's installer ran ${MAX_INSTALLER_RUNS} times without a working driver; its logs are in `),
      ),
    });
    expect(disk.installerRuns()).toBe(MAX_INSTALLER_RUNS);
    expect(disk.lines).toEqual([expect.stringMatching(/^FAILED: GPU driver: Google's installer ran 4 times/)]);
  });

  it("fails clearly when the installer cannot be downloaded", async () => {
    const disk = await freshDisk();
    const options = {
      ...disk.options,
      env: { ...disk.options.env, BUDGET_GPU_INSTALLER_URL: `${bucket.url}/missing.pyz` },
    };
    expect(await prepareGpus(T4, options)).toEqual({
      check: "failed",
      devices: [],
      reason: `could not download ${bucket.url}/missing.pyz: HTTP 404`,
    });
    expect(existsSync(join(disk.root, INSTALLER_DIR, "cuda_installer.pyz"))).toBe(false);
  });

  it("does nothing without GPUs, and only says so on a machine standing in for the VM without them", async () => {
    const disk = await freshDisk();
    expect(await gpuStep("", disk.options)).toBeUndefined();
    const standIn = { ...disk.options, env: { ...disk.options.env, [GPU_STANDIN_VARIABLE]: "cpu" } };
    expect(await gpuStep("nvidia-tesla-t4:1", standIn)).toBeUndefined();
    expect(disk.lines).toEqual([
      "nvidia-tesla-t4:1 declared; no GPU on this machine standing in for the VM: the model serves on its CPU",
    ]);
    expect(disk.installerRuns()).toBe(0);
    expect(gpuRuntimeEnv("nvidia-tesla-t4:1", { [GPU_STANDIN_VARIABLE]: "cpu" })).toEqual({});
    expect(gpuRuntimeEnv("", {})).toEqual({});
    expect(gpuRuntimeEnv("nvidia-tesla-t4:1", {})).toEqual({
      BUDGET_ACCELERATOR: "nvidia-tesla-t4:1",
      LD_LIBRARY_PATH: CUDA_LIBRARY_PATH,
    });
  });

  it("downloads the installer from Google's bucket for the zone's multi-region, as Google's own script does", () => {
    const url = installerUrl;
    expect(url("us-central1-a")).toBe(
      "https://storage.googleapis.com/compute-gpu-installation-us/installer/latest/cuda_installer.pyz",
    );
    expect(url("europe-west4-b")).toMatch(/compute-gpu-installation-eu\//);
    expect(url("me-west1-b")).toMatch(/compute-gpu-installation-eu\//);
    expect(url("asia-east1-a")).toMatch(/compute-gpu-installation-asia\//);
    expect(url("australia-southeast1-a")).toMatch(/compute-gpu-installation-asia\//);
    expect(url("southamerica-east1-a")).toMatch(/compute-gpu-installation-us\//);
  });
});
