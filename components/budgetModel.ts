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
import { instanceMetadata, publicHostname, type InstanceMetadata } from "../contracts/instanceMetadata";
import { frontIdOf, runtimeIdOf } from "../contracts/servedDeployment";
import { DEFAULT_SPOT_RETURN_WINDOW, type Provisioning } from "../contracts/scheduling";
import { estimateReplicatedMonthlyCost } from "./replicas/pricing";
import { planReplicas, type Replicas } from "./replicas/replicasArgs";
import { declareReplicatedModel } from "./replicas/replicatedModel";
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

/**
 * A model behind a secured HTTPS API on a spot VM that comes back after every preemption: a
 * bucket with the predictor and runtime bundles, a least-privilege service account, the password
 * and token key in Secret Manager, a static address and firewall rule, the instance, and the
 * restarter (topic, Cloud Function, scheduler job). With `replicas`, instead of the instance,
 * address and restarter: managed instance groups of VMs booting the same way, behind Google's
 * external Application Load Balancer (see components/replicas/).
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
  /** The VM's instance name; with `replicas`, the first managed instance group's name. */
  public readonly instanceName: pulumi.Output<string>;
  /** The bucket holding the predictor and runtime bundles. */
  public readonly bucketName: pulumi.Output<string>;
  /** The login name for `POST /token`. */
  public readonly username: pulumi.Output<string>;
  /** The password (a Pulumi secret). */
  public readonly password: pulumi.Output<string>;
  /** An estimate of the monthly cost, next to the same machine on demand. */
  public readonly monthlyCost: pulumi.Output<CostEstimate>;
  /** With a `domain`: the A record to create (name → `ipAddress`); undefined without one (sslip.io resolves by itself). */
  public readonly dnsRecord: pulumi.Output<DnsRecord | undefined>;
  /** The restarter function (its identities are children too); absent with `replicas`. */
  public readonly restarter?: gcp.cloudfunctionsv2.Function;
  /** The VM; absent with `replicas`. */
  public readonly instance?: gcp.compute.Instance;
  /** With `replicas`: the managed instance groups, spot first, then the standard one. */
  public readonly groups?: gcp.compute.RegionInstanceGroupManager[];
  /** With `replicas`: the load balancer's backend service over the groups. */
  public readonly backendService?: gcp.compute.BackendService;
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

    const storage = declareStorage(ctx, predictorBundle, runtimeBundle);
    const username = pulumi.output(args.username ?? "budget");
    const identity = declareIdentity(ctx, username, args.password);
    const replicas = args.replicas === undefined ? undefined : planReplicas(args.replicas);
    // Replicas have no restarter, so no restart topic to publish to.
    const topic = replicas ? undefined : declareTopic(ctx);
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
    // The first boot reads the bundles, the secrets and publishes to the topic: all of it in place first.
    const bootNeeds = [...identity.ready, ...vmGrants, storage.predictorObject, storage.runtimeObject];
    const bootMetadata = (front: Pick<InstanceMetadata<pulumi.Input<string>>, "topic" | "loadBalancer">) =>
      instanceMetadata<pulumi.Input<string>>({
        bucket: storage.bucket.name,
        runtimeObject: storage.runtimeObject.name,
        predictorObject: storage.predictorObject.name,
        entrypoint: args.entrypoint ?? "",
        username,
        // Versions, not the secrets: a new password (and signing key) changes the metadata, so the VM rolls it out.
        passwordSecret: identity.passwordVersion.name,
        tokenSecret: identity.signingKeyVersion.name,
        domain: customHostname ?? "",
        image: args.image ?? "",
        maxBatchSize: args.maxBatchSize === undefined ? "" : String(args.maxBatchSize),
        maxBatchWaitMs: args.maxBatchWaitMs === undefined ? "" : String(args.maxBatchWaitMs),
        acmeEmail,
        ...front,
      });

    let hostname: pulumi.Output<string>;
    /**
     * Where `pulumi up` reads the runtime's health, what makes it read again, and the front's id it
     * waits for (see frontIdOf; empty behind the load balancer, which sends none).
     */
    let health: { url: pulumi.Output<string>; triggers: pulumi.Input<string>[]; front: pulumi.Input<string> };
    if (replicas) {
      const replicated = declareReplicatedModel(ctx, {
        plan: replicas,
        machineType,
        diskSizeGb,
        serviceAccountEmail: identity.vmAccount.email,
        network: args.network ?? "default",
        subnetwork: args.subnetwork,
        metadataFor: (loadBalancerIp) => bootMetadata({ topic: "", loadBalancer: loadBalancerIp }),
        bootNeeds,
        customHostname,
      });
      this.ipAddress = replicated.ipAddress;
      hostname = replicated.hostname;
      this.instanceName = replicated.groups[0].name;
      this.monthlyCost = pulumi.output(estimateReplicatedMonthlyCost(machineType, diskSizeGb, replicas));
      this.groups = replicated.groups;
      this.backendService = replicated.backendService;
      // `GET /` alone is served on plain HTTP by the load balancer (the certificate may take an hour);
      // a new template is new bundles rolling out.
      health = {
        url: pulumi.interpolate`http://${replicated.ipAddress}/`,
        triggers: replicated.templates.map((template) => template.id),
        front: "",
      };
    } else {
      const restartTopic = topic as gcp.pubsub.Topic; // declared above for every single VM
      const network = declareNetwork(ctx, args.staticIp, args.network ?? "default");
      const instance = declareInstance(ctx, {
        machineType,
        diskSizeGb,
        provisioning,
        network: args.network ?? "default",
        subnetwork: args.subnetwork,
        running,
        bootNeeds,
        serviceAccountEmail: identity.vmAccount.email,
        ipAddress: network.ipAddress,
        tag: network.tag,
        metadata: bootMetadata({ topic: restartTopic.id, loadBalancer: "" }),
      });
      const restarter = declareRestarter(ctx, {
        bucket: storage.bucket,
        instance,
        topic: restartTopic,
        source: pulumi.output(buildRestarterSource(join(buildDir, "restarter"), functionRuntime)),
        runtime: functionRuntime,
        schedule: args.schedule ?? "* * * * *",
        provisioning,
        spotFallbackSeconds,
        spotReturnWindow: args.spotReturnWindow ?? DEFAULT_SPOT_RETURN_WINDOW,
        keepRunning: running,
      });
      this.ipAddress = network.ipAddress;
      hostname = customHostname ?? network.ipAddress.apply((ip) => publicHostname(ip));
      this.instanceName = instance.name;
      this.monthlyCost = pulumi.output(estimateMonthlyCost(machineType, provisioning, diskSizeGb, running));
      this.instance = instance;
      this.restarter = restarter.fn;
      // With a domain, DNS may not point here yet: the wait checks the runtime through the IP (Caddy
      // answers GET / on plain HTTP for the bare IP), so `pulumi up` finishes once the runtime
      // serves, and the certificate follows the A record. Adding a domain to a live stack moves the
      // wait to the IP, which Caddy serves once it has reloaded.
      health = {
        url: customHostname
          ? pulumi.interpolate`http://${network.ipAddress}/`
          : pulumi.interpolate`https://${hostname}/`,
        triggers: [instance.id],
        front: pulumi
          .all([hostname, acmeEmail])
          .apply(([host, contact]) => frontIdOf({ hostname: host, acmeEmail: contact })),
      };
    }

    this.url = pulumi.interpolate`https://${hostname}`;
    this.docsUrl = pulumi.interpolate`${this.url}/docs`;
    this.tokenUrl = pulumi.interpolate`${this.url}/token`;
    this.bucketName = storage.bucket.name;
    this.username = username;
    this.password = identity.password;
    this.bucket = storage.bucket;
    this.dnsRecord = customHostname
      ? pulumi
          .all([customHostname, this.ipAddress])
          .apply(([hostname, ip]): DnsRecord | undefined => dnsRecordFor(hostname, ip))
      : pulumi.output<DnsRecord | undefined>(undefined);
    // A parked model has nothing to wait for.
    if (args.waitForHealthy !== false && running) {
      // What the VMs serve once they have rolled this update out: the runtime's id (see runtimeIdOf).
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
      waitForHealth(
        ctx,
        health.url,
        args.healthTimeoutSeconds ?? 900,
        [...health.triggers, storage.predictorObject.name, storage.runtimeObject.name],
        { bundle, front: health.front },
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
