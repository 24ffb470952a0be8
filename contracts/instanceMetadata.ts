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
  /**
   * The Secret Manager version holding the password, `projects/P/secrets/S/versions/N`: a new
   * password is a new version, so it changes the metadata and the VM rolls it out. A name without
   * `/versions/` means the latest version.
   */
  passwordSecret: T;
  /** The Secret Manager version holding the JWT signing key, named as `passwordSecret`. */
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
   * The VM's GPUs as `<type>:<count>` (contracts/accelerators.ts, `acceleratorSpec`), attached or
   * carried by its machine type; empty: none. The boot installs their driver and checks them.
   */
  accelerator: T;
  /** Adaptive batching's batch size (`BUDGET_MAX_BATCH_SIZE`, see contracts/batching.ts); empty: no batching. */
  maxBatchSize: T;
  /** Adaptive batching's longest wait in ms (`BUDGET_MAX_BATCH_WAIT_MS`); empty: the runtime's default. */
  maxBatchWaitMs: T;
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
  accelerator: "budget-accelerator",
  maxBatchSize: "budget-max-batch-size",
  maxBatchWaitMs: "budget-max-batch-wait-ms",
  loadBalancer: "budget-load-balancer",
};

/**
 * How a change of a field reaches a running VM. `pulumi up` changes the metadata in place and
 * Google runs the startup script only at boot, so the VM's watcher acts on each change:
 * - `"rolled out"`: the field is part of what the VM serves (see `servedDeployment` in
 *   `servedDeployment.ts`); the watcher runs the boot, which starts the runtime anew in the other
 *   slot (bundles, image, login) or reloads Caddy (hostname, certificate contact), without downtime;
 * - `"read when used"`: nothing to roll out; the VM reads it afresh whenever it needs it.
 * Every field is listed: a field added to {@link InstanceMetadata} does not compile until it says
 * how it reaches the VM, so the watcher cannot miss it.
 */
export const ON_CHANGE: { readonly [K in keyof InstanceMetadata]: "rolled out" | "read when used" } = {
  bucket: "rolled out",
  runtimeObject: "rolled out",
  predictorObject: "rolled out",
  entrypoint: "rolled out",
  username: "rolled out",
  passwordSecret: "rolled out",
  tokenSecret: "rolled out",
  domain: "rolled out",
  image: "rolled out",
  acmeEmail: "rolled out",
  maxBatchSize: "rolled out",
  maxBatchWaitMs: "rolled out",
  // Other GPUs come with a VM stopped for the update; its boot, like a roll-out, installs their
  // driver and starts the runtime checking them.
  accelerator: "rolled out",
  // A replica's template names it; a new address is a new template, which the group rolls out.
  loadBalancer: "rolled out",
  // The shutdown script reads the topic from the metadata when it signals.
  topic: "read when used",
};

/** The Secret Manager version a `passwordSecret`/`tokenSecret` value names (a secret alone: its latest). */
export function secretVersionName(value: string): string {
  return /\/versions\/[^/]+$/.test(value) ? value : `${value}/versions/latest`;
}

/**
 * The metadata server's folder of the keys, under `instance/`: `/computeMetadata/v1/instance/attributes/<key>`,
 * or all of them as one JSON object with `?recursive=true`.
 */
export const ATTRIBUTES_FOLDER = "attributes/";

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
 * sslip.io resolves `a-b-c-d.sslip.io` to a.b.c.d, so HTTPS works without a domain. A loopback
 * address (the local cloud's VM) has no public name and can get no public certificate: its
 * hostname is `localhost`, which Caddy serves with its own internal CA.
 */
export function publicHostname(ip: string, domain?: string, subdomain?: string): string {
  if (domain) return subdomain ? `${subdomain}.${domain}` : domain;
  if (isLoopback(ip)) return "localhost";
  return sslipHostname(ip);
}

/** The sslip.io name of an IPv4 address (`a-b-c-d.sslip.io`, which resolves to a.b.c.d). */
export function sslipHostname(ip: string): string {
  return `${ip.replace(/\./g, "-")}.sslip.io`;
}

/** Whether the hostname can only get a certificate from Caddy's internal CA (no public CA issues one for it). */
export function needsInternalCertificate(hostname: string): boolean {
  return hostname === "localhost" || hostname.endsWith(".localhost");
}

function isLoopback(ip: string): boolean {
  return /^127\.\d+\.\d+\.\d+$/.test(ip) || ip === "::1";
}
