import { Gauge, type Registry } from "prom-client";
import { queryGpus, type GpuDevice } from "../contracts/gpuCheck";

/**
 * The VM's GPUs in `/metrics`, read from nvidia-smi at each scrape: which GPUs (`budgetml_gpu_info`,
 * by name), whether nvidia-smi answered, and each GPU's memory and utilisation. One nvidia-smi call
 * serves every GPU gauge of a scrape (prom-client collects the metrics of a scrape concurrently).
 * Each worker of a multi-worker server reads the same GPUs: the cluster's /metrics takes one
 * worker's reading (`aggregator: "first"`, runtime/clusterMetrics.ts) rather than their sum.
 */
export function registerGpuMetrics(registry: Registry, query: () => Promise<GpuDevice[]> = () => queryGpus()): void {
  let inFlight: Promise<GpuDevice[] | undefined> | undefined;
  const sample = () =>
    (inFlight ??= query()
      .catch(() => undefined)
      .finally(() => setTimeout(() => (inFlight = undefined), 500).unref()));
  const gpuGauge = (
    name: string,
    help: string,
    value: (device: GpuDevice) => number,
    labels: (device: GpuDevice) => Record<string, string> = (device) => ({ gpu: String(device.index) }),
  ) =>
    new Gauge({
      name,
      help,
      labelNames: Object.keys(labels({ index: 0, name: "", uuid: "", driverVersion: "" } as GpuDevice)),
      registers: [registry],
      aggregator: "first",
      async collect() {
        const devices = await sample();
        this.reset();
        for (const device of devices ?? []) this.set(labels(device), value(device));
      },
    });

  gpuGauge(
    "budgetml_gpu_info",
    "The GPUs nvidia-smi sees (value 1), by index, name, UUID and driver version",
    () => 1,
    (device) => ({
      gpu: String(device.index),
      name: device.name,
      uuid: device.uuid,
      driver_version: device.driverVersion,
    }),
  );
  gpuGauge("budgetml_gpu_memory_used_bytes", "GPU memory in use, per GPU", (device) => device.memoryUsedMiB * 2 ** 20);
  gpuGauge("budgetml_gpu_memory_total_bytes", "GPU memory, per GPU", (device) => device.memoryTotalMiB * 2 ** 20);
  gpuGauge(
    "budgetml_gpu_utilization_ratio",
    "Share of the last sample period the GPU was busy (0-1), per GPU",
    (device) => device.utilizationPercent / 100,
  );
  new Gauge({
    name: "budgetml_gpu_up",
    help: "Whether nvidia-smi answered at this scrape (1) or failed (0)",
    registers: [registry],
    aggregator: "first",
    async collect() {
      this.set((await sample()) ? 1 : 0);
    },
  });
}
