import { randomBytes } from "node:crypto";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type * as pulumi from "@pulumi/pulumi";
import { DeclaredLoadBalancing } from "./declaredLoadBalancing";
import { IamPolicy } from "./standins/accessPolicy";
import type { Scheduling } from "../contracts/scheduling";
import type { Gpus } from "../contracts/accelerators";

/** An instance as declared, about to be booted here. */
export interface DeclaredInstance {
  /** The Pulumi resource name (a BudgetModel's is `<model>-instance`). */
  resourceName: string;
  /** `projects/P/zones/Z/instances/I` */
  id: string;
  project: string;
  zone: string;
  name: string;
  metadata: Record<string, string>;
  scheduling: Scheduling;
  machineType: string;
  /** GPUs attached (`guestAccelerators`); a G2/A2/A3 machine type carries its own. */
  guestAccelerators: Gpus[];
  labels: Record<string, string>;
  serviceAccount: string | undefined;
  externalIp: string;
  /** `TERMINATED` for a parked model (`running: false`): it is declared stopped. */
  desiredStatus: "RUNNING" | "TERMINATED";
}

/** A 2nd gen Cloud Function as declared. */
export interface DeclaredFunction {
  name: string;
  project: string;
  location: string;
  runtime: string;
  entryPoint: string;
  source: { bucket: string; object: string };
  env: Record<string, string>;
  serviceAccount: string | undefined;
  trigger: { topic: string; serviceAccount: string | undefined } | undefined;
}

/** A Cloud Scheduler job publishing to a topic. */
export interface DeclaredJob {
  name: string;
  schedule: string;
  topic: string;
  data: string;
  attributes: Record<string, string>;
  /** A paused job never fires (a parked model's). */
  paused: boolean;
}

/** A `command:local:Command` as declared (the health wait). */
export interface DeclaredCommand {
  name: string;
  interpreter: string[];
  create: string;
  environment: Record<string, string>;
  /** Whether this evaluation created it or changed its inputs: `pulumi up` runs its `create` then. */
  changed: boolean;
}

/** A resource as the engine last registered it: what the next evaluation compares with. */
interface Registered {
  inputs: string;
  id: string;
  state: Record<string, unknown>;
}

/** The address every declared static IP gets here. */
const LOCAL_IP = "127.0.0.1";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

/**
 * Whether new inputs replace the resource (a new one, the old deleted at the end of the update)
 * rather than update it in place, for the types whose replacement the local deployment shows:
 * every input of the random provider's resources forces a new value (its `keepers` exist for
 * that); Secret Manager versions are immutable, new data is a new version
 * (https://cloud.google.com/secret-manager/docs/add-secret-version); an object's bucket and name
 * are its identity (the provider's `bucket` and `name` force a new object).
 */
function isReplacement(type: string, before: Record<string, unknown>, after: Record<string, unknown>): boolean {
  if (type.startsWith("random:") || type === "gcp:secretmanager/secretVersion:SecretVersion") return true;
  if (type === "gcp:storage/bucketObject:BucketObject")
    return before.bucket !== after.bucket || before.name !== after.name;
  return false;
}

/** Pulumi's mocks hand secret inputs over wrapped; the cloud receives the plain value. */
function unwrapSecret(value: unknown): unknown {
  if (
    value &&
    typeof value === "object" &&
    (value as Record<string, unknown>)["4dabf18193072939515e22adb298388d"] === SECRET_SIG
  )
    return (value as { value: unknown }).value;
  return value;
}

/**
 * Google Cloud as far as one machine can be it, built from a Pulumi program's declarations: the
 * `newResource` callback of Pulumi's mocks answers what Google would (ids, emails, addresses) and
 * materialises each resource here — bucket objects as files, secret versions in memory for the
 * Secret Manager stand-in, IAM grants in the policy every stand-in enforces — and records what
 * runs (instances, functions, scheduler jobs) for the local deployment to start.
 */
