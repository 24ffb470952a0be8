import { copyFileSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";

// Pulumi's own mocks stand in for the engine: every child is recorded with its real inputs, and
// the monitor's registrations tell us each child's parent.
interface Recorded { type: string; name: string; inputs: Record<string, any>; provider?: string; parent?: string }
const recorded: Recorded[] = [];
pulumi.runtime.setMocks(
  {
    newResource: (args) => {
      const state: Record<string, unknown> = { ...args.inputs };
      if (args.type === "random:index/randomId:RandomId") state.hex = Buffer.from(args.name).toString("hex").slice(-6);
      if (args.type === "random:index/randomPassword:RandomPassword") state.result = `generated-${args.name}-secret`;
      if (args.type === "gcp:compute/address:Address") state.address = "34.120.1.2";
      if (args.type === "gcp:serviceaccount/account:Account") state.email = `${args.inputs.accountId}@proj.iam.gserviceaccount.com`;
      if (args.type === "gcp:secretmanager/secret:Secret") state.id = `projects/proj/secrets/${args.inputs.secretId}`;
      if (args.type === "gcp:pubsub/topic:Topic") state.id = `projects/proj/topics/${args.inputs.name}`;
      recorded.push({ type: args.type, name: args.name, inputs: args.inputs, provider: args.provider });
      return { id: (state.id as string) ?? `${args.name}-id`, state };
    },
    call: (args) => args.inputs,
  },
  "budgetml",
  "test",
  false,
);
const monitor = (pulumi.runtime as unknown as { getMonitor(): { registerResource: Function } }).getMonitor();
const parents = new Map<string, string>();
const ignored = new Map<string, string[]>();
const originalRegister = monitor.registerResource.bind(monitor);
monitor.registerResource = (request: { getName(): string; getParent(): string; getIgnorechangesList(): string[] }, ...rest: unknown[]) => {
  parents.set(request.getName(), request.getParent());
  ignored.set(request.getName(), request.getIgnorechangesList());
  return originalRegister(request, ...rest);
};

// Imported after the mocks are in place, as Pulumi requires.
import { BudgetModel, type BudgetModelArgs } from "../../components/budgetModel";

const ROOT = join(__dirname, "..", "..");
const SENTIMENT = join(ROOT, "examples", "sentiment", "predictor.ts");
const value = <T>(output: pulumi.Output<T>) => new Promise<T>((resolve) => output.apply(resolve));
const isSecret = <T>(output: pulumi.Output<T>) => (output as unknown as { isSecret: Promise<boolean> }).isSecret;
const base: BudgetModelArgs = { predictor: SENTIMENT, project: "budget-proj", zone: "us-central1-a", requirements: ["sentiment@^5"] };

process.chdir(mkdtempSync(join(tmpdir(), "budgetml-pulumi-"))); // bundles are built under .budgetml/ here

/** Builds a model and waits until every child has been registered. */
async function deploy(name: string, args: Partial<BudgetModelArgs> = {}, opts?: pulumi.ComponentResourceOptions) {
  const model = new BudgetModel(name, { ...base, ...args }, opts);
  await value(pulumi.all([model.url, model.instanceName, model.bucketName, model.password]));
  let count = -1;
  while (count !== recorded.length) {
    count = recorded.length;
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  const child = (type: string, suffix: string) => {
    const found = recorded.find((r) => r.type === type && r.name === `${name}-${suffix}`);
    if (!found) throw new Error(`no ${type} named ${name}-${suffix}`);
    return found;
  };
  return { model, child, children: recorded.filter((r) => r.name.startsWith(`${name}-`)) };
}

describe("BudgetModel under Pulumi mocks", () => {
  let m: Awaited<ReturnType<typeof deploy>>;
  beforeAll(async () => {
    m = await deploy("sentiment");
  }, 60_000);

  it("declares every child under the component", () => {
    const types = new Set(m.children.map((c) => c.type));
    for (const type of ["gcp:storage/bucket:Bucket", "gcp:storage/bucketObject:BucketObject", "gcp:serviceaccount/account:Account", "gcp:secretmanager/secret:Secret", "gcp:compute/address:Address", "gcp:compute/firewall:Firewall", "gcp:compute/instance:Instance", "gcp:pubsub/topic:Topic", "gcp:cloudfunctionsv2/function:Function", "gcp:cloudscheduler/job:Job", "command:local:Command", "gcp:projects/service:Service"]) {
      expect(types).toContain(type);
    }
    for (const child of m.children) expect(parents.get(child.name)).toMatch(/budgetml:index:BudgetModel::sentiment$/);
  });

  it("makes the instance spot, stopped (not deleted) on preemption, with a small disk", () => {
    const instance = m.child("gcp:compute/instance:Instance", "instance").inputs;
    expect(instance.scheduling).toEqual({ provisioningModel: "SPOT", preemptible: true, automaticRestart: false, onHostMaintenance: "TERMINATE", instanceTerminationAction: "STOP" });
    expect(instance.machineType).toBe("e2-small");
    expect(instance.bootDisk.initializeParams.size).toBe(20);
    expect(instance.zone).toBe("us-central1-a");
    expect(instance.labels).toEqual({ "budgetml-model": "sentiment" });
    expect(instance.networkInterfaces[0].accessConfigs[0].natIp).toBe("34.120.1.2");
  });

  it("tolerates the restarter's spot-capacity fallback: no diff on scheduling or its label", () => {
    expect(ignored.get("sentiment-instance")).toEqual(["scheduling", 'labels["budgetml-fallback-since"]']);
  });

  it("opens 80 and 443 to this instance's tag only", () => {
    const firewall = m.child("gcp:compute/firewall:Firewall", "firewall").inputs;
    const instance = m.child("gcp:compute/instance:Instance", "instance").inputs;
    expect(firewall.allows).toEqual([{ protocol: "tcp", ports: ["80", "443"] }]);
    expect(firewall.targetTags).toEqual(instance.tags);
    expect(instance.tags).toHaveLength(1);
  });

  it("keeps the password and signing key secret: in outputs, in state, never in metadata", async () => {
    expect(await isSecret(m.model.password)).toBe(true);
    const password = await value(m.model.password);
    expect(password).toBe("generated-sentiment-password-secret");
    const versions = m.children.filter((c) => c.type === "gcp:secretmanager/secretVersion:SecretVersion");
    // Pulumi's wire format for a secret: the values reach the engine (and state) encrypted.
    const SECRET_SIG = { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270" };
    expect(versions.map((v) => v.inputs.secretData).sort((a, b) => a.value.localeCompare(b.value))).toEqual([
      { ...SECRET_SIG, value: "generated-sentiment-password-secret" },
      { ...SECRET_SIG, value: "generated-sentiment-signing-key-secret" },
    ]);
    const metadata = JSON.stringify(m.child("gcp:compute/instance:Instance", "instance").inputs.metadata);
    expect(metadata).not.toContain("generated-sentiment");
    const md = m.child("gcp:compute/instance:Instance", "instance").inputs.metadata;
    expect(md["budget-password-secret"]).toMatch(/^projects\/proj\/secrets\/budgetml-sentiment-.*-password$/);
    expect(md["budget-token-secret"]).toMatch(/-signing-key$/);
    expect(md["startup-script"]).toContain("budgetml-startup");
  });

  it("lets only the VM account read the secrets, its bucket and publish to its topic", () => {
    const vm = m.child("gcp:serviceaccount/account:Account", "vm-account").inputs.accountId;
    const member = `serviceAccount:${vm}@proj.iam.gserviceaccount.com`;
    for (const role of ["password-reader", "signing-key-reader"]) {
      expect(m.child("gcp:secretmanager/secretIamMember:SecretIamMember", role).inputs).toMatchObject({ role: "roles/secretmanager.secretAccessor", member });
    }
    expect(m.child("gcp:storage/bucketIAMMember:BucketIAMMember", "vm-bucket-reader").inputs).toMatchObject({ role: "roles/storage.objectViewer", member });
    expect(m.child("gcp:pubsub/topicIAMMember:TopicIAMMember", "vm-topic-publisher").inputs).toMatchObject({ role: "roles/pubsub.publisher", member });
    const projectRoles = m.children.filter((c) => c.type === "gcp:projects/iAMMember:IAMMember").map((c) => c.inputs.role).sort();
    expect(projectRoles).toEqual(["roles/logging.logWriter", "roles/monitoring.metricWriter"]);
  });

  it("lets the restarter administer exactly this instance, and wires scheduler → topic → function", () => {
    const instance = m.child("gcp:compute/instance:Instance", "instance").inputs;
    const grant = m.child("gcp:compute/instanceIAMMember:InstanceIAMMember", "restarter-instance-admin").inputs;
    expect(grant).toMatchObject({ instanceName: instance.name, zone: "us-central1-a", role: "roles/compute.instanceAdmin.v1" });
    const topic = m.child("gcp:pubsub/topic:Topic", "restart-topic").inputs;
    const job = m.child("gcp:cloudscheduler/job:Job", "restart-schedule").inputs;
    expect(job.schedule).toBe("* * * * *");
    expect(job.pubsubTarget.topicName).toBe(`projects/proj/topics/${topic.name}`);
    const fn = m.child("gcp:cloudfunctionsv2/function:Function", "restarter").inputs;
    expect(fn.serviceConfig.environmentVariables).toMatchObject({ BUDGET_PROJECT: "budget-proj", BUDGET_ZONE: "us-central1-a", BUDGET_INSTANCE: instance.name });
    expect(fn.eventTrigger.pubsubTopic).toBe(`projects/proj/topics/${topic.name}`);
    expect(fn.buildConfig.runtime).toMatch(/^nodejs2\d$/);
    expect(fn.serviceConfig.environmentVariables.BUDGET_SPOT_FALLBACK_SECONDS).toBe("600");
    expect(m.child("gcp:compute/instance:Instance", "instance").inputs.metadata["budget-topic"]).toBe(`projects/proj/topics/${topic.name}`);
  });

  it("enables APIs without ever disabling them on destroy", () => {
    const services = m.children.filter((c) => c.type === "gcp:projects/service:Service");
    expect(services.map((s) => s.inputs.service)).toContain("compute.googleapis.com");
    for (const service of services) expect(service.inputs.disableOnDestroy).toBe(false);
  });

  it("answers on an sslip.io hostname derived from the IP, and estimates the cost", async () => {
    expect(await value(m.model.url)).toBe("https://34-120-1-2.sslip.io");
    expect(await value(m.model.tokenUrl)).toBe("https://34-120-1-2.sslip.io/token");
    const cost = await value(m.model.monthlyCost);
    expect(cost.monthlyUsd).toBeLessThan(cost.onDemandMonthlyUsd as number);
    expect(cost.note).toMatch(/estimate/);
  });
});

describe("BudgetModel variations", () => {
  it("never collides: two models in one stack get distinct Google names", async () => {
    const a = await deploy("model-a");
    const b = await deploy("model-b");
    for (const [type, role] of [["gcp:storage/bucket:Bucket", "bucket"], ["gcp:compute/instance:Instance", "instance"], ["gcp:pubsub/topic:Topic", "restart-topic"], ["gcp:serviceaccount/account:Account", "vm-account"]] as const) {
      const key = type.endsWith("Account") ? "accountId" : "name";
      expect(a.child(type, role).inputs[key]).not.toBe(b.child(type, role).inputs[key]);
    }
  }, 60_000);

  it("uses the domain when given, and a custom image through metadata", async () => {
    const { model, child } = await deploy("custom", { domain: "example.com", subdomain: "api", image: "europe-docker.pkg.dev/p/r/model:1", requirements: undefined, provisioning: "standard", diskSizeGb: 30, labels: { team: "ml" } });
    expect(await value(model.url)).toBe("https://api.example.com");
    const instance = child("gcp:compute/instance:Instance", "instance").inputs;
    expect(instance.metadata["budget-domain"]).toBe("api.example.com");
    expect(instance.metadata["budget-image"]).toBe("europe-docker.pkg.dev/p/r/model:1");
    expect(instance.scheduling).toMatchObject({ provisioningModel: "STANDARD", preemptible: false, automaticRestart: true });
    expect(ignored.get("custom-instance")).toEqual([]); // standard: nothing for the restarter to switch
    expect(child("gcp:cloudfunctionsv2/function:Function", "restarter").inputs.serviceConfig.environmentVariables.BUDGET_SPOT_FALLBACK_SECONDS).toBe("0");
    expect(instance.bootDisk.initializeParams.size).toBe(30);
    expect(instance.labels).toEqual({ "budgetml-model": "custom", team: "ml" });
  }, 60_000);

  it("changes the predictor object and the instance metadata exactly when the predictor changes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "budgetml-predictor-"));
    const file = join(dir, "predictor.ts");
    copyFileSync(SENTIMENT, file);
    const objectOf = async (name: string) => (await deploy(name, { predictor: file })).child("gcp:compute/instance:Instance", "instance").inputs.metadata["budget-predictor-object"];
    const first = await objectOf("roll-1");
    const unchanged = await objectOf("roll-2");
    writeFileSync(file, `${require("node:fs").readFileSync(SENTIMENT, "utf8")}\n// a new version\nexport const VERSION = 2;\n`);
    const changed = await objectOf("roll-3");
    expect(unchanged).toBe(first);
    expect(changed).not.toBe(first);
    expect(changed).toMatch(/^predictor-[0-9a-f]{16}\.tgz$/);
  }, 60_000);

  it("skips the APIs when asked and passes a provider given in opts to every child", async () => {
    const gcp = await import("@pulumi/gcp");
    const provider = new gcp.Provider("other-project", { project: "other-proj" });
    const { children } = await deploy("with-provider", { enableApis: false, waitForHealthy: false }, { providers: { gcp: provider } });
    expect(children.some((c) => c.type === "gcp:projects/service:Service")).toBe(false);
    expect(children.some((c) => c.type === "command:local:Command")).toBe(false);
    const gcpChildren = children.filter((c) => c.type.startsWith("gcp:"));
    expect(gcpChildren.length).toBeGreaterThan(10);
    for (const child of gcpChildren) expect(child.provider).toMatch(/::other-project::/);
  }, 60_000);

  it.each<[Partial<BudgetModelArgs>, RegExp]>([
    [{ predictor: "missing.ts" }, /predictor: file not found: missing\.ts/],
    [{ zone: "europe-west1-b", region: "us-central1" }, /zone europe-west1-b is not in region us-central1/],
    [{ machineType: "big machine" }, /machineType: "big machine" is not a machine type/],
    [{ diskSizeGb: 5 }, /diskSizeGb: 5 must be a whole number of GB from 10 to 65536/],
    [{ provisioning: "cheap" }, /provisioning: "cheap" must be "spot", "preemptible" or "standard"/],
    [{ schedule: "every minute" }, /schedule: "every minute" is not a 5-field cron expression/],
    [{ subdomain: "api" }, /subdomain needs domain/],
    [{ password: "short" }, /password must be at least 12 characters/],
    [{ image: "gcr.io/p/i" }, /image and requirements cannot be combined/],
    [{ labels: { Team: "x" } }, /labels: key "Team"/],
    [{ spotFallbackMinutes: -1 }, /spotFallbackMinutes: -1 must be from 0 \(off\) to 1440/],
    [{ project: undefined, zone: undefined }, /set project and zone in args or as gcp:project \/ gcp:zone stack config/],
  ])("fails preview with a precise message for %j", (args, message) => {
    expect(() => new BudgetModel("invalid", { ...base, ...args })).toThrow(message);
  });
});
