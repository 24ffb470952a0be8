import { METADATA_KEYS, type InstanceMetadata } from "../../contracts/instanceMetadata";

/**
 * The id of what a deployment serves, from the instance metadata that names it: the runtime and
 * predictor bundle objects (content-addressed names) and the custom image, if any. The boot hands
 * it to the runtime (`BUDGET_BUNDLE`), the runtime reports it in its health answer, and the
 * component's health wait computes the same id from the objects it uploaded and waits for it —
 * so "healthy" means "serving what this `pulumi up` deployed", not "the old runtime still answers".
 */
export function bundleIdOf(names: { runtimeObject: string; predictorObject: string; image?: string }): string {
  const strip = (object: string) => object.replace(/\.tgz$/, "");
  return [strip(names.runtimeObject), strip(names.predictorObject), names.image ?? ""].filter(Boolean).join("+");
}

/** The metadata fields whose change means new bundles (or a new image) to switch to. */
const DEPLOYMENT_FIELDS = [
  "runtimeObject",
  "predictorObject",
  "entrypoint",
  "image",
  "maxBatchSize",
  "maxBatchWaitMs",
] as const;
type DeploymentFields = Partial<Pick<InstanceMetadata, (typeof DEPLOYMENT_FIELDS)[number]>>;

/**
 * What a deployment is, in one string: its bundles, entrypoint, image and batching settings (a
 * missing one as empty).
 * The boot records it for what it rolled out; the watcher compares the metadata's with it.
 */
export function deploymentOf(fields: DeploymentFields): string {
  return JSON.stringify(DEPLOYMENT_FIELDS.map((field) => fields[field] ?? ""));
}

/** {@link deploymentOf} for the instance attributes as the metadata server answers them. */
export function deploymentOfAttributes(attributes: Record<string, string>): string {
  return deploymentOf(Object.fromEntries(DEPLOYMENT_FIELDS.map((field) => [field, attributes[METADATA_KEYS[field]]])));
}
