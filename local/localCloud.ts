import { randomBytes } from "node:crypto";
import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type * as pulumi from "@pulumi/pulumi";
import { DeclaredLoadBalancing } from "./declaredLoadBalancing";
import { IamPolicy } from "./standins/accessPolicy";
import type { Scheduling } from "../contracts/scheduling";

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

/** The address every declared static IP gets here. */
const LOCAL_IP = "127.0.0.1";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

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
  /** Secret id `projects/P/secrets/S` → latest version's value. */
  readonly secrets: Record<string, string> = {};
  /** `bucket/object` → folder, for objects uploaded as a `FileArchive`. */
  readonly archives = new Map<string, string>();
  readonly topics = new Set<string>();
  readonly instances: DeclaredInstance[] = [];
  readonly functions: DeclaredFunction[] = [];
  readonly jobs: DeclaredJob[] = [];
  /** The names of declared components of this type (the models to serve). */
  readonly components: Array<{ type: string; name: string }> = [];
  /** Everything declared, in order: `type name`. */
  readonly declared: string[] = [];
  /** Instance templates, managed instance groups and the load balancers in front of them. */
  readonly loadBalancing = new DeclaredLoadBalancing();

  constructor(readonly bucketsDir: string) {}

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
    const state: Record<string, unknown> = { ...inputs };
    const project = String(inputs.project ?? "");
    let id = `${args.name}-id`;
    this.declared.push(`${args.type} ${args.name}`);
    if (!args.custom) this.components.push({ type: args.type, name: args.name });
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
      case "gcp:secretmanager/secretVersion:SecretVersion":
        this.secrets[inputs.secret] = String(unwrapSecret(inputs.secretData));
        id = `${inputs.secret}/versions/1`;
        Object.assign(state, { name: id, version: "1" });
        break;
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
      case "gcp:compute/instance:Instance": {
        id = `projects/${project}/zones/${inputs.zone}/instances/${inputs.name}`;
        this.instances.push({
          resourceName: args.name,
          id,
          project,
          zone: inputs.zone,
          name: inputs.name,
          metadata: Object.fromEntries(Object.entries(inputs.metadata ?? {}).map(([k, v]) => [k, String(v)])),
          scheduling: inputs.scheduling ?? {},
          labels: inputs.labels ?? {},
          serviceAccount: inputs.serviceAccount?.email,
          externalIp: inputs.networkInterfaces?.[0]?.accessConfigs?.[0]?.natIp ?? LOCAL_IP,
          desiredStatus: inputs.desiredStatus === "TERMINATED" ? "TERMINATED" : "RUNNING",
        });
        Object.assign(state, { instanceId: "4242424242424242", selfLink: id });
        break;
      }
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
        id = `projects/${project}/locations/${inputs.location}/functions/${inputs.name}`;
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
