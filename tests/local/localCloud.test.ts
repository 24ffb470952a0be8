import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { readInstanceMetadata, STARTUP_SCRIPT_KEY } from "../../contracts/instanceMetadata";
import { LocalCloud } from "../../local/localCloud";

// The local engine's view of the real component: BudgetModel evaluated under Pulumi's mocks with
// LocalCloud's callback. What it materialises and which grants it records decide what the local
// deployment may do, so least privilege is checked here on the component's own declarations.
const cloud = new LocalCloud(mkdtempSync(join(tmpdir(), "budgetml-cloud-")));
pulumi.runtime.setMocks(cloud.mocks(), "budgetml", "test", false);
pulumi.runtime.setConfig("gcp:project", "proj-a");
pulumi.runtime.setConfig("gcp:zone", "us-central1-a");

import { BudgetModel } from "../../components/budgetModel";

const ROOT = join(__dirname, "..", "..");
process.chdir(mkdtempSync(join(tmpdir(), "budgetml-pulumi-"))); // bundles are built under .budgetml/ here

describe("LocalCloud evaluating BudgetModel", () => {
  beforeAll(async () => {
    new BudgetModel("m", {
      predictor: join(ROOT, "tests", "fixtures", "allEndpoints.ts"),
      password: "a-password-of-length",
    });
    await (pulumi.runtime as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
  }, 60_000);

  const vm = () => cloud.instances[0].serviceAccount as string;
  const restarter = () => cloud.functions[0].serviceAccount as string;

  it("records one instance, one function and one scheduler job, and the model itself", () => {
    expect(cloud.instances).toHaveLength(1);
    expect(cloud.functions).toHaveLength(1);
    expect(cloud.jobs).toEqual([
      expect.objectContaining({ schedule: "* * * * *", topic: expect.stringMatching(/^projects\/proj-a\/topics\//) }),
    ]);
    expect(cloud.components).toContainEqual({ type: "budgetml:index:BudgetModel", name: "m" });
  });

  it("puts the bundles the instance names into its bucket, and the password into Secret Manager", () => {
    const { metadata } = cloud.instances[0];
    expect(metadata[STARTUP_SCRIPT_KEY]).toContain("budgetml VM startup script");
    const config = readInstanceMetadata(metadata);
    for (const object of [config.runtimeObject, config.predictorObject])
      expect(existsSync(join(cloud.bucketsDir, config.bucket, object))).toBe(true);
    // The metadata names the first version of each secret (the VM reads exactly that one).
    const versionOne = (name: string) => {
      const [, secret, version] = /^(.*)\/versions\/(\d+)$/.exec(name) ?? [];
      return cloud.secrets[secret]?.[Number(version) - 1];
    };
    expect(config.passwordSecret).toMatch(/\/versions\/1$/);
    expect(versionOne(config.passwordSecret)).toBe("a-password-of-length");
    expect(versionOne(config.tokenSecret)).toMatch(/^[A-Za-z0-9]{48}$/);
    expect(JSON.stringify(metadata)).not.toContain("a-password-of-length");
    const source = cloud.archives.get(
      `${cloud.functions[0].source.bucket}/${cloud.functions[0].source.object}`,
    ) as string;
    expect(JSON.parse(readFileSync(join(source, "package.json"), "utf8"))).toMatchObject({ main: "index.js" });
  });

  it("lets the VM's account read exactly its bundles and secrets and publish to its topic", () => {
    const config = readInstanceMetadata(cloud.instances[0].metadata);
    expect(
      cloud.policy.allows(
        vm(),
        "storage.objects.get",
        `projects/_/buckets/${config.bucket}/objects/${config.predictorObject}`,
      ),
    ).toBe(true);
    expect(cloud.policy.allows(vm(), "secretmanager.versions.access", config.passwordSecret)).toBe(true);
    expect(cloud.policy.allows(vm(), "pubsub.topics.publish", config.topic)).toBe(true);
    expect(cloud.policy.allows(vm(), "compute.instances.start", cloud.instances[0].id)).toBe(false);
    expect(cloud.policy.allows(vm(), "storage.objects.get", "projects/_/buckets/someone-elses/objects/x")).toBe(false);
  });

  it("lets the restarter's account start its instance, receive its topic's events, and read no secret", () => {
    const fn = cloud.functions[0];
    expect(cloud.policy.allows(restarter(), "compute.instances.start", cloud.instances[0].id)).toBe(true);
    expect(cloud.policy.allows(restarter(), "compute.instances.get", cloud.instances[0].id)).toBe(true);
    expect(
      cloud.policy.allows(
        restarter(),
        "compute.zoneOperations.get",
        "projects/proj-a/zones/us-central1-a/operations/operation-1",
      ),
    ).toBe(true);
    expect(cloud.policy.allows(restarter(), "compute.instances.setMetadata", cloud.instances[0].id)).toBe(false);
    expect(fn.trigger?.topic).toBe(readInstanceMetadata(cloud.instances[0].metadata).topic);
    expect(
      cloud.policy.allows(
        fn.trigger?.serviceAccount as string,
        "run.routes.invoke",
        `projects/proj-a/locations/us-central1/services/${fn.name}`,
      ),
    ).toBe(true);
    expect(
      cloud.policy.allows(
        restarter(),
        "secretmanager.versions.access",
        readInstanceMetadata(cloud.instances[0].metadata).passwordSecret,
      ),
    ).toBe(false);
  });

  it("tells the restarter which instance to keep running through the environment it declared", () => {
    const { env } = cloud.functions[0];
    expect(Object.values(env)).toContain(cloud.instances[0].name);
    expect(Object.values(env)).toContain("us-central1-a");
  });
});
