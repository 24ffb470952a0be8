import { MAX_BATCH_SIZE, MAX_BATCH_WAIT_MS } from "../../contracts/batching";
import { DEFAULT_SPOT_RETURN_WINDOW } from "../../contracts/scheduling";
import { RESTARTER_RUNTIME } from "../../contracts/functionRuntimes";
import type { BudgetModelArgs } from "./budgetModelArgs";

/** The args a program may leave out: every one but `predictor`. */
export type OptionalArg = {
  [K in keyof BudgetModelArgs]-?: undefined extends BudgetModelArgs[K] ? K : never;
}[keyof BudgetModelArgs];

/**
 * What an arg is when a program leaves it out: `doc`, the words of its `@default` in the TSDoc of
 * `BudgetModelArgs`, and `value` where that default is one fixed value the component uses as it is
 * (else the default is worked out where the arg is used: from stack config, another arg, a new
 * resource, or left out).
 */
export interface ArgDefault<T> {
  readonly doc: string;
  readonly value?: T;
}

/**
 * The default of every optional arg of a BudgetModel, in one place: the component reads each fixed
 * value from here, and tests/components/argDefaults.test.ts holds the TSDoc `@default` of every field
 * of `BudgetModelArgs` to the `doc` here (and each `doc` to its `value`), so neither can drift.
 */
export const ARG_DEFAULTS = {
  entrypoint: { doc: `"Predictor", else the default export` },
  requirements: { doc: "none" },
  allowScripts: { doc: "none" },
  requirementsFile: { doc: "none" },
  project: { doc: "the `gcp:project` stack config" },
  region: { doc: "the zone's region, else `gcp:region`" },
  zone: { doc: "the `gcp:zone` stack config" },
  // Without GPUs; with them, hardwareOf (components/acceleratorArgs.ts) works out the machine, disk,
  // health timeout and spot fallback from the accelerator and machine type.
  machineType: { value: "e2-small", doc: `"e2-small" (2 shared vCPUs, 2 GB), "n1-standard-4" with an \`accelerator\`` },
  accelerator: { doc: "none" },
  diskSizeGb: { value: 20, doc: "20 (50 with GPUs: the driver and CUDA take ~5 GB; at least 30)" },
  provisioning: { value: "spot", doc: `"spot"` },
  domain: { doc: "none: `<ip-with-dashes>.sslip.io`" },
  subdomain: { doc: "none: the domain itself" },
  username: { value: "budget", doc: `"budget"` },
  password: { doc: "a random 24-character password" },
  staticIp: { doc: "a new static address" },
  schedule: { value: "* * * * *", doc: `"* * * * *" (every minute)` },
  spotFallbackMinutes: { value: 10, doc: "10 (0 for a machine type Google offers only as Spot VMs)" },
  spotReturnWindow: { value: DEFAULT_SPOT_RETURN_WINDOW, doc: `"${DEFAULT_SPOT_RETURN_WINDOW}"` },
  // The runtime's own defaults (contracts/batching.ts): left out, the VM is told nothing and applies them.
  maxBatchSize: { doc: `${MAX_BATCH_SIZE.default} (no batching)` },
  maxBatchWaitMs: { doc: `${MAX_BATCH_WAIT_MS.default}` },
  image: { doc: "none" },
  running: { value: true, doc: "true" },
  acmeEmail: { doc: "none: certificates are still issued, without notices" },
  network: { value: "default", doc: `"default"` },
  subnetwork: { doc: "the network's subnetwork in the region (auto mode)" },
  functionRuntime: { value: RESTARTER_RUNTIME, doc: `"${RESTARTER_RUNTIME}"` },
  labels: { doc: "none (budgetml adds `budgetml-model`)" },
  enableApis: { value: true, doc: "true" },
  waitForHealthy: { value: true, doc: "true" },
  healthTimeoutSeconds: { value: 900, doc: "900 (1800 with GPUs: the driver's install reboots the VM)" },
  replicas: { doc: "none: one VM behind its own Caddy, kept running by the restarter" },
} as const satisfies { readonly [K in OptionalArg]: ArgDefault<NonNullable<BudgetModelArgs[K]>> };
