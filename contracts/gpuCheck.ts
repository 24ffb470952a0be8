// How a VM checks its GPUs with nvidia-smi: the VM's boot after installing the driver
// (images/vm/gpuDriver.ts) and the runtime before it loads the predictor (runtime/app.ts) make the same
// check; /metrics reads the same query (runtime/gpuMetrics.ts).
import { execFile } from "node:child_process";
import { GPU_MODELS, type Gpus } from "./accelerators";

/** One GPU as nvidia-smi reports it. */
export interface GpuDevice {
  index: number;
  /** nvidia-smi's name for it, e.g. "Tesla T4". */
  name: string;
  uuid: string;
  driverVersion: string;
  memoryTotalMiB: number;
  memoryUsedMiB: number;
  /** Percent of the last sample period the GPU was busy. */
  utilizationPercent: number;
}

/** The fields asked of `nvidia-smi --query-gpu`, in the order {@link parseGpuQuery} reads them. */
const FIELDS = ["index", "name", "uuid", "driver_version", "memory.total", "memory.used", "utilization.gpu"];

/** How long nvidia-smi may take: a driver that lost its GPU can hang it. */
const QUERY_TIMEOUT_MS = 15_000;

/**
 * The GPUs nvidia-smi sees: `nvidia-smi --query-gpu=… --format=csv,noheader,nounits`, one line per
 * GPU. Throws nvidia-smi's own explanation when it fails (no driver, the driver cannot reach the
 * GPU: "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver…").
 */
export function queryGpus(nvidiaSmi = "nvidia-smi"): Promise<GpuDevice[]> {
  return new Promise((resolve, reject) => {
    execFile(
      nvidiaSmi,
      [`--query-gpu=${FIELDS.join(",")}`, "--format=csv,noheader,nounits"],
      { timeout: QUERY_TIMEOUT_MS, maxBuffer: 1 << 20, env: process.env },
      (error, stdout, stderr) => {
        if (error) {
          const said = `${stdout}\n${stderr}`.trim().split("\n").filter(Boolean).slice(0, 2).join(" ");
          const why =
            (error as NodeJS.ErrnoException).code === "ENOENT"
              ? "nvidia-smi is not installed (no NVIDIA driver)"
              : error.killed
                ? `nvidia-smi did not answer within ${QUERY_TIMEOUT_MS / 1000} s`
                : `nvidia-smi failed${said ? `: ${said}` : ` (exit ${(error as { code?: unknown }).code})`}`;
          reject(new Error(why));
          return;
        }
        try {
          resolve(parseGpuQuery(stdout));
        } catch (parseError) {
          reject(parseError as Error);
        }
      },
    );
  });
}

/** Reads the lines of a `--query-gpu` answer (fields in {@link FIELDS}' order; "[N/A]" reads as 0). */
export function parseGpuQuery(csv: string): GpuDevice[] {
  return csv
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const cells = line.split(",").map((cell) => cell.trim());
      if (cells.length !== FIELDS.length) throw new Error(`nvidia-smi answered an unexpected line: "${line}"`);
      const [index, name, uuid, driverVersion, total, used, utilization] = cells;
      const number = (cell: string) => (Number.isFinite(Number(cell)) ? Number(cell) : 0);
      return {
        index: number(index),
        name,
        uuid,
        driverVersion,
        memoryTotalMiB: number(total),
        memoryUsedMiB: number(used),
        utilizationPercent: number(utilization),
      };
    });
}

/** The result of checking a VM's GPUs against what it should have. */
export type GpuCheck =
  { check: "passed"; devices: GpuDevice[] } | { check: "failed"; reason: string; devices: GpuDevice[] };

/** Why `devices` are not the `expected` GPUs, if they are not: every one of the model, as many as expected. */
export function gpuMismatch(expected: Gpus, devices: GpuDevice[]): string | undefined {
  const model = GPU_MODELS[expected.type];
  const matching = devices.filter((device) => !model || model.smiName.test(device.name));
  if (matching.length === expected.count && devices.length === expected.count) return undefined;
  const seen = devices.length ? devices.map((device) => device.name).join(", ") : "none";
  return `expected ${expected.count} × ${expected.type}${model ? ` (${model.name})` : ""}, nvidia-smi sees ${devices.length}: ${seen}`;
}

/** Asks nvidia-smi and compares: the check the boot makes before the runtime starts, and the runtime before it loads the predictor. */
export async function checkGpus(expected: Gpus, nvidiaSmi?: string): Promise<GpuCheck> {
  let devices: GpuDevice[];
  try {
    devices = await queryGpus(nvidiaSmi);
  } catch (error) {
    return { check: "failed", reason: (error as Error).message, devices: [] };
  }
  const mismatch = gpuMismatch(expected, devices);
  return mismatch ? { check: "failed", reason: mismatch, devices } : { check: "passed", devices };
}
