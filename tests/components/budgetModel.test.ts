import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type * as pulumi from "@pulumi/pulumi";
// The harness puts Pulumi's mocks in place before the component is loaded.
import { baseArgs as base, deploy, includesUrnOf, isSecret, SENTIMENT, value } from "./pulumiHarness";
import { extract } from "tar";
import { artifactRegistryRepository } from "../../components/grants";
import { BudgetModel, type BudgetModelArgs } from "../../components/budgetModel";

describe("BudgetModel under Pulumi mocks", () => {
  let m: Awaited<ReturnType<typeof deploy>>;
  beforeAll(async () => {
    m = await deploy("sentiment");
  }, 60_000);

  it("declares every child under the component", () => {
    const types = new Set(m.children.map((c) => c.type));
    for (const type of [
      "gcp:storage/bucket:Bucket",
      "gcp:storage/bucketObject:BucketObject",
      "gcp:serviceaccount/account:Account",
      "gcp:secretmanager/secret:Secret",
      "gcp:compute/address:Address",
      "gcp:compute/firewall:Firewall",
      "gcp:compute/instance:Instance",
      "gcp:pubsub/topic:Topic",
      "gcp:cloudfunctionsv2/function:Function",
      "gcp:cloudscheduler/job:Job",
      "command:local:Command",
      "gcp:projects/service:Service",
    ]) {
      expect(types).toContain(type);
    }
    for (const child of m.children) expect(child.parent).toMatch(/budgetml:index:BudgetModel::sentiment$/);
  });

  it("makes the instance spot, stopped (not deleted) on preemption, with a small disk", () => {
    const instance = m.child("gcp:compute/instance:Instance", "instance").inputs;
    expect(instance.scheduling).toEqual({
      provisioningModel: "SPOT",
      preemptible: true,
      automaticRestart: false,
      onHostMaintenance: "TERMINATE",
      instanceTerminationAction: "STOP",
    });
    expect(instance.machineType).toBe("e2-small");
    expect(instance.bootDisk.initializeParams.size).toBe(20);
    expect(instance.zone).toBe("us-central1-a");
    // The label says what it runs as; the restarter keeps it true after every switch.
    expect(instance.labels).toEqual({ "budgetml-model": "sentiment", "budgetml-provisioning": "spot" });
    expect(instance.networkInterfaces[0].accessConfigs[0].natIp).toBe("34.120.1.2");
  });

  it("leaves the instance's provisioning to the restarter after creation: a changed `provisioning` reaches it through the restarter's environment", async () => {
    // The provider would replace the VM on a changed provisioning model (ForceNew in
    // terraform-provider-google), and after a refresh undo the restarter's fallback: it never sees a change.
    const ignored = ["scheduling", 'labels["budgetml-fallback-since"]', 'labels["budgetml-provisioning"]'];
    expect(m.child("gcp:compute/instance:Instance", "instance").ignoreChanges).toEqual(ignored);
    const env = m.child("gcp:cloudfunctionsv2/function:Function", "restarter").inputs.serviceConfig
      .environmentVariables;
    expect(env).toMatchObject({ BUDGET_DECLARED_PROVISIONING: "spot", BUDGET_SPOT_RETURN_WINDOW: "03:00-05:00" });
    // The same stack declaring standard: the instance's inputs would differ only where they are
    // ignored; the restarter's declaration differs, and the restarter switches the VM (stop, start).
    const standard = await deploy("restandard", { provisioning: "standard", spotReturnWindow: "22:00-01:30" });
    const instance = standard.child("gcp:compute/instance:Instance", "instance");
    expect(instance.ignoreChanges).toEqual(ignored);
    expect(instance.inputs.labels["budgetml-provisioning"]).toBe("standard");
    expect(
      standard.child("gcp:cloudfunctionsv2/function:Function", "restarter").inputs.serviceConfig.environmentVariables,
    ).toMatchObject({
      BUDGET_DECLARED_PROVISIONING: "standard",
      BUDGET_SPOT_FALLBACK_SECONDS: "0",
      BUDGET_SPOT_RETURN_WINDOW: "22:00-01:30",
    });
  }, 60_000);

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
    expect(md["budget-password-secret"]).toMatch(
      /^projects\/proj\/secrets\/budgetml-sentiment-.*-password\/versions\/1$/,
    );
    expect(md["budget-token-secret"]).toMatch(/-signing-key\/versions\/1$/);
    expect(md["startup-script"]).toContain("budgetml-startup");
  });

  it("lets only the VM account read the secrets, its bucket and publish to its topic", () => {
    const vm = m.child("gcp:serviceaccount/account:Account", "vm-account").inputs.accountId;
    const member = `serviceAccount:${vm}@proj.iam.gserviceaccount.com`;
    for (const role of [
      "password-reader-secretmanager-secretaccessor",
      "signing-key-reader-secretmanager-secretaccessor",
    ]) {
      expect(m.child("gcp:secretmanager/secretIamMember:SecretIamMember", role).inputs).toMatchObject({
        role: "roles/secretmanager.secretAccessor",
        member,
      });
    }
    expect(
      m.child("gcp:storage/bucketIAMMember:BucketIAMMember", "vm-bucket-reader-storage-objectviewer").inputs,
    ).toMatchObject({
      role: "roles/storage.objectViewer",
      member,
    });
    expect(
      m.child("gcp:pubsub/topicIAMMember:TopicIAMMember", "vm-topic-publisher-pubsub-publisher").inputs,
    ).toMatchObject({
      role: "roles/pubsub.publisher",
      member,
    });
    const projectRoles = m.children
      .filter((c) => c.type === "gcp:projects/iAMMember:IAMMember" && c.inputs.member === member)
      .map((c) => c.inputs.role)
      .sort();
    expect(projectRoles).toEqual(["roles/logging.logWriter", "roles/monitoring.metricWriter"]);
  });

  it("lets the restarter administer exactly this instance, and wires scheduler → topic → function", () => {
    const instance = m.child("gcp:compute/instance:Instance", "instance").inputs;
    const grant = m.child(
      "gcp:compute/instanceIAMMember:InstanceIAMMember",
      "restarter-instance-restarterinstance",
    ).inputs;
    expect(grant).toMatchObject({ instanceName: instance.name, zone: "us-central1-a" });
    expect(grant.role).toBe(
      `projects/budget-proj/roles/${m.child("gcp:projects/iAMCustomRole:IAMCustomRole", "role-restarterinstance").inputs.roleId}`,
    );
    const topic = m.child("gcp:pubsub/topic:Topic", "restart-topic").inputs;
    const job = m.child("gcp:cloudscheduler/job:Job", "restart-schedule").inputs;
    expect(job.schedule).toBe("* * * * *");
    expect(job.pubsubTarget.topicName).toBe(`projects/proj/topics/${topic.name}`);
    const fn = m.child("gcp:cloudfunctionsv2/function:Function", "restarter").inputs;
    expect(fn.serviceConfig.environmentVariables).toMatchObject({
      BUDGET_PROJECT: "budget-proj",
      BUDGET_ZONE: "us-central1-a",
      BUDGET_INSTANCE: instance.name,
    });
    expect(fn.eventTrigger.pubsubTopic).toBe(`projects/proj/topics/${topic.name}`);
    expect(fn.buildConfig.runtime).toBe("nodejs24");
    expect(fn.serviceConfig.environmentVariables.BUDGET_SPOT_FALLBACK_SECONDS).toBe("600");
    expect(m.child("gcp:compute/instance:Instance", "instance").inputs.metadata["budget-topic"]).toBe(
      `projects/proj/topics/${topic.name}`,
    );
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
    for (const [type, role] of [
      ["gcp:storage/bucket:Bucket", "bucket"],
      ["gcp:compute/instance:Instance", "instance"],
      ["gcp:pubsub/topic:Topic", "restart-topic"],
      ["gcp:serviceaccount/account:Account", "vm-account"],
    ] as const) {
      const key = type.endsWith("Account") ? "accountId" : "name";
      expect(a.child(type, role).inputs[key]).not.toBe(b.child(type, role).inputs[key]);
    }
  }, 60_000);

  it("uses the domain when given, and a custom image and batching through metadata", async () => {
    const { model, child } = await deploy("custom", {
      domain: "example.com",
      subdomain: "api",
      image: "europe-docker.pkg.dev/p/r/model:1",
      requirements: undefined,
      provisioning: "standard",
      diskSizeGb: 30,
      labels: { team: "ml" },
      maxBatchSize: 32,
      maxBatchWaitMs: 5,
    });
    expect(await value(model.url)).toBe("https://api.example.com");
    const instance = child("gcp:compute/instance:Instance", "instance").inputs;
    expect(instance.metadata["budget-domain"]).toBe("api.example.com");
    expect(instance.metadata["budget-image"]).toBe("europe-docker.pkg.dev/p/r/model:1");
    expect(instance.metadata["budget-max-batch-size"]).toBe("32");
    expect(instance.metadata["budget-max-batch-wait-ms"]).toBe("5");
    expect(instance.scheduling).toMatchObject({
      provisioningModel: "STANDARD",
      preemptible: false,
      automaticRestart: true,
    });
    expect(
      child("gcp:cloudfunctionsv2/function:Function", "restarter").inputs.serviceConfig.environmentVariables
        .BUDGET_SPOT_FALLBACK_SECONDS,
    ).toBe("0");
    expect(instance.bootDisk.initializeParams.size).toBe(30);
    expect(instance.labels).toEqual({ "budgetml-model": "custom", team: "ml", "budgetml-provisioning": "standard" });
    // The VM pulls the image with its own account: read access to that repository, nothing more.
    const reader = child(
      "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember",
      "vm-image-reader-artifactregistry-reader",
    ).inputs;
    expect(reader).toMatchObject({
      location: "europe",
      project: "p",
      repository: "r",
      role: "roles/artifactregistry.reader",
    });
    expect(instance.serviceAccount.email).toBe(reader.member.replace(/^serviceAccount:/, ""));
  }, 60_000);

  it("grants no image pull for an image outside Artifact Registry, and parses repository references", async () => {
    expect(artifactRegistryRepository("us-central1-docker.pkg.dev/my-proj/models/sentiment:2")).toEqual({
      location: "us-central1",
      project: "my-proj",
      repository: "models",
    });
    expect(artifactRegistryRepository("ghcr.io/acme/model:1")).toBeUndefined();
    expect(artifactRegistryRepository("europe-docker.pkg.dev/p/r")).toBeUndefined(); // no image name
    const { children } = await deploy("public-image", { image: "ghcr.io/acme/model:1", requirements: undefined });
    expect(children.filter((c) => c.name.includes("vm-image-reader"))).toEqual([]);
  }, 60_000);

  it("changes the predictor object and the instance metadata exactly when the predictor changes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "budgetml-predictor-"));
    const file = join(dir, "predictor.ts");
    copyFileSync(SENTIMENT, file);
    const objectOf = async (name: string) =>
      (await deploy(name, { predictor: file })).child("gcp:compute/instance:Instance", "instance").inputs.metadata[
        "budget-predictor-object"
      ];
    const first = await objectOf("roll-1");
    const unchanged = await objectOf("roll-2");
    writeFileSync(
      file,
      `${require("node:fs").readFileSync(SENTIMENT, "utf8")}\n// a new version\nexport const VERSION = 2;\n`,
    );
    const changed = await objectOf("roll-3");
    expect(unchanged).toBe(first);
    expect(changed).not.toBe(first);
    expect(changed).toMatch(/^predictor-[0-9a-f]{16}\.tgz$/);
  }, 60_000);

  it("lets the install scripts of the requirements named in allowScripts run on the VM, and only theirs", async () => {
    const { child } = await deploy("scripted", { allowScripts: ["sentiment"] });
    const object = child("gcp:compute/instance:Instance", "instance").inputs.metadata[
      "budget-predictor-object"
    ] as string;
    const bundle = join(process.cwd(), ".budgetml", "build", "scripted", object);
    const unpacked = mkdtempSync(join(tmpdir(), "budgetml-scripted-"));
    await extract({ file: bundle, cwd: unpacked });
    // What the VM's installer reads (images/vm/installNpmRequirements.ts).
    expect(JSON.parse(readFileSync(join(unpacked, "manifest.json"), "utf8"))).toMatchObject({
      requirements: { sentiment: "^5" },
      allowScripts: ["sentiment"],
    });
  }, 60_000);

  it("skips the APIs when asked and passes a provider given in opts to every child", async () => {
    const gcp = await import("@pulumi/gcp");
    const provider = new gcp.Provider("other-project", { project: "other-proj" });
    const { children } = await deploy(
      "with-provider",
      { enableApis: false, waitForHealthy: false },
      { providers: { gcp: provider } },
    );
    expect(children.some((c) => c.type === "gcp:projects/service:Service")).toBe(false);
    expect(children.some((c) => c.name === "with-provider-wait-healthy")).toBe(false);
    const gcpChildren = children.filter((c) => c.type.startsWith("gcp:"));
    expect(gcpChildren.length).toBeGreaterThan(10);
    for (const child of gcpChildren) expect(child.provider).toMatch(/::other-project::/);
  }, 60_000);

  it.each<[Partial<BudgetModelArgs>, RegExp]>([
    [{ predictor: "missing.ts" }, /predictor: file not found: missing\.ts/],
    [{ zone: "europe-west1-b", region: "us-central1" }, /zone europe-west1-b is not in region us-central1/],
    [{ machineType: "big machine" }, /machineType: "big machine" is not a machine type/],
    [{ diskSizeGb: 5 }, /diskSizeGb: 5 must be a whole number of GB from 10 to 65536/],
    [
      { provisioning: "cheap" } as unknown as Partial<BudgetModelArgs> /* from JavaScript */,
      /provisioning: "cheap" must be "spot", "preemptible" or "standard"/,
    ],
    [{ schedule: "every minute" }, /schedule: "every minute" is not a 5-field cron expression/],
    [{ subdomain: "api" }, /subdomain needs domain/],
    [{ password: "short" }, /password must be at least 12 characters/],
    [{ image: "gcr.io/p/i" }, /image and requirements cannot be combined/],
    [{ labels: { Team: "x" } }, /labels: key "Team"/],
    [{ spotFallbackMinutes: -1 }, /spotFallbackMinutes: -1 must be from 0 \(off\) to 1440/],
    [
      { project: undefined, zone: undefined },
      /set project and zone in args or as gcp:project \/ gcp:zone stack config/,
    ],
  ])("fails preview with a precise message for %j", (args, message) => {
    expect(() => new BudgetModel("invalid", { ...base, ...args })).toThrow(message);
  });
});

