import type { Gpus } from "../contracts/accelerators";
import { GPU_HOST_PRICES, GPU_PRICE_DATE, GPU_PRICES } from "./gpuPrices";

/**
 * An ESTIMATE of what a deployment costs per month, from a dated table of Google's list prices
 * (us-central1, USD). Real bills differ by region, discounts and usage; spot prices move.
 */
export const PRICE_DATE = "2025-06-01";
export const HOURS_PER_MONTH = 730;

/** Hourly list prices: on demand and spot. */
export const MACHINE_PRICES: Record<string, { onDemand: number; spot: number }> = {
  "e2-micro": { onDemand: 0.00838, spot: 0.00251 },
  "e2-small": { onDemand: 0.01675, spot: 0.00503 },
  "e2-medium": { onDemand: 0.03351, spot: 0.01005 },
  "e2-standard-2": { onDemand: 0.06701, spot: 0.0201 },
  "e2-standard-4": { onDemand: 0.13402, spot: 0.04021 },
  "e2-highmem-2": { onDemand: 0.0904, spot: 0.02712 },
  "n1-standard-1": { onDemand: 0.04749, spot: 0.01007 },
  "n2-standard-2": { onDemand: 0.09712, spot: 0.0235 },
  "n2-standard-4": { onDemand: 0.19423, spot: 0.047 },
};
/** Balanced persistent disk, per GB-month. */
export const DISK_PER_GB_MONTH = 0.1;
/** An external IPv4 address on a VM, per hour. */
export const IP_PER_HOUR = 0.005;
/** A reserved static address attached to no running VM (a parked model's), per hour: Google's VPC pricing, "static external IP address, reserved but unused". */
const IDLE_IP_PER_HOUR = 0.01;

/** What the deployment costs per month, next to the same machine on demand. */
export interface CostEstimate {
  /** Monthly USD for the chosen provisioning; `undefined` for a machine type not in the table. */
  monthlyUsd: number | undefined;
  /** Monthly USD for the same machine, disk and address on demand. */
  onDemandMonthlyUsd: number | undefined;
  /**
   * With spot: what each day costs on top while the restarter runs the instance on demand for
   * lack of spot capacity (until it returns to spot, see `spotReturnWindow`); 0 otherwise.
   */
  fallbackExtraUsdPerDay: number | undefined;
  /** With autoscaled replicas: monthly USD while the autoscaler runs `replicas.max`. @default absent */
  maxMonthlyUsd?: number;
  /** What the figures are: an estimate, and from when. */
  note: string;
}

/**
 * The machine's hourly prices, its GPUs included (Google bills each GPU on top of the machine, at
 * its own spot or on-demand price: components/gpuPrices.ts); undefined when a part is not in the tables.
 */
function hourlyPrices(machineType: string, gpus: Gpus | undefined): { onDemand: number; spot: number } | undefined {
  const machine = MACHINE_PRICES[machineType] ?? GPU_HOST_PRICES[machineType];
  const gpu = gpus && GPU_PRICES[gpus.type];
  if (!machine || (gpus && !gpu)) return undefined;
  const count = gpus?.count ?? 0;
  return { onDemand: machine.onDemand + count * (gpu?.onDemand ?? 0), spot: machine.spot + count * (gpu?.spot ?? 0) };
}

/**
 * What the deployment costs per month. A parked model (`running: false`) pays no compute: only its
 * disk and its reserved address, which Google bills at the idle rate while no VM runs on it.
 * `gpus`: the VM's GPUs (attached or carried by its machine type), priced with it.
 */
export function estimateMonthlyCost(
  machineType: string,
  provisioning: "spot" | "preemptible" | "standard",
  diskSizeGb: number,
  running = true,
  gpus?: Gpus,
): CostEstimate {
  const price = hourlyPrices(machineType, gpus);
  const round = (usd: number) => Math.round(usd * 100) / 100;
  const note = `estimate from list prices of ${PRICE_DATE}${gpus ? ` (GPU and its machine: ${GPU_PRICE_DATE})` : ""} (us-central1, USD, 730 h/month); the restarter, scheduler and Pub/Sub stay within free tiers`;
  const disk = diskSizeGb * DISK_PER_GB_MONTH;
  if (!running) {
    const parked = round(disk + IDLE_IP_PER_HOUR * HOURS_PER_MONTH);
    return {
      monthlyUsd: parked,
      onDemandMonthlyUsd: parked,
      fallbackExtraUsdPerDay: 0,
      note: `parked (running: false): the VM is stopped, compute costs nothing; the disk and the reserved address still cost; ${note}`,
    };
  }
  if (!price)
    return {
      monthlyUsd: undefined,
      onDemandMonthlyUsd: undefined,
      fallbackExtraUsdPerDay: undefined,
      note: `${gpus ? `${machineType} with ${gpus.count} × ${gpus.type}` : machineType} is not in budgetml's price table; ${note}`,
    };
  const fixed = disk + IP_PER_HOUR * HOURS_PER_MONTH;
  const hourly = provisioning === "standard" ? price.onDemand : price.spot;
  return {
    monthlyUsd: round(hourly * HOURS_PER_MONTH + fixed),
    onDemandMonthlyUsd: round(price.onDemand * HOURS_PER_MONTH + fixed),
    fallbackExtraUsdPerDay: provisioning === "standard" ? 0 : round((price.onDemand - price.spot) * 24),
    note,
  };
}
