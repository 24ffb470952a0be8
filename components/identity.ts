import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { childOptions, type ModelContext } from "./context";

/** The VM's identity and the secrets only it may read. */
export interface ModelIdentity {
  vmAccount: gcp.serviceaccount.Account;
  password: pulumi.Output<string>;
  passwordSecret: gcp.secretmanager.Secret;
  signingKeySecret: gcp.secretmanager.Secret;
}

/**
 * A service account for the VM with least privilege, and the password and token signing key as
 * Secret Manager secrets readable by that account alone. The values stay Pulumi secrets end to end;
 * the VM gets only the secrets' names in its metadata.
 */
export function declareIdentity(ctx: ModelContext, password: pulumi.Input<string> | undefined): ModelIdentity {
  const vmAccount = new gcp.serviceaccount.Account(
    `${ctx.name}-vm-account`,
    { accountId: pulumi.interpolate`bm-${ctx.slug.slice(0, 14)}-${ctx.suffix}`, project: ctx.project, displayName: `budgetml ${ctx.name} VM` },
    childOptions(ctx),
  );
  const passwordValue = password
    ? pulumi.secret(password)
    : new random.RandomPassword(`${ctx.name}-password`, { length: 24, special: false }, { parent: ctx.parent }).result;
  const signingKey = new random.RandomPassword(`${ctx.name}-signing-key`, { length: 48, special: false }, { parent: ctx.parent }).result;

  const secret = (role: string, value: pulumi.Output<string>) => {
    const holder = new gcp.secretmanager.Secret(
      `${ctx.name}-${role}`,
      { secretId: pulumi.interpolate`budgetml-${ctx.slug}-${ctx.suffix}-${role}`, project: ctx.project, replication: { auto: {} }, labels: ctx.labels },
      childOptions(ctx),
    );
    new gcp.secretmanager.SecretVersion(`${ctx.name}-${role}-version`, { secret: holder.id, secretData: pulumi.secret(value) }, { parent: ctx.parent, additionalSecretOutputs: ["secretData"] });
    new gcp.secretmanager.SecretIamMember(
      `${ctx.name}-${role}-reader`,
      { project: ctx.project, secretId: holder.secretId, role: "roles/secretmanager.secretAccessor", member: pulumi.interpolate`serviceAccount:${vmAccount.email}` },
      { parent: ctx.parent },
    );
    return holder;
  };

  // Project-level roles only where Google offers nothing narrower: writing the VM's own logs and metrics.
  for (const role of ["roles/logging.logWriter", "roles/monitoring.metricWriter"]) {
    new gcp.projects.IAMMember(`${ctx.name}-vm-${role.split("/")[1].replace(/\./g, "-").toLowerCase()}`, { project: ctx.project, role, member: pulumi.interpolate`serviceAccount:${vmAccount.email}` }, { parent: ctx.parent });
  }

  return { vmAccount, password: pulumi.secret(passwordValue), passwordSecret: secret("password", passwordValue), signingKeySecret: secret("signing-key", signingKey) };
}

/** Lets the VM read its bucket and publish to its restart topic, and nothing more. */
export function grantVmAccess(ctx: ModelContext, vmAccount: gcp.serviceaccount.Account, bucket: gcp.storage.Bucket, topic: gcp.pubsub.Topic): void {
  const member = pulumi.interpolate`serviceAccount:${vmAccount.email}`;
  new gcp.storage.BucketIAMMember(`${ctx.name}-vm-bucket-reader`, { bucket: bucket.name, role: "roles/storage.objectViewer", member }, { parent: ctx.parent });
  new gcp.pubsub.TopicIAMMember(`${ctx.name}-vm-topic-publisher`, { project: ctx.project, topic: topic.name, role: "roles/pubsub.publisher", member }, { parent: ctx.parent });
}
