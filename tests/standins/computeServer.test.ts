import { InstancesClient, ZoneOperationsClient } from "@google-cloud/compute";
import { schedulingFor, schedulingSwitch } from "../../contracts/scheduling";
import { createComputeClients } from "../../functions/restarter/computeClients";
import { startComputeServer, SimulatedInstance, type ComputeServer } from "../../local/standins/computeServer";
import { useMetadataStandIn } from "../support/metadataStandIn";
import { waitFor } from "../support/waitFor";

// The Compute stand-in, driven by Google's own client (and by the restarter's gcloud-shaped
// setScheduling), must change an instance only as the API does and refuse what the API refuses.
const PROJECT = "budget-proj";
const ZONE = "us-central1-a";
const target = { project: PROJECT, zone: ZONE, instance: "vm" };

useMetadataStandIn({ projectId: PROJECT });

/** A stand-in for one stopped instance with `scheduling`, and the clients pointed at it. */
async function standIn(scheduling = schedulingFor("spot")) {
  const backend = new SimulatedInstance(10);
  backend.set("TERMINATED");
  const compute = await startComputeServer({ ...target, backend, scheduling });
  const url = new URL(compute.url);
  const gax = { apiEndpoint: url.hostname, port: Number(url.port), protocol: "http" };
  const instances = new InstancesClient(gax);
  const operations = new ZoneOperationsClient(gax);
  const restarter = createComputeClients(url);
  return {
    backend,
    compute,
    instances,
    operations,
    restarter,
    read: async () => (await instances.get(target))[0],
    close: async () => {
      backend.dispose();
      await instances.close();
      await operations.close();
      await compute.close();
    },
  };
}

describe("setScheduling, as Google applies it", () => {
  it("leaves every field the body does not name as it was", async () => {
    const s = await standIn(schedulingFor("standard"));
    try {
      await s.instances.setScheduling({ ...target, schedulingResource: { onHostMaintenance: "TERMINATE" } });
      expect((await s.read()).scheduling).toMatchObject({
        provisioningModel: "STANDARD",
        preemptible: false,
        automaticRestart: true,
        onHostMaintenance: "TERMINATE",
      });
    } finally {
      await s.close();
    }
  });

  it("keeps a spot VM's termination action when the client library is asked to clear it, so Google refuses the switch to standard", async () => {
    const s = await standIn();
    try {
      // The library builds the body from a protobuf message: the null is dropped on the way.
      await expect(
        s.instances.setScheduling({
          ...target,
          schedulingResource: { ...schedulingFor("standard"), instanceTerminationAction: null },
        }),
      ).rejects.toThrow(
        "Invalid value for field 'resource.instanceTerminationAction': 'STOP'. You cannot specify a termination action for a VM instance that has the standard provisioning model (default).",
      );
      expect((await s.read()).scheduling).toEqual(expect.objectContaining(schedulingFor("spot")));
    } finally {
      await s.close();
    }
  });

  it("switches spot → standard → spot when sent what gcloud sends (an explicit null clears the termination action)", async () => {
    const s = await standIn();
    try {
      await s.restarter.setScheduling(target, schedulingSwitch("standard"));
      const standard = (await s.read()).scheduling;
      expect(standard).toMatchObject(schedulingFor("standard"));
      expect(standard?.instanceTerminationAction ?? undefined).toBeUndefined();
      expect(s.compute.scheduling).toEqual(schedulingFor("standard"));
      await s.restarter.setScheduling(target, schedulingSwitch("spot"));
      expect((await s.read()).scheduling).toMatchObject(schedulingFor("spot"));
      // Refusals reach the restarter as the client's errors do: Google's JSON body, the HTTP status.
      await expect(
        s.restarter.setScheduling(target, { provisioningModel: "STANDARD", preemptible: true }),
      ).rejects.toMatchObject({
        code: 400,
        message: expect.stringMatching(/only allowed provisioning_model value is SPOT/),
      });
    } finally {
      await s.close();
    }
  });

  it("refuses to change the scheduling of an instance that is not stopped", async () => {
    const s = await standIn();
    try {
      s.backend.set("RUNNING");
      await expect(s.restarter.setScheduling(target, schedulingSwitch("standard"))).rejects.toMatchObject({
        code: 400,
        message: expect.stringMatching(/setScheduling is only allowed on a stopped \(TERMINATED\) instance/),
      });
      expect(s.compute.scheduling).toEqual(schedulingFor("spot"));
    } finally {
      await s.close();
    }
  });
});

