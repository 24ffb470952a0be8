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
import { acceleratorSpec } from "../contracts/accelerators";
import { estimateReplicatedMonthlyCost } from "./replicas/pricing";
import { planReplicas } from "./replicas/replicasArgs";
import { declareReplicatedModel } from "./replicas/replicatedModel";
import type { BudgetModelArgs } from "./args/budgetModelArgs";
import { acmeEmailProblem, domainProblem, endpointDomain, subdomainProblem } from "./args/endpointArgs";
import { resolveArgs } from "./args/resolveArgs";
import { checkedWhenKnown } from "./args/whenKnown";
import { resourceSlug } from "./resourceSlug";

export type { BudgetModelArgs } from "./args/budgetModelArgs";

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

  constructor(name: string, givenArgs: BudgetModelArgs, opts?: pulumi.ComponentResourceOptions) {
    super("budgetml:index:BudgetModel", name, {}, opts);
    // Checked (every problem at once, each with its property path) and defaulted in one place: components/args/.
    const resolved = resolveArgs(name, givenArgs, gcp.config);
    for (const warning of resolved.warnings) pulumi.log.warn(`BudgetModel "${name}": ${warning}`, this);
    const args = resolved.args;
    const { project, zone, region, provisioning, machineType, gpus, diskSizeGb, running, functionRuntime } = args;
    const spotFallbackSeconds = provisioning === "spot" ? Math.round(args.spotFallbackMinutes * 60) : 0;

    const ctx: ModelContext = {
      name,
      parent: this,
      slug: resourceSlug(name, 20),
      suffix: new random.RandomId(`${name}-suffix`, { byteLength: 3 }, { parent: this }).hex,
      project,
      region,
      zone,
      labels: { "budgetml-model": resourceSlug(name, 63), ...args.labels },
      apis: args.enableApis ? enableApis(name, project, this) : [],
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
    const username = pulumi.output(args.username);
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
              checkedWhenKnown(ctx, "domain", args.domain, domainProblem),
              args.subdomain === undefined
                ? undefined
                : checkedWhenKnown(ctx, "subdomain", args.subdomain, subdomainProblem),
            ])
            .apply(([domain, subdomain]) => publicHostname("", endpointDomain(domain), subdomain));
    const acmeEmail =
      args.acmeEmail === undefined ? "" : checkedWhenKnown(ctx, "acmeEmail", args.acmeEmail, acmeEmailProblem);
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
        accelerator: gpus ? acceleratorSpec(gpus) : "",
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
        network: args.network,
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
      const network = declareNetwork(ctx, args.staticIp, args.network);
      const instance = declareInstance(ctx, {
        machineType,
        gpus,
        diskSizeGb,
        provisioning,
        network: args.network,
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
        schedule: args.schedule,
        provisioning,
        spotFallbackSeconds,
        spotReturnWindow: args.spotReturnWindow,
        keepRunning: running,
      });
      this.ipAddress = network.ipAddress;
      hostname = customHostname ?? network.ipAddress.apply((ip) => publicHostname(ip));
      this.instanceName = instance.name;
      this.monthlyCost = pulumi.output(estimateMonthlyCost(machineType, provisioning, diskSizeGb, running, gpus));
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
    if (args.waitForHealthy && running) {
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
        args.healthTimeoutSeconds,
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
