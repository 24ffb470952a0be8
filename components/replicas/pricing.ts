import type { CostEstimate } from "../pricing";
import { DISK_PER_GB_MONTH, HOURS_PER_MONTH, IP_PER_HOUR, MACHINE_PRICES, PRICE_DATE } from "../pricing";
import type { ReplicaPlan } from "./replicasArgs";

/**
 * The load balancer's forwarding rules: Google bills the first five of a project together, per
 * hour, whatever they carry (Cloud Load Balancing pricing, "Forwarding rules"); a model declares
 * two (HTTPS and the HTTP redirect). About $18.25 a month: the price of this mode.
 */
export const FORWARDING_RULES_PER_HOUR = 0.025;
/** Data the load balancer processes, inbound and outbound, per GB (Cloud Load Balancing pricing). */
export const LOAD_BALANCER_DATA_PER_GB = 0.008;

/**
 * What a replicated model costs per month: each replica at its price (spot, or on demand for
 * `replicas.standard`), with its disk and ephemeral external address, plus the load balancer's
 * forwarding rules — at `replicas.min`, and at `replicas.max` when the group autoscales.
 */
export function estimateReplicatedMonthlyCost(
  machineType: string,
  diskSizeGb: number,
  plan: ReplicaPlan,
): CostEstimate {
  const price = MACHINE_PRICES[machineType];
  const loadBalancer = FORWARDING_RULES_PER_HOUR * HOURS_PER_MONTH;
  const note = `estimate from list prices of ${PRICE_DATE} (us-central1, USD, 730 h/month) for ${plan.min} replica(s), ${plan.standard} on demand, and the load balancer's forwarding rules ($${loadBalancer.toFixed(2)}/month); traffic through the load balancer adds $${LOAD_BALANCER_DATA_PER_GB}/GB`;
  if (!price)
    return {
      monthlyUsd: undefined,
      onDemandMonthlyUsd: undefined,
      fallbackExtraUsdPerDay: undefined,
      note: `${machineType} is not in budgetml's price table; ${note}`,
    };
  const perVm = diskSizeGb * DISK_PER_GB_MONTH + IP_PER_HOUR * HOURS_PER_MONTH;
  const monthly = (spot: number, standard: number) =>
    Math.round(
      (spot * (price.spot * HOURS_PER_MONTH + perVm) +
        standard * (price.onDemand * HOURS_PER_MONTH + perVm) +
        loadBalancer) *
        100,
    ) / 100;
  return {
    monthlyUsd: monthly(plan.spot.min, plan.standard),
    onDemandMonthlyUsd: monthly(0, plan.min),
    // A group never swaps spot for on demand: short of spot capacity it runs fewer replicas.
    fallbackExtraUsdPerDay: 0,
    ...(plan.max > plan.min ? { maxMonthlyUsd: monthly(plan.spot.max, plan.standard) } : {}),
    note,
  };
}
