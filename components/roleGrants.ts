import type * as pulumi from "@pulumi/pulumi";
import type { ModelContext } from "./context";
import type { Role } from "./grants";

/** `roles/logging.logWriter` → `logging-logwriter`: a child-name fragment for a role. */
export const roleSlug = (role: string) =>
  role
    .replace(/^(roles|custom)[/:]/, "")
    .replace(/[^A-Za-z0-9]+/g, "-")
    .toLowerCase();

/**
 * Grants whose names did not carry their role while each of their scopes had one role, by the
 * name they have now (after `${name}-`) → the name they had. The alias lets a stack deployed
 * before keep each of these grants instead of replacing it (a replacement would briefly revoke it).
 */
export const FORMER_GRANT_NAMES: Readonly<Record<string, string>> = {
  "vm-bucket-reader-storage-objectviewer": "vm-bucket-reader",
  "vm-topic-publisher-pubsub-publisher": "vm-topic-publisher",
  "vm-image-reader-artifactregistry-reader": "vm-image-reader",
  "password-reader-secretmanager-secretaccessor": "password-reader",
  "signing-key-reader-secretmanager-secretaccessor": "signing-key-reader",
  "restarter-invoker-run-invoker": "restarter-invoker",
  "build-repository-writer-artifactregistry-writer": "build-repository-writer",
  "build-source-reader-storage-objectviewer": "build-source-reader",
  "build-function-sources-storage-objectadmin": "build-function-sources",
};

/**
 * One grant per role of a list, each named `${name}-${grant}-${roleSlug(role)}`: the role is in
 * the name, so a scope granting two roles to one member declares two children with two URNs.
 * `declare` makes the grant resource under the name and options it is given.
 */
export function grantRoles<T extends pulumi.Resource>(
  ctx: Pick<ModelContext, "name" | "parent">,
  grant: string,
  roles: readonly Role[],
  declare: (name: string, role: Role, opts: pulumi.CustomResourceOptions) => T,
): T[] {
  return roles.map((role) => {
    const child = `${grant}-${roleSlug(role)}`;
    const former = FORMER_GRANT_NAMES[child];
    return declare(`${ctx.name}-${child}`, role, {
      parent: ctx.parent,
      ...(former ? { aliases: [{ name: `${ctx.name}-${former}` }] } : {}),
    });
  });
}
