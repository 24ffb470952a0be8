// What a VM serves, derived from its instance metadata: the contract between the component, whose
// health wait waits until the VM serves what `pulumi up` deployed, and the VM, whose watcher rolls
// every change out and whose runtime and front (Caddy) report what they serve.
import { createHash } from "node:crypto";
import { METADATA_KEYS, ON_CHANGE, secretVersionName, type InstanceMetadata } from "./instanceMetadata";

/** The fields whose change the VM rolls out (see `ON_CHANGE`). */
const SERVED_FIELDS = (Object.keys(ON_CHANGE) as Array<keyof InstanceMetadata>).filter(
  (field) => ON_CHANGE[field] === "rolled out",
);

/**
 * What the VM serves, in one string: the value of every field rolled out on change, keyed by its
 * metadata key (a missing key as empty). The watcher compares the metadata's with the last one the
 * boot rolled out; the boot records it once it has rolled out.
 */
export function servedDeployment(attributes: Record<string, string | undefined>): string {
  return JSON.stringify(
    Object.fromEntries(SERVED_FIELDS.map((field) => [METADATA_KEYS[field], attributes[METADATA_KEYS[field]] ?? ""])),
  );
}

/** The metadata keys whose values differ between two {@link servedDeployment}s (for the log). */
export function changedKeys(before: string, after: string): string[] {
  const [a, b] = [before, after].map((served) => JSON.parse(served) as Record<string, string>);
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((key) => a[key] !== b[key]);
}

/** The version of a secret a field names: its number, or `latest`. */
const versionOf = (secret: string) => secretVersionName(secret).split("/").pop() as string;

/**
 * The id of what a runtime serves: its runtime and predictor bundles (content-addressed object
 * names without `.tgz`), the custom image if any, and the versions of the password and signing-key
 * secrets it runs with — e.g. `runtime-0123456789abcdef+predictor-fedcba9876543210+secrets-3.2`.
 * The boot hands it to the runtime (`BUDGET_BUNDLE`), the runtime reports it in its health answer
 * (`bundle`), and the component's health wait computes it from what it deployed, so "healthy"
 * means "serving what this `pulumi up` deployed", not "the old runtime still answers". Version
 * numbers only: nothing in it can be tested against a guessed password. A new username rotates the
 * signing key (components/identity.ts), so it changes this id too.
 */
export function runtimeIdOf(
  fields: Pick<InstanceMetadata, "runtimeObject" | "predictorObject" | "passwordSecret" | "tokenSecret"> & {
    image?: string;
  },
): string {
  const strip = (object: string) => object.replace(/\.tgz$/, "");
  return [
    strip(fields.runtimeObject),
    strip(fields.predictorObject),
    fields.image ?? "",
    `secrets-${versionOf(fields.passwordSecret)}.${versionOf(fields.tokenSecret)}`,
  ]
    .filter(Boolean)
    .join("+");
}

/** The response header in which the front (Caddy) names what it serves, on the health check `GET /`. */
export const FRONT_HEADER = "Budgetml-Front";

/**
 * The id of what the front serves: its hostname and the contact it gives the certificate
 * authorities — `front-` and 16 hex digits of their SHA-256, so the contact is not published.
 * Caddy sends it in {@link FRONT_HEADER}; a change of domain or acmeEmail reloads Caddy without
 * restarting the runtime, and the health wait waits for the new id.
 */
export function frontIdOf(front: { hostname: string; acmeEmail: string }): string {
  return `front-${createHash("sha256")
    .update(JSON.stringify([front.hostname, front.acmeEmail]))
    .digest("hex")
    .slice(0, 16)}`;
}
