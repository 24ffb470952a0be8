/**
 * Which zones offer which GPU, so `pulumi preview` refuses a zone without the GPU instead of
 * `pulumi up` failing on Google's "not found" for the zone's accelerator type.
 *
 * Google publishes the table as "GPU regions and zones availability",
 * https://cloud.google.com/compute/docs/gpus/gpu-regions-zones, and lists the same per zone through
 * the Compute API (`gcloud compute accelerator-types list --filter="zone:ZONE"`). The copy of
 * Google's page reachable when this table was made did not hold the table itself, so the zones
 * below are the Compute API's accelerator-types per zone as collected in skypilot-org's public
 * catalog (skypilot-catalog, catalogs/v8/gcp/vms.csv: rows with an accelerator, and the G2/A2/A3
 * machine types' zones), read 2026-12-06. Google adds zones over time: when this table is older
 * than {@link GPU_ZONES_STALE_DAYS} days, a zone missing from it is a warning, not a refusal.
 */
export const GPU_ZONES_READ = "2026-12-06";
export const GPU_ZONES_SOURCE = "https://cloud.google.com/compute/docs/gpus/gpu-regions-zones";

/** After this many days the table is too old to refuse a zone on: it only warns. */
export const GPU_ZONES_STALE_DAYS = 180;

/** Per GPU: region → the letters of its zones that offer it. */
const ZONES: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  "nvidia-tesla-t4": {
    "asia-east1": "ac",
    "asia-east2": "ac",
    "asia-northeast1": "ac",
    "asia-northeast3": "bc",
    "asia-south1": "ab",
    "asia-southeast1": "abc",
    "asia-southeast2": "ab",
    "australia-southeast1": "ac",
    "europe-central2": "bc",
    "europe-west1": "bcd",
    "europe-west2": "ab",
    "europe-west3": "b",
    "europe-west4": "abc",
    "me-west1": "bc",
    "northamerica-northeast1": "c",
    "southamerica-east1": "abc",
    "us-central1": "abcf",
    "us-east1": "bcd",
    "us-east4": "abc",
    "us-west1": "ab",
    "us-west2": "bc",
    "us-west3": "b",
    "us-west4": "ab",
  },
  "nvidia-l4": {
    "asia-east1": "abc",
    "asia-northeast1": "abc",
    "asia-northeast3": "ab",
    "asia-south1": "abc",
    "asia-southeast1": "abc",
    "europe-west1": "bc",
    "europe-west2": "ab",
    "europe-west3": "ab",
    "europe-west4": "abc",
    "europe-west6": "bc",
    "me-central2": "ac",
    "northamerica-northeast1": "bc",
    "northamerica-northeast2": "ab",
    "us-central1": "abc",
    "us-east1": "bcd",
    "us-east4": "ac",
    "us-west1": "abc",
    "us-west4": "ac",
  },
  "nvidia-tesla-a100": {
    "asia-northeast1": "ac",
    "asia-northeast3": "ab",
    "asia-southeast1": "abc",
    "europe-west4": "ab",
    "me-west1": "ac",
    "us-central1": "abcf",
    "us-east1": "b",
    "us-west1": "b",
    "us-west3": "b",
    "us-west4": "b",
  },
  "nvidia-a100-80gb": {
    "asia-southeast1": "c",
    "europe-west4": "a",
    "us-central1": "ac",
    "us-east4": "c",
    "us-east5": "ab",
  },
  "nvidia-h100-80gb": {
    "asia-east1": "c",
    "asia-northeast1": "b",
    "asia-northeast3": "ac",
    "asia-south1": "c",
    "asia-south2": "b",
    "asia-southeast1": "bc",
    "australia-southeast1": "c",
    "europe-north1": "c",
    "europe-west1": "bc",
    "europe-west2": "b",
    "europe-west3": "ac",
    "europe-west4": "bc",
    "europe-west8": "c",
    "europe-west9": "c",
    "northamerica-northeast2": "c",
    "us-central1": "abc",
    "us-east4": "abc",
    "us-east5": "a",
    "us-west1": "ab",
    "us-west4": "a",
  },
  "nvidia-h100-mega-80gb": {
    "asia-northeast1": "b",
    "asia-northeast3": "ac",
    "asia-south1": "c",
    "asia-southeast1": "bc",
    "australia-southeast1": "c",
    "europe-west1": "bc",
    "europe-west3": "ac",
    "europe-west4": "bc",
    "northamerica-northeast2": "c",
    "us-central1": "abc",
    "us-east4": "abc",
    "us-east5": "a",
    "us-west1": "ab",
    "us-west4": "a",
  },
  "nvidia-tesla-p4": {
    "asia-southeast1": "abc",
    "australia-southeast1": "ab",
    "europe-west4": "bc",
    "northamerica-northeast1": "abc",
    "us-central1": "ac",
    "us-east4": "abc",
    "us-west2": "bc",
  },
  "nvidia-tesla-p100": {
    "asia-east1": "ac",
    "australia-southeast1": "b",
    "europe-west1": "bd",
    "europe-west4": "a",
    "us-central1": "cf",
    "us-east1": "bc",
    "us-west1": "ab",
  },
  "nvidia-tesla-v100": {
    "asia-east1": "c",
    "europe-west4": "abc",
    "us-central1": "abcf",
    "us-east1": "bc",
    "us-west1": "ab",
  },
};

/** The zones that offered `gpuType` when the table was read; empty for a type it does not list. */
export function zonesOffering(gpuType: string): string[] {
  return Object.entries(ZONES[gpuType] ?? {}).flatMap(([region, letters]) =>
    [...letters].map((letter) => `${region}-${letter}`),
  );
}

/** How many whole days the table is old at `now`. */
export function gpuZonesAgeDays(now: Date): number {
  return Math.floor((now.getTime() - Date.parse(GPU_ZONES_READ)) / 86_400_000);
}

/**
 * Google's refusal of a VM in a zone that does not offer its GPUs (`gpuType`, attached or carried by
 * its machine type), as the insert's error names the missing resource: "The resource
 * 'projects/P/zones/Z/acceleratorTypes/T' was not found" (the API's answer as gcloud prints it,
 * quoted in fastai/course-v3#430; 400 badRequest through Dataproc in
 * hashicorp/terraform-provider-google#5860). A machine type that carries its GPUs is named the
 * same way, as its `machineTypes/` resource. Undefined when the table lists the zone, does not
 * list the GPU, or is older than {@link GPU_ZONES_STALE_DAYS} days at `now` (Google may offer it
 * there since: a stand-in must not refuse what Google may accept).
 */
export function gpuZoneRefusal(
  where: { project: string; zone: string },
  gpuType: string,
  resource: { machineType: string } | undefined,
  now: Date = new Date(),
): string | undefined {
  const offering = zonesOffering(gpuType);
  if (offering.length === 0 || offering.includes(where.zone) || gpuZonesAgeDays(now) > GPU_ZONES_STALE_DAYS)
    return undefined;
  const missing = resource ? `machineTypes/${resource.machineType}` : `acceleratorTypes/${gpuType}`;
  return `The resource 'projects/${where.project}/zones/${where.zone}/${missing}' was not found`;
}
