import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import type { BuiltBundle } from "../bundles/archive";
import { childOptions, type ModelContext } from "./context";

/** The bucket and what the VM fetches from it. */
export interface ModelStorage {
  bucket: gcp.storage.Bucket;
  predictorObject: gcp.storage.BucketObject;
  runtimeObject: gcp.storage.BucketObject;
}

/**
 * A private bucket (uniform access, globally unique name) holding the predictor and runtime
 * bundles. Object names carry the bundles' content hashes: a changed predictor is a new object
 * (and new instance metadata, which rolls the VM's boot); an unchanged one changes nothing.
 */
export function declareStorage(
  ctx: ModelContext,
  predictor: pulumi.Output<BuiltBundle>,
  runtime: pulumi.Output<BuiltBundle>,
): ModelStorage {
  const bucket = new gcp.storage.Bucket(
    `${ctx.name}-bucket`,
    {
      name: pulumi.interpolate`budgetml-${ctx.slug}-${ctx.suffix}`,
      project: ctx.project,
      location: ctx.region.toUpperCase(),
      uniformBucketLevelAccess: true,
      publicAccessPrevention: "enforced",
      forceDestroy: true,
      labels: ctx.labels,
    },
    childOptions(ctx),
  );
  const upload = (role: string, bundle: pulumi.Output<BuiltBundle>) =>
    new gcp.storage.BucketObject(
      `${ctx.name}-${role}`,
      {
        bucket: bucket.name,
        name: bundle.objectName,
        source: bundle.file.apply((file) => new pulumi.asset.FileAsset(file)),
      },
      { parent: ctx.parent },
    );
  return { bucket, predictorObject: upload("predictor", predictor), runtimeObject: upload("runtime", runtime) };
}
