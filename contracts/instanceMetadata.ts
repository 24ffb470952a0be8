// The contract between the component that declares the VM and the boot logic that runs on it:
// which instance metadata keys exist, what each holds, and how the public hostname is derived.
// The component writes it with `instanceMetadata`, the VM reads it with `readInstanceMetadata`.
// Plain metadata is readable by anyone with compute.instances.get: names only, never a secret.

/** What the component tells the VM, by field. */
export interface InstanceMetadata<T = string> {
  /** Bucket holding the bundles. */
  bucket: T;
  /** Object name of the runtime bundle. */
  runtimeObject: T;
  /** Object name of the predictor bundle. */
  predictorObject: T;
  /** Predictor class name; empty: `Predictor`, else the default export. */
  entrypoint: T;
  /** Login name (not secret). */
  username: T;
  /** Secret Manager id `projects/P/secrets/S` of the password. */
  passwordSecret: T;
  /** Secret Manager id of the JWT signing key. */
  tokenSecret: T;
  /** Domain the endpoint serves; empty: derived from the external IP (see `publicHostname`). */
  domain: T;
  /** Pub/Sub topic `projects/P/topics/T` the shutdown script signals. */
  topic: T;
  /** Container image to run instead of the runtime bundle; empty: the runtime bundle. */
  image: T;
  /** Email given to the certificate authorities (Let's Encrypt, ZeroSSL); empty: none. */
  acmeEmail: T;
  /**
   * The address of the external Application Load Balancer in front of this VM, one replica of a
   * group (see contracts/loadBalancer.ts): serve plain HTTP on its serving port, no Caddy, and
   * believe `X-Forwarded-For` from Google's front ends. Empty: a single VM behind its own Caddy.
   */
  loadBalancer: T;
}

/** The metadata key of each field. */
export const METADATA_KEYS: { readonly [K in keyof InstanceMetadata]: string } = {
  bucket: "budget-bucket",
  runtimeObject: "budget-runtime-object",
  predictorObject: "budget-predictor-object",
  entrypoint: "budget-entrypoint",
  username: "budget-username",
  passwordSecret: "budget-password-secret",
  tokenSecret: "budget-token-secret",
  domain: "budget-domain",
  topic: "budget-topic",
  image: "budget-image",
  acmeEmail: "budget-acme-email",
  loadBalancer: "budget-load-balancer",
};

/** The keys of the VM's boot scripts (Google runs them at every boot and at shutdown). */
export const STARTUP_SCRIPT_KEY = "startup-script";
export const SHUTDOWN_SCRIPT_KEY = "shutdown-script";

/** Fields the boot cannot do without. */
const REQUIRED: Array<keyof InstanceMetadata> = [
  "bucket",
  "runtimeObject",
  "predictorObject",
  "username",
  "passwordSecret",
  "tokenSecret",
];

/** The metadata entries for `values`, keyed as the VM reads them (values may be Pulumi inputs). */
export function instanceMetadata<T>(values: InstanceMetadata<T>): Record<string, T> {
  return Object.fromEntries(
    (Object.keys(METADATA_KEYS) as Array<keyof InstanceMetadata>).map((field) => [METADATA_KEYS[field], values[field]]),
  );
}

/**
 * Reads the fields from the instance's attributes; names every missing required key at once.
 * Absent optional keys read as empty.
 */
export function readInstanceMetadata(attributes: Record<string, string | undefined>): InstanceMetadata {
  const missing = REQUIRED.filter((field) => !attributes[METADATA_KEYS[field]]).map((field) => METADATA_KEYS[field]);
  if (missing.length > 0) throw new Error(`instance metadata is missing ${missing.join(", ")}`);
  return Object.fromEntries(
    (Object.keys(METADATA_KEYS) as Array<keyof InstanceMetadata>).map((field) => [
      field,
      attributes[METADATA_KEYS[field]] ?? "",
    ]),
  ) as unknown as InstanceMetadata;
}

/**
 * The public hostname: the domain (with its subdomain), or one derived from the external IP —
 * sslip.io resolves `a-b-c-d.sslip.io` to a.b.c.d, so HTTPS works without a domain.
 */
export function publicHostname(ip: string, domain?: string, subdomain?: string): string {
  if (domain) return subdomain ? `${subdomain}.${domain}` : domain;
  return `${ip.replace(/\./g, "-")}.sslip.io`;
}
