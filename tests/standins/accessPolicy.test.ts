import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { IamPolicy } from "../../local/standins/accessPolicy";
import { SimulatedInstance, startComputeServer, type ComputeServer } from "../../local/standins/computeServer";
import { startStandIns, type StandIns } from "../../local/standins/startStandIns";

// Per-identity tokens and per-identity permissions: each machine's metadata stand-in hands out its
// own account's token, and every stand-in answers as Google would for that account's grants.
const VM = "vm@proj-a.iam.gserviceaccount.com";
const RESTARTER = "restarter@proj-a.iam.gserviceaccount.com";
const INSTANCE = "projects/proj-a/zones/us-central1-a/instances/vm-1";

describe("IAM in the stand-ins", () => {
  let policy: IamPolicy;
  let standIns: StandIns;
  let compute: ComputeServer;
  let root: string;
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "budgetml-iam-"));
    mkdirSync(join(root, "bucket-a"));
    writeFileSync(join(root, "bucket-a", "predictor.tgz"), "bundle");
    policy = new IamPolicy();
    policy.setParent("projects/_/buckets/bucket-a", "projects/proj-a");
    policy.grant("projects/_/buckets/bucket-a", "roles/storage.objectViewer", `serviceAccount:${VM}`);
    policy.grant("projects/proj-a/secrets/pw", "roles/secretmanager.secretAccessor", `serviceAccount:${VM}`);
    // What roles/compute.instanceAdmin.v1 would give: it lists compute.zoneOperations.get too.
    policy.defineRole("projects/proj-a/roles/instanceAdmin", [
      "compute.instances.get",
      "compute.instances.start",
      "compute.zoneOperations.get",
    ]);
    policy.grant(INSTANCE, "projects/proj-a/roles/instanceAdmin", `serviceAccount:${RESTARTER}`);
    standIns = await startStandIns({
      bucketsDir: root,
      secrets: { "projects/proj-a/secrets/pw": "hunter2hunter2" },
      access: policy,
    });
    compute = await startComputeServer({
      project: "proj-a",
      zone: "us-central1-a",
      instance: "vm-1",
      backend: new SimulatedInstance(),
      access: policy,
    });
    // Each identity's token, fetched the way google-auth-library does on that machine.
    for (const account of [VM, RESTARTER]) {
      const metadata = await standIns.metadataFor(account, { projectId: "proj-a" });
      const answer = await fetch(`${metadata.url}/computeMetadata/v1/instance/service-accounts/default/token`, {
        headers: { "Metadata-Flavor": "Google" },
      });
      tokens[account] = ((await answer.json()) as { access_token: string }).access_token;
    }
  });
  afterAll(async () => {
    await Promise.all([standIns.close(), compute.close()]);
    rmSync(root, { recursive: true, force: true });
  });

  const as = (account: string | undefined): RequestInit => ({
    headers: account ? { authorization: `Bearer ${tokens[account] ?? account}` } : ({} as Record<string, string>),
  });
  const status = async (url: string, init: RequestInit) => (await fetch(url, init)).status;

  it("hands each machine its own account's token", () => {
    expect(tokens[VM]).toMatch(/^ya29\.local-/);
    expect(tokens[RESTARTER]).not.toBe(tokens[VM]);
  });

  it("lets the VM read its bucket and its secret, and nobody else", async () => {
    const object = `${standIns.storage.url}/storage/v1/b/bucket-a/o/predictor.tgz?alt=media`;
    expect(await status(object, as(VM))).toBe(200);
    expect(await status(object, as(RESTARTER))).toBe(403);
    expect(await status(object, as(undefined))).toBe(401);
    expect(await status(object, as("forged-token"))).toBe(401);
    const secret = `${standIns.secretManager.url}/v1/projects/proj-a/secrets/pw/versions/latest:access`;
    expect(await status(secret, as(VM))).toBe(200);
    const refused = await fetch(secret, as(RESTARTER));
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toBe(
      `Permission 'secretmanager.versions.access' denied on resource 'projects/proj-a/secrets/pw/versions/latest' (or it may not exist) for ${RESTARTER}.`,
    );
  });

  it("lets the restarter read and start its instance, and not the VM", async () => {
    const instance = `${compute.url}/compute/v1/${INSTANCE}`;
    expect(await status(instance, as(RESTARTER))).toBe(200);
    expect(await status(instance, as(VM))).toBe(403);
    expect(
      await status(`${instance}/start?requestId=0a1b2c3d-0000-5000-8000-000000000001`, { method: "POST", ...as(VM) }),
    ).toBe(403);
    expect(compute.effectiveStarts).toBe(0);
  });

  it("does not let an instance-level grant reach zone operations, which belong to the project", async () => {
    const operation = `${compute.url}/compute/v1/projects/proj-a/zones/us-central1-a/operations/operation-x`;
    expect(await status(operation, as(RESTARTER))).toBe(403);
    expect(
      policy.allows(
        RESTARTER,
        "compute.zoneOperations.get",
        "projects/proj-a/zones/us-central1-a/operations/operation-x",
      ),
    ).toBe(false);
    policy.defineRole("projects/proj-a/roles/operationsReader", ["compute.zoneOperations.get"]);
    policy.grant("projects/proj-a", "projects/proj-a/roles/operationsReader", `serviceAccount:${RESTARTER}`);
    expect(await status(operation, as(RESTARTER))).toBe(404); // allowed now: the operation just does not exist
  });

  it("grants nothing for a role it does not know", () => {
    policy.grant("projects/proj-a/topics/t", "roles/pubsub.publishr", `serviceAccount:${VM}`);
    expect(policy.allows(VM, "pubsub.topics.publish", "projects/proj-a/topics/t")).toBe(false);
  });
});