describe("mutations and their operations", () => {
  let s: Awaited<ReturnType<typeof standIn>>;
  beforeEach(async () => {
    s = await standIn();
  });
  afterEach(() => s.close());

  it("executes a stop once per request id, and keeps the id on the operation as clientOperationId", async () => {
    s.backend.set("RUNNING");
    const requestId = "5a1b2c3d-0000-5000-8000-000000000001";
    const [first] = await s.instances.stop({ ...target, requestId });
    const [again] = await s.instances.stop({ ...target, requestId });
    expect(again.latestResponse).toMatchObject({ name: (first.latestResponse as { name: string }).name });
    expect(first.latestResponse).toMatchObject({ operationType: "stop", clientOperationId: requestId });
    await waitFor(() => s.backend.facts().status === "TERMINATED");
    expect(s.compute.requests.map((r) => r.method)).toEqual(["stop", "stop"]);
  });

  it("answers lastStartTimestamp once the instance has been started", async () => {
    expect((await s.read()).lastStartTimestamp ?? undefined).toBeUndefined();
    await s.instances.start(target);
    expect(Date.parse((await s.read()).lastStartTimestamp as string)).toBeGreaterThan(Date.now() - 60_000);
  });
});

describe("zoneOperations.list, in the orders and pages the API offers", () => {
  let s: Awaited<ReturnType<typeof standIn>>;
  let compute: ComputeServer;
  beforeAll(async () => {
    s = await standIn();
    compute = s.compute;
    // A long history: 120 starts over the past days, then one preemption an hour ago.
    const hour = 3600_000;
    for (let i = 0; i < 120; i += 1)
      compute.recordOperation("start", new Date(Date.now() - 5 * 24 * hour + i * hour).toISOString());
    compute.recordOperation("compute.instances.preempted", new Date(Date.now() - hour).toISOString());
  });
  afterAll(() => s.close());
  const list = (request: { orderBy?: string; maxResults?: number; pageToken?: string }) =>
    s.operations.list({ ...target, filter: 'targetId = "4242424242424242"', ...request }, { autoPaginate: false });

  it("lists by name by default, so the first page of a long history holds its oldest operations", async () => {
    const [page] = await list({ maxResults: 100 });
    expect(page).toHaveLength(100);
    expect(page.map((o) => o.operationType)).not.toContain("compute.instances.preempted");
  });

  it("lists newest first with orderBy creationTimestamp desc, and pages on with nextPageToken", async () => {
    const [first, next] = await list({ orderBy: "creationTimestamp desc", maxResults: 50 });
    expect(first[0].operationType).toBe("compute.instances.preempted");
    expect(first).toHaveLength(50);
    const [second] = await list({
      orderBy: "creationTimestamp desc",
      maxResults: 50,
      pageToken: next?.pageToken ?? "",
    });
    expect(Date.parse(second[0].insertTime as string)).toBeLessThan(Date.parse(first[49].insertTime as string));
    let all = 0;
    for await (const _operation of s.operations.listAsync({ ...target, maxResults: 50 })) all += 1;
    expect(all).toBe(121);
  });

  it("refuses an order or a page size the API does not offer", async () => {
    await expect(list({ orderBy: "insertTime" })).rejects.toThrow("Invalid value for field 'orderBy': 'insertTime'.");
    await expect(list({ maxResults: 501 })).rejects.toThrow(/Invalid value for field 'maxResults': '501'/);
  });
});