describe("what Google requires of a real `pulumi up`", () => {
  let m: Awaited<ReturnType<typeof deploy>>;
  beforeAll(async () => {
    m = await deploy("google");
  }, 60_000);
  const instanceOf = (d = m) => d.child("gcp:compute/instance:Instance", "instance");

  it("deploys the restarter on nodejs24, its source compiled for Node 24", () => {
    expect(m.child("gcp:cloudfunctionsv2/function:Function", "restarter").inputs.buildConfig.runtime).toBe("nodejs24");
    const manifest = JSON.parse(
      readFileSync(join(process.cwd(), ".budgetml", "build", "google", "restarter", "package.json"), "utf8"),
    );
    expect(manifest.engines).toEqual({ node: ">=24" });
  });

  it("builds the restarter as its own build account into its own repository, once grants and service agents are in place", () => {
    const fn = m.child("gcp:cloudfunctionsv2/function:Function", "restarter");
    const build = m.child("gcp:serviceaccount/account:Account", "build-account").inputs;
    const repository = m.child("gcp:artifactregistry/repository:Repository", "build-images").inputs;
    expect(fn.inputs.buildConfig.serviceAccount).toBe(
      `projects/proj/serviceAccounts/${build.accountId}@proj.iam.gserviceaccount.com`,
    );
    expect(fn.inputs.buildConfig.dockerRepository).toBe(
      `projects/proj/locations/us-central1/repositories/${repository.repositoryId}`,
    );
    expect(repository).toMatchObject({ format: "DOCKER", location: "us-central1" });
    const settle = m.child("command:local:Command", "iam-settle");
    expect(includesUrnOf(fn.dependsOn, settle)).toBe(true);
    expect(settle.inputs.interpreter).toEqual(["node", "-e"]);
    const waitedFor = m.children.filter((c) => includesUrnOf(settle.dependsOn, c));
    const agents = waitedFor
      .filter((c) => c.type === "gcp:projects/serviceIdentity:ServiceIdentity")
      .map((c) => c.inputs.service)
      .sort();
    expect(agents).toEqual(["eventarc.googleapis.com", "pubsub.googleapis.com"]);
    const member = `serviceAccount:${build.accountId}@proj.iam.gserviceaccount.com`;
    const buildGrants = m.children.filter((c) => /IAMMember|IamMember/.test(c.type) && c.inputs.member === member);
    expect(buildGrants.map((g) => g.name).sort()).toEqual(
      waitedFor
        .filter((c) => c.inputs.member === member)
        .map((g) => g.name)
        .sort(),
    );
    expect(buildGrants.map((g) => g.inputs.role).sort()).toEqual([
      "roles/artifactregistry.writer",
      "roles/logging.logWriter",
      "roles/storage.objectAdmin",
      "roles/storage.objectViewer",
    ]);
    // The one project-wide storage grant is held to Cloud Functions' own source buckets.
    const sources = buildGrants.find((g) => g.inputs.role === "roles/storage.objectAdmin");
    expect(sources?.inputs.condition.expression).toBe('resource.name.startsWith("projects/_/buckets/gcf-v2-sources-")');
  });

  it("lets the restarter do exactly get/start/resume/stop/setScheduling/setLabels on its instance and read zone operations", () => {
    const onInstance = m.child("gcp:projects/iAMCustomRole:IAMCustomRole", "role-restarterinstance").inputs;
    const onProject = m.child("gcp:projects/iAMCustomRole:IAMCustomRole", "role-restarteroperations").inputs;
    expect([...onInstance.permissions].sort()).toEqual([
      "compute.instances.get",
      "compute.instances.resume",
      "compute.instances.setLabels",
      "compute.instances.setScheduling",
      "compute.instances.start",
      "compute.instances.stop",
    ]);
    expect(onProject.permissions).toEqual(["compute.zoneOperations.get", "compute.zoneOperations.list"]);
    expect(onInstance.roleId).toMatch(/^[a-zA-Z0-9_.]{3,64}$/); // Google's pattern for role ids: no dashes
    const restarter = m.child("gcp:serviceaccount/account:Account", "restarter-account").inputs;
    const projectGrant = m.children.find(
      (c) =>
        c.type === "gcp:projects/iAMMember:IAMMember" &&
        c.inputs.member === `serviceAccount:${restarter.accountId}@proj.iam.gserviceaccount.com`,
    );
    expect(projectGrant?.inputs.role).toBe(`projects/budget-proj/roles/${onProject.roleId}`);
    expect(m.children.some((c) => String(c.inputs.role).startsWith("roles/compute."))).toBe(false);
  });

  it("starts the instance only once everything its first boot reads is granted and written", () => {
    const instance = instanceOf();
    const needed = [
      ["gcp:storage/bucketIAMMember:BucketIAMMember", "vm-bucket-reader-storage-objectviewer"],
      ["gcp:pubsub/topicIAMMember:TopicIAMMember", "vm-topic-publisher-pubsub-publisher"],
      ["gcp:secretmanager/secretIamMember:SecretIamMember", "password-reader-secretmanager-secretaccessor"],
      ["gcp:secretmanager/secretIamMember:SecretIamMember", "signing-key-reader-secretmanager-secretaccessor"],
      ["gcp:secretmanager/secretVersion:SecretVersion", "password-version"],
      ["gcp:secretmanager/secretVersion:SecretVersion", "signing-key-version"],
      ["gcp:storage/bucketObject:BucketObject", "predictor"],
      ["gcp:storage/bucketObject:BucketObject", "runtime"],
    ];
    for (const [type, role] of needed)
      expect([role, includesUrnOf(instance.dependsOn, m.child(type, role))]).toEqual([role, true]);
  });

  it("replaces the fixed-name instance, address and firewall rule by deleting the old one first", () => {
    expect(instanceOf().deleteBeforeReplace).toBe(true);
    expect(m.child("gcp:compute/address:Address", "address").deleteBeforeReplace).toBe(true);
    expect(m.child("gcp:compute/firewall:Firewall", "firewall").deleteBeforeReplace).toBe(true);
  });

  it("enables Resource Manager and leaves empty metadata out", () => {
    expect(m.children.filter((c) => c.type === "gcp:projects/service:Service").map((s) => s.inputs.service)).toContain(
      "cloudresourcemanager.googleapis.com",
    );
    const metadata = instanceOf().inputs.metadata;
    for (const key of [
      "budget-entrypoint",
      "budget-domain",
      "budget-image",
      "budget-acme-email",
      "budget-max-batch-size",
      "budget-max-batch-wait-ms",
    ])
      expect(metadata).not.toHaveProperty([key]);
    for (const value of Object.values(metadata)) expect(value).not.toBe("");
    expect(metadata["budget-bucket"]).toBeTruthy();
  });

  it("serves by default: desired RUNNING, the restarter keeps it up, the schedule ticks", () => {
    expect(instanceOf().inputs.desiredStatus).toBe("RUNNING");
    expect(
      m.child("gcp:cloudfunctionsv2/function:Function", "restarter").inputs.serviceConfig.environmentVariables
        .BUDGET_RUNNING,
    ).toBe("true");
    expect(m.child("gcp:cloudscheduler/job:Job", "restart-schedule").inputs.paused).toBe(false);
  });

  it("waits for health without a shell, on the sslip.io URL when there is no domain", async () => {
    const wait = m.child("command:local:Command", "wait-healthy").inputs;
    expect(wait.interpreter).toEqual(["node", "-e"]);
    expect(wait.environment.BUDGET_HEALTH_URL).toBe("https://34-120-1-2.sslip.io/");
    expect(await value(m.model.dnsRecord)).toBeUndefined();
  });
});

