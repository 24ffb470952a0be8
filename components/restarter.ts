import * as command from "@pulumi/command";
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import type { RestarterSource } from "../bundles/restarterSource";
import type { Provisioning } from "../contracts/scheduling";
import { childOptions, type ModelContext } from "./context";
import { CUSTOM_ROLES, GRANTS, type CustomRoleKey, type Role } from "./grants";
import { grantRoles, roleSlug } from "./roleGrants";

/** What the restarter needs to know about the deployment. */
export interface RestarterSettings {
  bucket: gcp.storage.Bucket;
  instance: gcp.compute.Instance;
  topic: gcp.pubsub.Topic;
  source: pulumi.Output<RestarterSource>;
  /** Cloud Run functions runtime id, checked against functions/functionRuntimes.ts at preview. */
  runtime: string;
  schedule: string;
  /** The declared provisioning model: the restarter switches the instance to it (see components/instance.ts). */
  provisioning: Provisioning;
  /** Seconds a spot instance may stay down for lack of capacity before it starts as standard; 0 = never. */
  spotFallbackSeconds: number;
  /** When (UTC, `HH:MM-HH:MM`) a running fallback instance may be stopped to try spot again. */
  spotReturnWindow: string;
  /** false: the model is parked; the restarter must leave the stopped VM alone. */
  keepRunning: boolean;
}

/** The restarter and the identities around it, for callers and tests to depend on. */
export interface Restarter {
  fn: gcp.cloudfunctionsv2.Function;
  account: gcp.serviceaccount.Account;
  buildAccount: gcp.serviceaccount.Account;
  buildRepository: gcp.artifactregistry.Repository;
}

/** IAM changes take up to minutes to apply; the provider's own builder example waits 60 s. */
const IAM_SETTLE_SECONDS = 60;

/** The topic the scheduler and the VM's shutdown script publish to. */
export function declareTopic(ctx: ModelContext): gcp.pubsub.Topic {
  return new gcp.pubsub.Topic(
    `${ctx.name}-restart-topic`,
    { name: pulumi.interpolate`budgetml-${ctx.slug}-${ctx.suffix}-restart`, project: ctx.project, labels: ctx.labels },
    childOptions(ctx),
  );
}

/**
 * The restarter: a 2nd gen Cloud Function triggered by the topic, running as its own service
 * account that holds exactly the custom roles in components/grants.ts (on this instance, and zone
 * operations on the project); built by its own build service account into its own Artifact
 * Registry repository; and a Cloud Scheduler job publishing to the topic on `schedule` as the
 * safety net (paused while the model is parked).
 */
