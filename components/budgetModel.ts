import { join } from "node:path";
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { buildPredictorBundle } from "../bundles/predictorBundle";
import { buildRestarterSource } from "../bundles/restarterSource";
import { buildRuntimeBundle } from "../bundles/runtimeBundle";
import { enableApis } from "./apis";
import type { ModelContext } from "./context";
import { waitForHealth } from "./healthWait";
import { declareIdentity, grantVmAccess } from "./identity";
import { declareInstance } from "./instance";
import { declareNetwork, dnsRecordFor, type DnsRecord } from "./network";
import { estimateMonthlyCost, type CostEstimate } from "./pricing";
import { declareRestarter, declareTopic } from "./restarter";
import { declareStorage } from "./storage";
import { instanceMetadata, publicHostname } from "../contracts/instanceMetadata";
import { frontIdOf, runtimeIdOf } from "../contracts/servedDeployment";
import { DEFAULT_SPOT_RETURN_WINDOW, type Provisioning } from "../contracts/scheduling";
import { RESTARTER_RUNTIME } from "../functions/functionRuntimes";
import {
  acmeEmailProblem,
  checkedWhenKnown,
  domainProblem,
  endpointDomain,
  resourceSlug,
  subdomainProblem,
  validateArgs,
} from "./validate";

/** The arguments of a {@link BudgetModel}. */
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
  /** Machine type. @default "e2-small" (2 shared vCPUs, 2 GB) */
  readonly machineType?: string;
  /** Boot disk size in GB. @default 20 */
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
   * `spotReturnWindow`. 0 turns the fallback off. @default 10
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
  /** How long to wait for the health check, in seconds. @default 900 */
  readonly healthTimeoutSeconds?: number;
}

/**
 * A model behind a secured HTTPS API on a spot VM that comes back after every preemption: a
 * bucket with the predictor and runtime bundles, a least-privilege service account, the password
 * and token key in Secret Manager, a static address and firewall rule, the instance, and the
 * restarter (topic, Cloud Function, scheduler job).
 */
export class BudgetModel extends pulumi.ComponentResource {
  /** `https://<host>`: the API's base URL. */
  public readonly url: pulumi.Output<string>;
  /** Swagger UI: `<url>/docs`. */
  public readonly docsUrl: pulumi.Output<string>;
  /** The OAuth2 token endpoint: `<url>/token`. */
  public readonly tokenUrl: pulumi.Output<string>;
  /** The endpoint's static external IP address. */
  public readonly ipAddress: pulumi.Output<string>;
  public readonly instanceName: pulumi.Output<string>;
  public readonly bucketName: pulumi.Output<string>;
  public readonly username: pulumi.Output<string>;
  /** The password (a Pulumi secret). */
  public readonly password: pulumi.Output<string>;
  /** An estimate of the monthly cost, next to the same machine on demand. */
  public readonly monthlyCost: pulumi.Output<CostEstimate>;
  /** With a `domain`: the A record to create (name → `ipAddress`); undefined without one (sslip.io resolves by itself). */
  public readonly dnsRecord: pulumi.Output<DnsRecord | undefined>;
  /** The restarter function (its identities are children too). */
  public readonly restarter: gcp.cloudfunctionsv2.Function;
  /** The VM. */
  public readonly instance: gcp.compute.Instance;
  /** The bucket holding the predictor and runtime bundles. */
  public readonly bucket: gcp.storage.Bucket;