export class LocalCloud {
  readonly policy = new IamPolicy();
  /** Secret id `projects/P/secrets/S` → its versions (1 first; a destroyed one `undefined`). */
  readonly secrets: Record<string, Array<string | undefined>> = {};
  /** `bucket/object` → folder, for objects uploaded as a `FileArchive`. */
  readonly archives = new Map<string, string>();
  readonly topics = new Set<string>();
  readonly instances: DeclaredInstance[] = [];
  readonly functions: DeclaredFunction[] = [];
  readonly jobs: DeclaredJob[] = [];
  readonly commands: DeclaredCommand[] = [];
  /** The names of declared components of this type (the models to serve). */
  readonly components: Array<{ type: string; name: string }> = [];
  /** Everything declared, in order: `type name`. */
  readonly declared: string[] = [];
  /** This evaluation's resources, by `type::name`. */
  private registered = new Map<string, Registered>();
  /** The previous evaluation's (an update compares with them, as Pulumi's engine compares with its state). */
  private previous = new Map<string, Registered>();
  /** What this evaluation replaced, to delete once the update is done (Pulumi deletes replaced resources last). */
  private replaced: Array<{ type: string; inputs: Record<string, unknown>; state: Record<string, unknown> }> = [];
  /** Instance templates, managed instance groups and the load balancers in front of them. */
  readonly loadBalancing = new DeclaredLoadBalancing();

  constructor(readonly bucketsDir: string) {}

  /**
   * Starts another evaluation of the program against what this one materialised: a resource
   * declared again with the same inputs keeps its id and outputs (a random value stays, a secret
   * version is not added again), one with other inputs is created anew where its outputs are
   * generated (random values, secret versions) and updated in place otherwise. What was declared
   * is recorded afresh; {@link finishUpdate} then deletes what the new evaluation replaced or dropped.
   */
  beginUpdate(): void {
    this.previous = this.registered;
    this.registered = new Map();
    this.replaced = [];
    for (const list of [this.instances, this.functions, this.jobs, this.commands, this.components, this.declared])
      list.splice(0);
  }

  /**
   * Deletes what the last update replaced or no longer declares, as `pulumi up` does at its end:
   * a secret version is destroyed (Secret Manager refuses it from then on), a bucket object removed.
   */
  finishUpdate(): void {
    const dropped = [...this.previous.entries()].filter(([key]) => !this.registered.has(key));
    for (const { type, inputs, state } of [
      ...this.replaced,
      ...dropped.map(([key, r]) => ({
        type: key.split("::")[0],
        inputs: JSON.parse(r.inputs) as Record<string, unknown>,
        state: r.state,
      })),
    ]) {
      if (type === "gcp:secretmanager/secretVersion:SecretVersion") {
        const versions = this.secrets[String(inputs.secret)] ?? [];
        versions[Number(state.version) - 1] = undefined;
      }
      if (type === "gcp:storage/bucketObject:BucketObject")
        rmSync(join(this.bucketsDir, String(inputs.bucket), String(inputs.name)), { force: true });
    }
    this.previous = new Map();
    this.replaced = [];
  }

  /** The mocks to pass to `pulumi.runtime.setMocks`. */
  mocks(): pulumi.runtime.Mocks {
    return {
      newResource: async (args) => this.newResource(args),
      call: (args) => this.loadBalancing.invoke(args.token, args.inputs) ?? args.inputs,
    };
  }

  private async newResource(
    args: pulumi.runtime.MockResourceArgs,
  ): Promise<{ id: string; state: Record<string, unknown> }> {
    // The engine's inputs are whatever each resource type declares: read field by field below.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const inputs = args.inputs as Record<string, any>;
    const key = `${args.type}::${args.name}`;
    const inputsJson = JSON.stringify(inputs);
    const before = this.previous.get(key);
    const unchanged = before !== undefined && before.inputs === inputsJson;
    const result = unchanged ? { id: before.id, state: before.state } : await this.materialise(args, inputs);
    if (before && !unchanged && isReplacement(args.type, JSON.parse(before.inputs), inputs))
      this.replaced.push({ type: args.type, inputs: JSON.parse(before.inputs), state: before.state });
    this.registered.set(key, { inputs: inputsJson, ...result });
    this.record(args, inputs, result.id, !unchanged);
    return result;
  }

