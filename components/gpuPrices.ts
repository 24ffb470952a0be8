/**
 * List prices of GPUs and of the machine types that host them (us-central1, USD per hour), for
 * `monthlyCost`. Google publishes them on "GPU pricing" (https://cloud.google.com/compute/gpus-pricing)
 * and "Spot VMs pricing" (https://cloud.google.com/spot-vms/pricing), from its Cloud Billing
 * Catalog. The copies of those pages reachable when this table was made held only their opening
 * sections, so the figures are the Cloud Billing Catalog's SKUs as collected in skypilot-org's
 * public catalog (skypilot-catalog, catalogs/v8/gcp/vms.csv), read on {@link GPU_PRICE_DATE}. On-demand
 * GPU prices have held for years (T4 $0.35, L4 $0.56004, A100 40GB $2.93391); spot prices move —
 * "Spot prices are variable and can change up to once every day" (Spot VMs pricing).
 *
 * Left out: the A100 80GB and H100 rows of that catalog disagree with themselves (a spot price
 * above the on-demand one; us-central1 at less than half of every other region), so a model on
 * A2 Ultra or A3 gets no estimate rather than a wrong one. P4, P100 and V100 are not served (see
 * contracts/accelerators.ts, `needsProprietaryDriver`).
 */
export const GPU_PRICE_DATE = "2026-12-06";

/** Per GPU per hour, us-central1. */
export const GPU_PRICES: Readonly<Record<string, { onDemand: number; spot: number }>> = {
  "nvidia-tesla-t4": { onDemand: 0.35, spot: 0.175 },
  "nvidia-l4": { onDemand: 0.56004, spot: 0.2231 },
  "nvidia-tesla-a100": { onDemand: 2.93391, spot: 1.4341 },
};

/**
 * The host machine types, GPUs excluded (Google bills the GPUs separately), per hour, us-central1.
 * Read: n1-standard-4 $0.19 / spot $0.05223 and n1-standard-32 $1.51999 / $0.41784 (so $0.0475 and
 * $0.0130575 per N1 standard vCPU: N1 standard shapes are priced by vCPU and memory in one ratio);
 * g2-standard-4 $0.14679 / $0.05874 and g2-standard-12, -16, -24, -32 at the same rate per 4 vCPUs;
 * a2-highgpu-1g $0.73948 / $0.36975 and -2g at twice that.
 */
export const GPU_HOST_PRICES: Readonly<Record<string, { onDemand: number; spot: number }>> = {
  ...Object.fromEntries(
    [2, 4, 8, 16, 32].map((vcpus) => [
      `n1-standard-${vcpus}`,
      { onDemand: round5(vcpus * 0.0475), spot: round5(vcpus * 0.0130575) },
    ]),
  ),
  ...Object.fromEntries(
    [4, 8, 12, 16, 24, 32, 48, 96].map((vcpus) => [
      `g2-standard-${vcpus}`,
      { onDemand: round5((vcpus / 4) * 0.14679), spot: round5((vcpus / 4) * 0.05874) },
    ]),
  ),
  ...Object.fromEntries(
    [1, 2, 4, 8].map((gpus) => [
      `a2-highgpu-${gpus}g`,
      { onDemand: round5(gpus * 0.73948), spot: round5(gpus * 0.36975) },
    ]),
  ),
};

function round5(usd: number): number {
  return Math.round(usd * 1e5) / 1e5;
}