export function declareRestarter(ctx: ModelContext, settings: RestarterSettings): Restarter {
  const account = new gcp.serviceaccount.Account(
    `${ctx.name}-restarter-account`,
    {
      accountId: pulumi.interpolate`bmr-${ctx.slug.slice(0, 13)}-${ctx.suffix}`,
      project: ctx.project,
      displayName: `budgetml ${ctx.name} restarter`,
    },
    childOptions(ctx),
  );
  const member = pulumi.interpolate`serviceAccount:${account.email}`;
  const roleName = declareCustomRoles(ctx);
  const grants: pulumi.Resource[] = [
    ...grantRoles(
      ctx,
      "restarter-instance",
      GRANTS.restarter.instance,
      (name, role, opts) =>
        new gcp.compute.InstanceIAMMember(
          name,
          { project: ctx.project, zone: ctx.zone, instanceName: settings.instance.name, role: roleName(role), member },
          opts,
        ),
    ),
    ...grantRoles(
      ctx,
      "restarter-project",
      GRANTS.restarter.project,
      (name, role, opts) =>
        new gcp.projects.IAMMember(name, { project: ctx.project, role: roleName(role), member }, opts),
    ),
  ];
  const build = declareBuildIdentity(ctx, settings.bucket);
  // Eventarc's and Pub/Sub's service agents are created lazily on a project's first trigger, and a
  // function created before their roles have propagated fails: "Permission denied while using the
  // Eventarc Service Agent. If you recently started to use Eventarc, it may take a few minutes
  // before all necessary permissions are propagated" (hashicorp/terraform-provider-google#25294).
  // Create them first, and let the settle wait below cover their propagation too.
  const agents = ["eventarc.googleapis.com", "pubsub.googleapis.com"].map(
    (service) =>
      new gcp.projects.ServiceIdentity(
        `${ctx.name}-agent-${service.split(".")[0]}`,
        { project: ctx.project, service },
        childOptions(ctx),
      ),
  );
  const settled = new command.local.Command(
    `${ctx.name}-iam-settle`,
    {
      // No shell: node runs the wait on every OS Pulumi runs on.
      interpreter: ["node", "-e"],
      create: `setTimeout(() => {}, ${IAM_SETTLE_SECONDS * 1000})`,
      // Waits again when the identities or what they are granted change (a budgetml upgrade).
      triggers: [
        account.email,
        build.account.email,
        JSON.stringify({ restarter: GRANTS.restarter, build: GRANTS.build, CUSTOM_ROLES }),
      ],
    },
    { parent: ctx.parent, dependsOn: [...grants, ...build.grants, ...agents] },
  );

  const sourceObject = new gcp.storage.BucketObject(
    `${ctx.name}-restarter-source`,
    {
      bucket: settings.bucket.name,
      name: pulumi.interpolate`restarter-${settings.source.hash}.zip`,
      source: settings.source.dir.apply((dir) => new pulumi.asset.FileArchive(dir)),
    },
    { parent: ctx.parent },
  );
  const fn = new gcp.cloudfunctionsv2.Function(
    `${ctx.name}-restarter`,
    {
      name: pulumi.interpolate`budgetml-${ctx.slug}-${ctx.suffix}-restarter`,
      project: ctx.project,
      location: ctx.region,
      labels: ctx.labels,
      buildConfig: {
        runtime: settings.runtime,
        entryPoint: "restartInstance",
        source: { storageSource: { bucket: settings.bucket.name, object: sourceObject.name } },
        // Fully-qualified name, as buildConfig.serviceAccount takes it.
        serviceAccount: build.account.id,
        dockerRepository: build.repository.id,
      },
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
          BUDGET_DECLARED_PROVISIONING: settings.provisioning,
          BUDGET_SPOT_FALLBACK_SECONDS: String(settings.spotFallbackSeconds),
          BUDGET_SPOT_RETURN_WINDOW: settings.spotReturnWindow,
          BUDGET_RUNNING: String(settings.keepRunning),
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
    childOptions(ctx, { dependsOn: [...ctx.apis, settled] }),
  );
  // Eventarc delivers to the function's Cloud Run service as the restarter account.
  grantRoles(
    ctx,
    "restarter-invoker",
    GRANTS.restarter["function-service"],
    (name, role, opts) =>
      new gcp.cloudrun.IamMember(
        name,
        { project: ctx.project, location: ctx.region, service: fn.name, role, member },
        opts,
      ),
  );
  new gcp.cloudscheduler.Job(
    `${ctx.name}-restart-schedule`,
    {
      name: pulumi.interpolate`budgetml-${ctx.slug}-${ctx.suffix}-tick`,
      project: ctx.project,
      region: ctx.region,
      schedule: settings.schedule,
      timeZone: "Etc/UTC",
      // A parked model has nothing to keep running: no ticks (the function also stands down).
      paused: !settings.keepRunning,
      pubsubTarget: {
        topicName: settings.topic.id,
        data: Buffer.from("tick").toString("base64"),
        attributes: { reason: "tick" },
      },
    },
    childOptions(ctx),
  );
  return { fn, account, buildAccount: build.account, buildRepository: build.repository };
}

/**
 * The custom roles of components/grants.ts, in this project. Role ids allow only letters, digits,
 * `_` and `.`, and a deleted id stays reserved for weeks: the random suffix keeps each one new.
 * Returns a grant's role name: for a custom role the role resource's own `name` output, so every
 * grant of it waits until the role exists — a grant naming a role that is still being created
 * fails ("Role … does not exist in the resource's hierarchy").
 */
function declareCustomRoles(ctx: ModelContext): (role: Role) => pulumi.Input<string> {
  const names = new Map<string, pulumi.Output<string>>();
  for (const [key, role] of Object.entries(CUSTOM_ROLES) as Array<
    [CustomRoleKey, (typeof CUSTOM_ROLES)[CustomRoleKey]]
  >) {
    const declared = new gcp.projects.IAMCustomRole(
      `${ctx.name}-role-${roleSlug(key)}`,
      {
        project: ctx.project,
        roleId: pulumi.interpolate`budgetml_${ctx.slug.replace(/-/g, "_")}_${ctx.suffix}_${key}`,
        title: `${role.title} ${ctx.name}`.slice(0, 100),
        permissions: [...role.permissions],
        stage: "GA",
      },
      childOptions(ctx),
    );
    // "The name of the role in the format projects/{{project}}/roles/{{role_id}}. Like id, this field
    // can be used as a reference in other resources such as IAM role bindings" (gcp.projects.IAMCustomRole).
    names.set(`custom:${key}`, declared.name);
  }
  return (role) => names.get(role) ?? role;
}

/**
 * Cloud Build's identity for the restarter (Google: "Custom build service account"; new projects'
 * default build account may lack these permissions since mid-2024) and the repository its images go
 * to. Each grant is narrowed to what the build touches: the source object in our bucket, Cloud
 * Functions' copy of it (`gcf-v2-sources-*`, by an IAM condition), the images in our repository,
 * and its logs. Our own repository also means `pulumi destroy` removes the build images.
 */
function declareBuildIdentity(ctx: ModelContext, bucket: gcp.storage.Bucket) {
  const account = new gcp.serviceaccount.Account(
    `${ctx.name}-build-account`,
    {
      accountId: pulumi.interpolate`bmb-${ctx.slug.slice(0, 13)}-${ctx.suffix}`,
      project: ctx.project,
      displayName: `budgetml ${ctx.name} restarter build`,
    },
    childOptions(ctx),
  );
  const member = pulumi.interpolate`serviceAccount:${account.email}`;
  const repository = new gcp.artifactregistry.Repository(
    `${ctx.name}-build-images`,
    {
      project: ctx.project,
      location: ctx.region,
      repositoryId: pulumi.interpolate`budgetml-${ctx.slug}-${ctx.suffix}`,
      format: "DOCKER",
      description: `budgetml ${ctx.name}: restarter function images`,
      labels: ctx.labels,
      // Every redeploy pushes a new image: keep the last two, delete the rest after a day.
      cleanupPolicies: [
        { id: "keep-latest", action: "KEEP", mostRecentVersions: { keepCount: 2 } },
        { id: "delete-older", action: "DELETE", condition: { tagState: "ANY", olderThan: "86400s" } },
      ],
    },
    childOptions(ctx),
  );
  const grants: pulumi.Resource[] = [
    ...grantRoles(
      ctx,
      "build",
      GRANTS.build.project,
      (name, role, opts) => new gcp.projects.IAMMember(name, { project: ctx.project, role, member }, opts),
    ),
    ...grantRoles(
      ctx,
      "build-repository-writer",
      GRANTS.build["build-repository"],
      (name, role, opts) =>
        new gcp.artifactregistry.RepositoryIamMember(
          name,
          { project: ctx.project, location: ctx.region, repository: repository.name, role, member },
          opts,
        ),
    ),
    ...grantRoles(
      ctx,
      "build-source-reader",
      GRANTS.build.bucket,
      (name, role, opts) => new gcp.storage.BucketIAMMember(name, { bucket: bucket.name, role, member }, opts),
    ),
    ...grantRoles(
      ctx,
      "build-function-sources",
      GRANTS.build["function-source-buckets"],
      (name, role, opts) =>
        new gcp.projects.IAMMember(
          name,
          {
            project: ctx.project,
            role,
            member,
            // Cloud Functions copies the source into gcf-v2-sources-PROJECT_NUMBER-REGION and builds from there
            // (Cloud Run functions, "Build process overview").
            condition: {
              title: "budgetml function sources",
              description: "Cloud Functions' own source buckets only",
              expression: 'resource.name.startsWith("projects/_/buckets/gcf-v2-sources-")',
            },
          },
          opts,
        ),
    ),
  ];
  return { account, repository, grants };
}
