/**
 * Every permission a deployment grants, per identity and per resource it is granted on. The
 * component declares exactly these (each declaring helper loops over its list), and the local
 * stand-ins can enforce exactly these: one list, so the two cannot drift apart.
 *
 * A role is a predefined role (`roles/…`) or one of budgetml's custom roles (`custom:<key>`, see
 * {@link CUSTOM_ROLES}); {@link ROLE_PERMISSIONS} says which permissions each one carries for the
 * calls budgetml makes.
 */

/** Custom roles: exactly the permissions the restarter uses, nothing that could rewrite the VM. */
export const CUSTOM_ROLES = {
  /**
   * On the instance: read it, start/resume it, and switch its provisioning — stop it (a running
   * instance is switched by a stop and a start: setScheduling needs it stopped), setScheduling and
   * setLabels — for the spot-capacity fallback, the return to spot and a changed `provisioning`.
   * Not setMetadata (root on the VM), not delete.
   */
  restarterInstance: {
    title: "budgetml restarter (instance)",
    permissions: [
      "compute.instances.get",
      "compute.instances.start",
      "compute.instances.resume",
      "compute.instances.stop",
      "compute.instances.setScheduling",
      "compute.instances.setLabels",
    ],
  },
  /**
   * On the project: zone operations are project-level resources, so an instance-level grant cannot
   * let the restarter wait on its own start (Compute IAM: `compute.zoneOperations.get` is checked
   * on the project). Without it every successful start would look like a failure. `list` tells
   * the restarter why the instance last stopped (a preemption, or a stop someone asked for), so a
   * planned stop is not undone (functions/restarter/stopCause.ts).
   */
  restarterOperations: {
    title: "budgetml restarter (zone operations)",
    permissions: ["compute.zoneOperations.get", "compute.zoneOperations.list"],
  },
} as const;

export type CustomRoleKey = keyof typeof CUSTOM_ROLES;
export type Role = `roles/${string}` | `custom:${CustomRoleKey}`;

/** Which resource a grant is made on. */
export type GrantScope =
  | "project"
  | "bucket"
  | "secrets"
  | "topic"
  | "instance"
  | "function-service"
  | "build-repository"
  /** Cloud Functions' own source buckets (`gcf-v2-sources-*`), by an IAM condition on the project. */
  | "function-source-buckets";

/** The identities a deployment creates, and what each may do where. */
export const GRANTS = {
  /** The VM's service account. */
  vm: {
    // Project-level only where Google offers nothing narrower: the VM's own logs and metrics.
    project: ["roles/logging.logWriter", "roles/monitoring.metricWriter"],
    bucket: ["roles/storage.objectViewer"],
    secrets: ["roles/secretmanager.secretAccessor"],
    topic: ["roles/pubsub.publisher"],
  },
  /** The restarter function's runtime identity (also the identity its Eventarc trigger invokes it as). */
  restarter: {
    instance: ["custom:restarterInstance"],
    project: ["custom:restarterOperations"],
    "function-service": ["roles/run.invoker"],
  },
  /**
   * Cloud Build's identity for building the restarter (`buildConfig.serviceAccount`). Google's
   * "Custom build service account" page lists Logs Writer, Artifact Registry Writer and Storage
   * Object Admin at project level; here each is narrowed to the resource the build touches.
   */
  build: {
    project: ["roles/logging.logWriter"],
    "build-repository": ["roles/artifactregistry.writer"],
    bucket: ["roles/storage.objectViewer"],
    "function-source-buckets": ["roles/storage.objectAdmin"],
  },
} as const satisfies Record<string, Partial<Record<GrantScope, readonly Role[]>>>;

export type Identity = keyof typeof GRANTS;

/** The permissions behind each role, as far as budgetml's calls go (for the stand-ins to check). */
export const ROLE_PERMISSIONS: Record<Role, readonly string[]> = {
  "roles/logging.logWriter": ["logging.logEntries.create"],
  "roles/monitoring.metricWriter": ["monitoring.timeSeries.create"],
  "roles/storage.objectViewer": ["storage.objects.get", "storage.objects.list"],
  "roles/storage.objectAdmin": [
    "storage.objects.get",
    "storage.objects.list",
    "storage.objects.create",
    "storage.objects.delete",
  ],
  "roles/secretmanager.secretAccessor": ["secretmanager.versions.access"],
  "roles/pubsub.publisher": ["pubsub.topics.publish"],
  "roles/run.invoker": ["run.routes.invoke"],
  "roles/artifactregistry.writer": [
    "artifactregistry.repositories.uploadArtifacts",
    "artifactregistry.repositories.downloadArtifacts",
  ],
  "custom:restarterInstance": CUSTOM_ROLES.restarterInstance.permissions,
  "custom:restarterOperations": CUSTOM_ROLES.restarterOperations.permissions,
};

/** The roles `identity` holds on `scope` (empty when none). */
export function rolesOf(identity: Identity, scope: GrantScope): readonly Role[] {
  return (GRANTS[identity] as Partial<Record<GrantScope, readonly Role[]>>)[scope] ?? [];
}

/** Whether `identity` may use `permission` on `scope`, by the grants above. */
export function isPermitted(identity: Identity, scope: GrantScope, permission: string): boolean {
  return rolesOf(identity, scope).some((role) => ROLE_PERMISSIONS[role]?.includes(permission));
}

/**
 * Granted only with a custom `image` stored in Artifact Registry (`LOCATION-docker.pkg.dev/…`):
 * the VM pulls it with its own account's token (images/vm's docker credential helper), which
 * needs read access to that repository and nothing else.
 */
export const IMAGE_PULL_GRANTS = {
  vm: { "image-repository": ["roles/artifactregistry.reader"] },
} as const satisfies Record<string, Record<string, readonly Role[]>>;

/** The Artifact Registry repository an image reference lives in, or undefined for any other registry. */
export function artifactRegistryRepository(
  image: string,
): { location: string; project: string; repository: string } | undefined {
  const match = /^([a-z0-9-]+)-docker\.pkg\.dev\/([^/]+)\/([^/]+)\/[^\s]+$/.exec(image);
  return match ? { location: match[1], project: match[2], repository: match[3] } : undefined;
}