describe("BudgetModel options from issue 11", () => {
  it("parks the model with running: false: VM stopped, restarter stands down, no compute cost", async () => {
    const { model, child, children } = await deploy("parked", { running: false });
    expect(child("gcp:compute/instance:Instance", "instance").inputs.desiredStatus).toBe("TERMINATED");
    expect(
      child("gcp:cloudfunctionsv2/function:Function", "restarter").inputs.serviceConfig.environmentVariables
        .BUDGET_RUNNING,
    ).toBe("false");
    expect(child("gcp:cloudscheduler/job:Job", "restart-schedule").inputs.paused).toBe(true);
    expect(children.some((c) => c.name === "parked-wait-healthy")).toBe(false);
    const cost = await value(model.monthlyCost);
    expect(cost.note).toMatch(/parked.*compute costs nothing/);
    expect(cost.monthlyUsd).toBe(9.3); // 20 GB disk ($2) + idle address (730 h × $0.01)
  }, 60_000);

  it("with a domain: checks the runtime through the IP, names the A record, passes the ACME email", async () => {
    const { model, child } = await deploy("domained", {
      domain: "example.com",
      subdomain: "api",
      acmeEmail: "ops@example.com",
    });
    expect(child("command:local:Command", "wait-healthy").inputs.environment.BUDGET_HEALTH_URL).toBe(
      "http://34.120.1.2/",
    );
    expect(await value(model.dnsRecord)).toEqual({
      name: "api.example.com",
      fqdn: "api.example.com.",
      type: "A",
      value: "34.120.1.2",
    });
    expect(child("gcp:compute/instance:Instance", "instance").inputs.metadata["budget-acme-email"]).toBe(
      "ops@example.com",
    );
  }, 60_000);

  it("takes the domain as another resource's output, such as a Cloud DNS zone's dnsName with its trailing dot", async () => {
    const { output } = require("@pulumi/pulumi") as typeof pulumi;
    const { model, child } = await deploy("zoned", {
      domain: output("models.example.com."),
      subdomain: output("api"),
      acmeEmail: output("ops@example.com"),
    });
    expect(await value(model.url)).toBe("https://api.models.example.com");
    // Cloud DNS takes the record's name fully qualified, as its zone's dnsName is.
    expect(await value(model.dnsRecord)).toEqual({
      name: "api.models.example.com",
      fqdn: "api.models.example.com.",
      type: "A",
      value: "34.120.1.2",
    });
    const { metadata } = child("gcp:compute/instance:Instance", "instance").inputs;
    expect(metadata).toMatchObject({
      "budget-domain": "api.models.example.com",
      "budget-acme-email": "ops@example.com",
    });
    expect(child("command:local:Command", "wait-healthy").inputs.environment.BUDGET_HEALTH_URL).toBe(
      "http://34.120.1.2/",
    );
  }, 60_000);

  it("puts the instance and its firewall rule on the given network and subnetwork", async () => {
    const network = "projects/budget-proj/global/networks/ml";
    const subnetwork = "projects/budget-proj/regions/us-central1/subnetworks/ml-central";
    const { child } = await deploy("networked", { network, subnetwork });
    expect(child("gcp:compute/instance:Instance", "instance").inputs.networkInterfaces[0]).toMatchObject({
      network,
      subnetwork,
    });
    expect(child("gcp:compute/firewall:Firewall", "firewall").inputs.network).toBe(network);
  }, 60_000);

  it("makes a legacy preemptible VM without a provisioning model, which Google accepts", async () => {
    const { child } = await deploy("legacy", { provisioning: "preemptible" });
    expect(child("gcp:compute/instance:Instance", "instance").inputs.scheduling).toEqual({
      preemptible: true,
      automaticRestart: false,
      onHostMaintenance: "TERMINATE",
    });
  }, 60_000);

  it.each<[Partial<BudgetModelArgs>, RegExp]>([
    [
      { functionRuntime: "nodejs20" },
      /functionRuntime: Runtime nodejs20 is decommissioned and no longer allowed \(since 2026-10-30\)/,
    ],
    [{ functionRuntime: "nodejs26" }, /functionRuntime: Runtime nodejs26 is in Preview/],
    [
      { functionRuntime: "python312" },
      /functionRuntime: Runtime python312 is not supported by budgetml's restarter; supported: nodejs24, nodejs22/,
    ],
    [{ network: "Bad Network" }, /network: "Bad Network" is not a network name or path/],
    [
      { network: "default", subnetwork: "projects/p/zones/z/subnetworks/s" },
      /subnetwork: "projects\/p\/zones\/z\/subnetworks\/s" is not a subnetwork name or path/,
    ],
    [{ subnetwork: "ml-central" }, /subnetwork needs network/],
    [{ acmeEmail: "not an email" }, /acmeEmail: "not an email" is not an email address/],
    [{ allowScripts: ["sharp"] }, /allowScripts: "sharp" is not among the requirements/],
    [
      {
        predictor: join(__dirname, "..", "..", "examples", "iris", "predictor.py"),
        requirements: ["scikit-learn==1.5.2"],
        allowScripts: ["scikit-learn"],
      },
      /allowScripts: names npm requirements whose install scripts may run; a \.py predictor has pip requirements/,
    ],
    [{ running: "no" as unknown as boolean }, /running: expected true or false, got "no"/],
  ])("fails preview with a precise message for %j", (args, message) => {
    expect(() => new BudgetModel("invalid", { ...base, ...args })).toThrow(message);
  });
});