  /** Keeps what runs (instances, functions, jobs, commands) and what was declared, for the deployment to start. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the engine's inputs, as in newResource
  private record(args: pulumi.runtime.MockResourceArgs, inputs: Record<string, any>, id: string, changed: boolean) {
    this.declared.push(`${args.type} ${args.name}`);
    if (!args.custom) this.components.push({ type: args.type, name: args.name });
    const project = String(inputs.project ?? "");
    switch (args.type) {
      case "gcp:compute/instance:Instance":
        this.instances.push({
          resourceName: args.name,
          id,
          project,
          zone: inputs.zone,
          name: inputs.name,
          metadata: Object.fromEntries(Object.entries(inputs.metadata ?? {}).map(([k, v]) => [k, String(v)])),
          scheduling: inputs.scheduling ?? {},
          machineType: inputs.machineType,
          guestAccelerators: (inputs.guestAccelerators ?? []).map((gpu: { type: string; count: number }) => ({
            type: gpu.type,
            count: gpu.count,
          })),
          labels: inputs.labels ?? {},
          serviceAccount: inputs.serviceAccount?.email,
          externalIp: inputs.networkInterfaces?.[0]?.accessConfigs?.[0]?.natIp ?? LOCAL_IP,
          desiredStatus: inputs.desiredStatus === "TERMINATED" ? "TERMINATED" : "RUNNING",
        });
        break;
      case "gcp:cloudfunctionsv2/function:Function": {
        const { buildConfig = {}, serviceConfig = {}, eventTrigger } = inputs;
        this.functions.push({
          name: inputs.name,
          project,
          location: inputs.location,
          runtime: buildConfig.runtime,
          entryPoint: buildConfig.entryPoint,
          source: buildConfig.source?.storageSource ?? {},
          env: serviceConfig.environmentVariables ?? {},
          serviceAccount: serviceConfig.serviceAccountEmail,
          trigger: eventTrigger?.pubsubTopic
            ? { topic: eventTrigger.pubsubTopic, serviceAccount: eventTrigger.serviceAccountEmail }
            : undefined,
        });
        break;
      }
      case "gcp:cloudscheduler/job:Job":
        if (inputs.pubsubTarget) {
          const { topicName, data = "", attributes = {} } = inputs.pubsubTarget;
          this.jobs.push({
            name: inputs.name,
            schedule: inputs.schedule,
            topic: topicName,
            data: Buffer.from(data, "base64").toString(),
            attributes,
            paused: inputs.paused === true,
          });
        }
        break;
      case "command:local:Command":
        this.commands.push({
          name: args.name,
          interpreter: inputs.interpreter ?? ["/bin/sh", "-c"],
          create: String(inputs.create ?? ""),
          environment: Object.fromEntries(
            Object.entries(inputs.environment ?? {}).map(([k, v]) => [k, String(unwrapSecret(v))]),
          ),
          changed,
        });
        break;
    }
  }

  /** Creates the resource here and answers as Google would: its id and outputs. */
  private async materialise(
    args: pulumi.runtime.MockResourceArgs,
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the engine's inputs, as in newResource
    inputs: Record<string, any>,
  ): Promise<{ id: string; state: Record<string, unknown> }> {
    const state: Record<string, unknown> = { ...inputs };
    const project = String(inputs.project ?? "");
    let id = `${args.name}-id`;
    switch (args.type) {
      case "random:index/randomId:RandomId": {
        const bytes = randomBytes(Number(inputs.byteLength ?? 8));
        Object.assign(state, {
          hex: bytes.toString("hex"),
          b64Std: bytes.toString("base64"),
          b64Url: bytes.toString("base64url"),
          dec: BigInt(`0x${bytes.toString("hex")}`).toString(),
        });
        id = bytes.toString("base64url");
        break;
      }
      case "random:index/randomPassword:RandomPassword": {
        const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        state.result = [...randomBytes(Number(inputs.length ?? 16))].map((b) => alphabet[b % alphabet.length]).join("");
        id = "none";
        break;
      }
      case "gcp:storage/bucket:Bucket":
        mkdirSync(join(this.bucketsDir, inputs.name), { recursive: true });
        this.policy.setParent(`projects/_/buckets/${inputs.name}`, `projects/${project}`);
        Object.assign(state, { url: `gs://${inputs.name}`, selfLink: `projects/_/buckets/${inputs.name}` });
        id = inputs.name;
        break;
      case "gcp:storage/bucketObject:BucketObject": {
        const source = inputs.source as { path?: Promise<string> } & Record<string, unknown>;
        const path = await source?.path;
        if (path && "__pulumiArchive" in source) this.archives.set(`${inputs.bucket}/${inputs.name}`, path);
        else if (path) copyFileSync(path, join(this.bucketsDir, inputs.bucket, inputs.name));
        Object.assign(state, { outputName: inputs.name, mediaLink: `${inputs.bucket}/${inputs.name}` });
        id = `${inputs.bucket}-${inputs.name}`;
        break;
      }
      case "gcp:secretmanager/secret:Secret":
        id = `projects/${project}/secrets/${inputs.secretId}`;
        state.name = id;
        break;
      case "gcp:secretmanager/secretVersion:SecretVersion": {
        // Versions are numbered from 1 in the order they are added, and never change afterwards.
        const versions = (this.secrets[inputs.secret] ??= []);
        versions.push(String(unwrapSecret(inputs.secretData)));
        id = `${inputs.secret}/versions/${versions.length}`;
        Object.assign(state, { name: id, version: String(versions.length) });
        break;
      }
      case "gcp:serviceaccount/account:Account": {
        const email = `${inputs.accountId}@${project}.iam.gserviceaccount.com`;
        Object.assign(state, {
          email,
          name: `projects/${project}/serviceAccounts/${email}`,
          member: `serviceAccount:${email}`,
        });
        id = state.name as string;
        break;
      }
      case "gcp:compute/address:Address":
        state.address = LOCAL_IP;
        break;
      case "gcp:pubsub/topic:Topic":
        id = `projects/${project}/topics/${inputs.name}`;
        this.topics.add(id);
        break;
      case "gcp:projects/iAMCustomRole:IAMCustomRole":
        id = `projects/${project}/roles/${inputs.roleId}`;
        state.name = id;
        this.policy.defineRole(id, inputs.permissions ?? []);
        break;
      case "gcp:compute/instance:Instance":
        id = `projects/${project}/zones/${inputs.zone}/instances/${inputs.name}`;
        Object.assign(state, { instanceId: "4242424242424242", selfLink: id });
        break;
      case "gcp:cloudfunctionsv2/function:Function":
        id = `projects/${project}/locations/${inputs.location}/functions/${inputs.name}`;
        break;
      default:
        id = this.loadBalancing.record(args.type, args.name, inputs, state) ?? id;
        this.recordGrant(args.type, inputs);
    }
    return { id, state };
  }

