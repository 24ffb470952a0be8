import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import type { RestarterSource } from "../bundles/restarterSource";
import { childOptions, type ModelContext } from "./context";

/** What the restarter needs to know about the deployment. */
export interface RestarterSettings {
  bucket: gcp.storage.Bucket;
  instance: gcp.compute.Instance;
  topic: gcp.pubsub.Topic;
  source: pulumi.Output<RestarterSource>;
  schedule: string;
  /** Seconds a spot instance may stay down for lack of capacity before it starts as standard; 0 = never. */
  spotFallbackSeconds: number;
}

/** The topic the scheduler and the VM's shutdown script publish to. */
export function declareTopic(ctx: ModelContext): gcp.pubsub.Topic {
  return new gcp.pubsub.Topic(`${ctx.name}-restart-topic`, { name: pulumi.interpolate`budgetml-${ctx.slug}-${ctx.suffix}-restart`, project: ctx.project, labels: ctx.labels }, childOptions(ctx));
}

/**
 * The restarter: a 2nd gen Cloud Function triggered by the topic, running as its own service
 * account that may administer exactly this instance (an instance-level grant) and nothing else,
 * and a Cloud Scheduler job publishing to the topic on `schedule` as the safety net.
 */
export function declareRestarter(ctx: ModelContext, settings: RestarterSettings): gcp.cloudfunctionsv2.Function {
  const account = new gcp.serviceaccount.Account(
    `${ctx.name}-restarter-account`,
    { accountId: pulumi.interpolate`bmr-${ctx.slug.slice(0, 13)}-${ctx.suffix}`, project: ctx.project, displayName: `budgetml ${ctx.name} restarter` },
    childOptions(ctx),
  );
  const member = pulumi.interpolate`serviceAccount:${account.email}`;
  // instanceAdmin on the instance resource itself: start/resume/get this VM, no other.
  new gcp.compute.InstanceIAMMember(
    `${ctx.name}-restarter-instance-admin`,
    { project: ctx.project, zone: ctx.zone, instanceName: settings.instance.name, role: "roles/compute.instanceAdmin.v1", member },
    { parent: ctx.parent },
  );
  const sourceObject = new gcp.storage.BucketObject(
    `${ctx.name}-restarter-source`,
    { bucket: settings.bucket.name, name: pulumi.interpolate`restarter-${settings.source.hash}.zip`, source: settings.source.dir.apply((dir) => new pulumi.asset.FileArchive(dir)) },
    { parent: ctx.parent },
  );
  const fn = new gcp.cloudfunctionsv2.Function(
    `${ctx.name}-restarter`,
    {
      name: pulumi.interpolate`budgetml-${ctx.slug}-${ctx.suffix}-restarter`,
      project: ctx.project,
      location: ctx.region,
      labels: ctx.labels,
      buildConfig: { runtime: "nodejs20", entryPoint: "restartInstance", source: { storageSource: { bucket: settings.bucket.name, object: sourceObject.name } } },
      serviceConfig: {
        availableMemory: "256M",
        timeoutSeconds: 120,
        maxInstanceCount: 3,
        ingressSettings: "ALLOW_INTERNAL_ONLY",
        serviceAccountEmail: account.email,
        environmentVariables: {
          BUDGET_PROJECT: ctx.project,
          BUDGET_ZONE: ctx.zone,
          BUDGET_INSTANCE: settings.instance.name,
          BUDGET_SPOT_FALLBACK_SECONDS: String(settings.spotFallbackSeconds),
        },
      },
      eventTrigger: {
        triggerRegion: ctx.region,
        eventType: "google.cloud.pubsub.topic.v1.messagePublished",
        pubsubTopic: settings.topic.id,
        // A failed run is retried by the next tick, not by Pub/Sub redelivering in a loop.
        retryPolicy: "RETRY_POLICY_DO_NOT_RETRY",
        serviceAccountEmail: account.email,
      },
    },
    childOptions(ctx),
  );
  // Eventarc delivers to the function's Cloud Run service as the restarter account.
  new gcp.cloudrun.IamMember(`${ctx.name}-restarter-invoker`, { project: ctx.project, location: ctx.region, service: fn.name, role: "roles/run.invoker", member }, { parent: ctx.parent });
  new gcp.cloudscheduler.Job(
    `${ctx.name}-restart-schedule`,
    {
      name: pulumi.interpolate`budgetml-${ctx.slug}-${ctx.suffix}-tick`,
      project: ctx.project,
      region: ctx.region,
      schedule: settings.schedule,
      timeZone: "Etc/UTC",
      pubsubTarget: { topicName: settings.topic.id, data: Buffer.from("tick").toString("base64"), attributes: { reason: "tick" } },
    },
    childOptions(ctx),
  );
  return fn;
}
