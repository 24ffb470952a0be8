import type * as pulumi from "@pulumi/pulumi";
import type { Provisioning } from "../../contracts/scheduling";
import type { Accelerator } from "../acceleratorArgs";
import type { Replicas } from "../replicas/replicasArgs";

/**
 * The arguments of a `BudgetModel`. Each `@default` here is the one `ARG_DEFAULTS`
 * (components/args/defaults.ts) states and the code reads; a test keeps the two equal.
 */
export interface BudgetModelArgs {
  /** Path of the predictor file (.ts, .js, .cjs or .mjs exporting the predictor class, or .py defining it). */
  readonly predictor: string;
  /** Name of the exported predictor class. @default "Predictor", else the default export */
  readonly entrypoint?: string;
  /**
   * npm packages the predictor needs on the VM, as names with optional versions
   * (`["sharp@^0.33"]`), or the path of a package.json whose dependencies to install. For a .py
   * predictor, pip requirements (`["scikit-learn==1.5.2"]`), installed into a virtual environment.
   * @default none
   */
  readonly requirements?: string[];
  /**
   * npm requirements whose install scripts may run on the VM (e.g. `["sharp"]` if it must build),
   * as the runtime's unprivileged user. Every other package installs with its scripts off. Each
   * must be among the requirements; not for a .py predictor. @default none
   */
  readonly allowScripts?: string[];
  /** Path of a package.json whose `dependencies` are the requirements (for a .py predictor: a requirements.txt), instead of `requirements`. @default none */
  readonly requirementsFile?: string;
  /** Google Cloud project. @default the `gcp:project` stack config */
  readonly project?: string;
  /** Region of the bucket, address and restarter. @default the zone's region, else `gcp:region` */
  readonly region?: string;
  /** Zone of the VM. @default the `gcp:zone` stack config */
  readonly zone?: string;
  /**
   * Machine type. G2 (L4), A2 (A100) and A3 (H100) machine types come with their GPUs.
   * @default "e2-small" (2 shared vCPUs, 2 GB), "n1-standard-4" with an `accelerator`
   */
  readonly machineType?: string;
  /**
   * GPUs attached to an N1 machine type: `{ type: "nvidia-tesla-t4", count: 1 }` (1, 2 or 4 T4s). The
   * VM installs NVIDIA's driver once per disk with Google's installer and checks the GPUs with
   * nvidia-smi before the runtime serves. Not for G2/A2/A3 machine types, which carry theirs.
   * @default none
   */
  readonly accelerator?: Accelerator;
  /** Boot disk size in GB. @default 20 (50 with GPUs: the driver and CUDA take ~5 GB; at least 30) */
  readonly diskSizeGb?: number;
  /** "spot", "preemptible" (legacy, 24 h limit) or "standard" (on demand, never preempted). @default "spot" */
  readonly provisioning?: Provisioning;
  /**
   * Domain for the HTTPS endpoint; create the A record the `dnsRecord` output names. Until it
   * resolves, `pulumi up` checks the runtime through the IP and the certificate waits for DNS.
   * May be another resource's output, such as a Cloud DNS zone's `dnsName` (its trailing dot is dropped).
   * @default none: `<ip-with-dashes>.sslip.io`
   */
  readonly domain?: pulumi.Input<string>;
  /** Subdomain of `domain` for the endpoint. @default none: the domain itself */
  readonly subdomain?: pulumi.Input<string>;
  /** Login name. @default "budget" */
  readonly username?: pulumi.Input<string>;
  /** Password (at least 12 characters); kept as a Pulumi secret. @default a random 24-character password */
  readonly password?: pulumi.Input<string>;
  /** An existing external IP address to use instead of reserving one. @default a new static address */
  readonly staticIp?: pulumi.Input<string>;
  /** Cron schedule (UTC) of the restarter's safety-net tick. @default "* * * * *" (every minute) */
  readonly schedule?: string;
  /**
   * With spot provisioning: minutes the instance may stay down for lack of spot capacity before the
   * restarter starts it as standard (on demand) instead; after 6 hours it returns to spot in the
   * `spotReturnWindow`. 0 turns the fallback off.
   * @default 10 (0 for a machine type Google offers only as Spot VMs)
   */
  readonly spotFallbackMinutes?: number;
  /**
   * With spot provisioning: when (a daily UTC window, `HH:MM-HH:MM`) the restarter may stop an
   * instance running on demand after a fallback and start it on spot again — a stop and a start,
   * about a minute or two of downtime; without spot capacity it is back on demand at once.
   * @default "03:00-05:00"
   */
  readonly spotReturnWindow?: string;
  /**
   * Adaptive batching: the most concurrent requests the runtime groups into one `predictBatch()`
   * call (`predict_batch()` in Python), which the predictor must then define. Batches form while the
   * model is busy, and an idle model's batch waits for more only when that pays. @default 1 (no batching)
   */
  readonly maxBatchSize?: number;
  /** With batching: the longest a request waits for others while the model is idle, in ms. @default 10 */
  readonly maxBatchWaitMs?: number;
  /** A container image built FROM the runtime's base image (images/runtime/Dockerfile) to run instead of the runtime bundle. @default none */
  readonly image?: string;
  /**
   * Whether the model serves. `false` parks it: the VM is stopped (no compute cost), the restarter
   * leaves it stopped and its schedule is paused; disk, address and bundles stay, so `true` brings
   * it back as it was. @default true
   */
  readonly running?: boolean;
  /**
   * Email the certificate authorities (Let's Encrypt, then ZeroSSL) may use for expiry and
   * account notices. @default none: certificates are still issued, without notices
   */
  readonly acmeEmail?: pulumi.Input<string>;
  /**
   * VPC network of the instance and its firewall rule: a name or `projects/P/global/networks/N`
   * (the project's `default` network may not exist under an organization policy). @default "default"
   */
  readonly network?: pulumi.Input<string>;
  /** Subnetwork of the instance, in its region (needs `network`). @default the network's subnetwork in the region (auto mode) */
  readonly subnetwork?: pulumi.Input<string>;
  /**
   * Cloud Run functions runtime of the restarter. Preview fails for a decommissioned runtime and
   * warns within 180 days of its decommission date. @default "nodejs24"
   */
  readonly functionRuntime?: string;
  /** Labels added to every labelled child. @default none (budgetml adds `budgetml-model`) */
  readonly labels?: Record<string, string>;
  /** Enable the Google APIs the deployment needs (never disabled on destroy). @default true */
  readonly enableApis?: boolean;
  /** Make `pulumi up` wait until the endpoint answers its health check. @default true */
  readonly waitForHealthy?: boolean;
  /** How long to wait for the health check, in seconds. @default 900 (1800 with GPUs: the driver's install reboots the VM) */
  readonly healthTimeoutSeconds?: number;
  /**
   * Serve from several VMs behind Google's external Application Load Balancer instead of one: a
   * number is a fixed group of that many spot VMs; `{ min, max }` an autoscaled one (CPU); and
   * `standard` of the `min` run on demand, in a group of their own that preemptions never touch.
   * A regional managed instance group recreates preempted VMs, autoheals on `GET /` and rolls out
   * new bundles; the load balancer (about $18/month) terminates HTTPS with a Google-managed
   * certificate and retries a request that met a leaving replica on another one. No restarter.
   * @default none: one VM behind its own Caddy, kept running by the restarter
   */
  readonly replicas?: number | Replicas;
}