  /** IAM member resources: one grant each, on the resource they name. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the engine's inputs, as in newResource
  private recordGrant(type: string, inputs: Record<string, any>): void {
    const project = inputs.project as string | undefined;
    const qualified = (value: string, collection: string) =>
      value.startsWith("projects/") ? value : `projects/${project}/${collection}/${value}`;
    const resource: Record<string, () => string> = {
      "gcp:projects/iAMMember:IAMMember": () => `projects/${project}`,
      "gcp:storage/bucketIAMMember:BucketIAMMember": () =>
        `projects/_/buckets/${String(inputs.bucket).replace(/^b\//, "")}`,
      "gcp:secretmanager/secretIamMember:SecretIamMember": () => qualified(inputs.secretId, "secrets"),
      "gcp:pubsub/topicIAMMember:TopicIAMMember": () => qualified(inputs.topic, "topics"),
      "gcp:compute/instanceIAMMember:InstanceIAMMember": () =>
        `projects/${project}/zones/${inputs.zone}/instances/${inputs.instanceName}`,
      "gcp:cloudrun/iamMember:IamMember": () =>
        `projects/${project}/locations/${inputs.location}/services/${inputs.service}`,
      "gcp:cloudrunv2/serviceIamMember:ServiceIamMember": () =>
        String(inputs.name).startsWith("projects/")
          ? inputs.name
          : `projects/${project}/locations/${inputs.location}/services/${inputs.name}`,
      "gcp:serviceaccount/iAMMember:IAMMember": () => String(inputs.serviceAccountId),
    };
    const scope = resource[type];
    if (scope && inputs.role && inputs.member) this.policy.grant(scope(), inputs.role, inputs.member);
  }
}
