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

/** The instance metadata keys whose change means new bundles (or a new image) to switch to. */
export const BUNDLE_KEYS = ["budget-runtime-object", "budget-predictor-object", "budget-entrypoint", "budget-image"] as const;
