import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { childOptions, type ModelContext } from "./context";
import { artifactRegistryRepository, GRANTS, IMAGE_PULL_GRANTS } from "./grants";
import { grantRoles } from "./roleGrants";

/** The VM's identity and the secrets only it may read. */
export interface ModelIdentity {
  vmAccount: gcp.serviceaccount.Account;
  password: pulumi.Output<string>;
  passwordSecret: gcp.secretmanager.Secret;
  signingKeySecret: gcp.secretmanager.Secret;
  /** The version holding the password: the metadata names it, so a new password is rolled out. */
  passwordVersion: gcp.secretmanager.SecretVersion;
  /** The version holding the signing key; a new one with every new login (see {@link declareIdentity}). */
  signingKeyVersion: gcp.secretmanager.SecretVersion;
  /** The secret versions and the VM's grants on the secrets and project: the boot needs them in place. */
  ready: pulumi.Resource[];
}

/**
 * A service account for the VM with least privilege, and the password and token signing key as
 * Secret Manager secrets readable by that account alone. The values stay Pulumi secrets end to end;
 * the VM gets only the secret versions' names in its metadata.
 *
 * A new login is a rotation: the signing key is generated anew whenever the username or the
 * password changes (its `keepers`), so every token issued before stops working once the VM has
 * rolled the change out — someone who learnt a leaked password cannot keep using a token obtained
 * with it. Each value is a new secret version (versions are immutable; the provider replaces the
 * version resource, creating the new one before destroying the old).
 */
export function declareIdentity(
  ctx: ModelContext,
  username: pulumi.Input<string>,
  password: pulumi.Input<string> | undefined,
): ModelIdentity {
  const vmAccount = new gcp.serviceaccount.Account(
    `${ctx.name}-vm-account`,
    {
      accountId: pulumi.interpolate`bm-${ctx.slug.slice(0, 14)}-${ctx.suffix}`,
      project: ctx.project,
      displayName: `budgetml ${ctx.name} VM`,
    },
    childOptions(ctx),
  );
  const member = pulumi.interpolate`serviceAccount:${vmAccount.email}`;
  const passwordValue = password
    ? pulumi.secret(password)
    : new random.RandomPassword(`${ctx.name}-password`, { length: 24, special: false }, { parent: ctx.parent }).result;
  const ready: pulumi.Resource[] = [];

  const secret = (role: string, value: pulumi.Output<string>) => {
    const holder = new gcp.secretmanager.Secret(
      `${ctx.name}-${role}`,
      {
        secretId: pulumi.interpolate`budgetml-${ctx.slug}-${ctx.suffix}-${role}`,
        project: ctx.project,
        replication: { auto: {} },
        labels: ctx.labels,
      },
      childOptions(ctx),
    );
    const version = new gcp.secretmanager.SecretVersion(
      `${ctx.name}-${role}-version`,
      { secret: holder.id, secretData: pulumi.secret(value) },
      { parent: ctx.parent, additionalSecretOutputs: ["secretData"] },
    );
    ready.push(version);
    ready.push(
      ...grantRoles(
        ctx,
        `${role}-reader`,
        GRANTS.vm.secrets,
        (grantName, grant, opts) =>
          new gcp.secretmanager.SecretIamMember(
            grantName,
            { project: ctx.project, secretId: holder.secretId, role: grant, member },
            opts,
          ),
      ),
    );
    return { holder, version };
  };

  ready.push(
    ...grantRoles(
      ctx,
      "vm",
      GRANTS.vm.project,
      (grantName, role, opts) => new gcp.projects.IAMMember(grantName, { project: ctx.project, role, member }, opts),
    ),
  );

  const passwordSecret = secret("password", passwordValue);
  const signingKey = new random.RandomPassword(
    `${ctx.name}-signing-key`,
    // The password's version id changes exactly when the password does; neither value is secret.
    { length: 48, special: false, keepers: { username, passwordVersion: passwordSecret.version.id } },
    { parent: ctx.parent },
  ).result;
  const signingKeySecret = secret("signing-key", signingKey);
  return {
    vmAccount,
    password: pulumi.secret(passwordValue),
    passwordSecret: passwordSecret.holder,
    signingKeySecret: signingKeySecret.holder,
    passwordVersion: passwordSecret.version,
    signingKeyVersion: signingKeySecret.version,
    ready,
  };
}

/**
 * Lets the VM read its bucket, publish to its restart topic (a single VM's; replicas have none) and
 * — with a custom image in Artifact Registry — pull that image, and nothing more; returns the grants.
 */
export function grantVmAccess(
  ctx: ModelContext,
  vmAccount: gcp.serviceaccount.Account,
  bucket: gcp.storage.Bucket,
  topic: gcp.pubsub.Topic | undefined,
  image?: string,
): pulumi.Resource[] {
  const member = pulumi.interpolate`serviceAccount:${vmAccount.email}`;
  const imageRepository = image === undefined ? undefined : artifactRegistryRepository(image);
  return [
    ...grantRoles(
      ctx,
      "vm-bucket-reader",
      GRANTS.vm.bucket,
      (name, role, opts) => new gcp.storage.BucketIAMMember(name, { bucket: bucket.name, role, member }, opts),
    ),
    ...(topic
      ? grantRoles(
          ctx,
          "vm-topic-publisher",
          GRANTS.vm.topic,
          (name, role, opts) =>
            new gcp.pubsub.TopicIAMMember(name, { project: ctx.project, topic: topic.name, role, member }, opts),
        )
      : []),
    ...(imageRepository
      ? grantRoles(
          ctx,
          "vm-image-reader",
          IMAGE_PULL_GRANTS.vm["image-repository"],
          (name, role, opts) =>
            new gcp.artifactregistry.RepositoryIamMember(name, { ...imageRepository, role, member }, opts),
        )
      : []),
  ];
}