  constructor(name: string, args: BudgetModelArgs, opts?: pulumi.ComponentResourceOptions) {
    super("budgetml:index:BudgetModel", name, {}, opts);
    const zone = args.zone ?? gcp.config.zone;
    const project = args.project ?? gcp.config.project;
    const region = args.region ?? zone?.replace(/-[a-z]$/, "") ?? gcp.config.region;
    const warnings = validateArgs(name, {
      ...args,
      zone,
      region,
      requirements: args.requirements ?? args.requirementsFile,
    });
    for (const warning of warnings) pulumi.log.warn(`BudgetModel "${name}": ${warning}`, this);
    if (args.requirements && args.requirementsFile)
      throw new Error(`BudgetModel "${name}": give requirements or requirementsFile, not both`);
    if (!project || !zone) {
      throw new Error(
        `BudgetModel "${name}": set ${[!project && "project", !zone && "zone"].filter(Boolean).join(" and ")} in args or as gcp:project / gcp:zone stack config`,
      );
    }
    const provisioning: Provisioning = args.provisioning ?? "spot";
    const machineType = args.machineType ?? "e2-small";
    const diskSizeGb = args.diskSizeGb ?? 20;
    const spotFallbackSeconds = provisioning === "spot" ? Math.round((args.spotFallbackMinutes ?? 10) * 60) : 0;
    const running = args.running ?? true;
    const functionRuntime = args.functionRuntime ?? RESTARTER_RUNTIME;

    const ctx: ModelContext = {
      name,
      parent: this,
      slug: resourceSlug(name, 20),
      suffix: new random.RandomId(`${name}-suffix`, { byteLength: 3 }, { parent: this }).hex,
      project,
      region: region as string,
      zone,
      labels: { "budgetml-model": resourceSlug(name, 63), ...(args.labels ?? {}) },
      apis: args.enableApis === false ? [] : enableApis(name, project, this),
    };

    // Bundles are built where `pulumi up` runs, named by content (see bundles/).
    const buildDir = join(process.cwd(), ".budgetml", "build", name);
    const predictorBundle = pulumi.output(
      buildPredictorBundle({
        predictor: args.predictor,
        entrypoint: args.entrypoint,
        requirements: args.requirements ?? args.requirementsFile,
        allowScripts: args.allowScripts,
        outDir: buildDir,
      }),
    );
    const runtimeBundle = pulumi.output(buildRuntimeBundle(buildDir));
    const restarterSource = pulumi.output(buildRestarterSource(join(buildDir, "restarter"), functionRuntime));

    const storage = declareStorage(ctx, predictorBundle, runtimeBundle);
    const username = pulumi.output(args.username ?? "budget");
    const identity = declareIdentity(ctx, username, args.password);
    const network = declareNetwork(ctx, args.staticIp, args.network ?? "default");
    const topic = declareTopic(ctx);
    const vmGrants = grantVmAccess(ctx, identity.vmAccount, storage.bucket, topic, args.image);
    // With a domain, the endpoint's hostname; plain values were checked above, outputs are checked once known.
    const customHostname =
      args.domain === undefined
        ? undefined
        : pulumi
            .all([
              checkedWhenKnown(name, "domain", args.domain, domainProblem),
              args.subdomain === undefined
                ? undefined
                : checkedWhenKnown(name, "subdomain", args.subdomain, subdomainProblem),
            ])
            .apply(([domain, subdomain]) => publicHostname("", endpointDomain(domain), subdomain));
    const acmeEmail =
      args.acmeEmail === undefined ? "" : checkedWhenKnown(name, "acmeEmail", args.acmeEmail, acmeEmailProblem);
    const instance = declareInstance(ctx, {
      machineType,
      diskSizeGb,
      provisioning,
      network: args.network ?? "default",
      subnetwork: args.subnetwork,
      running,
      // The first boot reads the bundles, the secrets and publishes to the topic: all of it in place first.
      bootNeeds: [...identity.ready, ...vmGrants, storage.predictorObject, storage.runtimeObject],
      serviceAccountEmail: identity.vmAccount.email,
      ipAddress: network.ipAddress,
      tag: network.tag,
      metadata: instanceMetadata<pulumi.Input<string>>({
        bucket: storage.bucket.name,
        runtimeObject: storage.runtimeObject.name,
        predictorObject: storage.predictorObject.name,
        entrypoint: args.entrypoint ?? "",
        username,
        // Versions, not the secrets: a new password (and signing key) changes the metadata, so the VM rolls it out.
        passwordSecret: identity.passwordVersion.name,
        tokenSecret: identity.signingKeyVersion.name,
        domain: customHostname ?? "",
        topic: topic.id,
        image: args.image ?? "",
        maxBatchSize: args.maxBatchSize === undefined ? "" : String(args.maxBatchSize),
        maxBatchWaitMs: args.maxBatchWaitMs === undefined ? "" : String(args.maxBatchWaitMs),
        acmeEmail,
      }),
    });
    const restarter = declareRestarter(ctx, {
      bucket: storage.bucket,
      instance,
      topic,
      source: restarterSource,
      runtime: functionRuntime,
      schedule: args.schedule ?? "* * * * *",
      provisioning,
      spotFallbackSeconds,
      spotReturnWindow: args.spotReturnWindow ?? DEFAULT_SPOT_RETURN_WINDOW,
      keepRunning: running,
    });

    this.ipAddress = network.ipAddress;
    this.url = customHostname
      ? pulumi.interpolate`https://${customHostname}`
      : network.ipAddress.apply((ip) => `https://${publicHostname(ip)}`);
    this.docsUrl = pulumi.interpolate`${this.url}/docs`;
    this.tokenUrl = pulumi.interpolate`${this.url}/token`;
    this.instanceName = instance.name;
    this.bucketName = storage.bucket.name;
    this.username = username;
    this.password = identity.password;
    this.monthlyCost = pulumi.output(estimateMonthlyCost(machineType, provisioning, diskSizeGb, running));
    this.instance = instance;
    this.bucket = storage.bucket;
    this.restarter = restarter.fn;
    this.dnsRecord = customHostname
      ? pulumi
          .all([customHostname, network.ipAddress])
          .apply(([hostname, ip]): DnsRecord | undefined => dnsRecordFor(hostname, ip))
      : pulumi.output<DnsRecord | undefined>(undefined);
    // A parked model has nothing to wait for. With a domain, DNS may not point here yet: the wait
    // checks the runtime through the IP (Caddy answers GET / on plain HTTP for the bare IP), so
    // `pulumi up` finishes once the runtime serves, and the certificate follows the A record. Adding
    // a domain to a live stack moves the wait to the IP, which Caddy serves once it has reloaded.
    if (args.waitForHealthy !== false && running) {
      const healthUrl = customHostname
        ? pulumi.interpolate`http://${network.ipAddress}/`
        : pulumi.interpolate`${this.url}/`;
      // What the VM serves once it has rolled this update out: the runtime's and the front's ids.
      const bundle = pulumi
        .all([
          storage.runtimeObject.name,
          storage.predictorObject.name,
          identity.passwordVersion.name,
          identity.signingKeyVersion.name,
        ])
        .apply(([runtimeObject, predictorObject, passwordSecret, tokenSecret]) =>
          runtimeIdOf({ runtimeObject, predictorObject, image: args.image, passwordSecret, tokenSecret }),
        );
      const front = pulumi
        .all([customHostname ?? network.ipAddress.apply((ip) => publicHostname(ip)), acmeEmail])
        .apply(([hostname, contact]) => frontIdOf({ hostname, acmeEmail: contact }));
      waitForHealth(
        ctx,
        healthUrl,
        args.healthTimeoutSeconds ?? 900,
        [instance.id, storage.predictorObject.name, storage.runtimeObject.name],
        { bundle, front },
      );
    }

    this.registerOutputs({
      url: this.url,
      docsUrl: this.docsUrl,
      tokenUrl: this.tokenUrl,
      ipAddress: this.ipAddress,
      instanceName: this.instanceName,
      bucketName: this.bucketName,
      username: this.username,
      password: this.password,
      monthlyCost: this.monthlyCost,
      dnsRecord: this.dnsRecord,
    });
  }
}
