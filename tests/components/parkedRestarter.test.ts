import { startComputeServer, SimulatedInstance, type ComputeServer } from "../../local/standins/computeServer";
import { startMetadataServer, type MetadataServer } from "../../local/standins/metadataServer";
import { serveRestarterFunction, type ServedRestarter } from "../support/restarterFunction";

// A parked model (`running: false`) gets BUDGET_RUNNING=false in the restarter's environment
// (pinned in budgetModel.test.ts). Here the real function module, under the functions framework's
// test server, receives the stop's shutdown signal and must leave the stopped instance alone.
let metadata: MetadataServer;
let compute: ComputeServer;
let instance: SimulatedInstance;
let restarter: ServedRestarter;
let functionUrl: string;

beforeAll(async () => {
  metadata = await startMetadataServer({ projectId: "budget-proj" });
  instance = new SimulatedInstance(10);
  compute = await startComputeServer({ project: "budget-proj", zone: "us-central1-a", instance: "parked-vm", backend: instance, recordReads: true });
  restarter = await serveRestarterFunction({
    GCE_METADATA_HOST: metadata.host,
    BUDGET_PROJECT: "budget-proj",
    BUDGET_ZONE: "us-central1-a",
    BUDGET_INSTANCE: "parked-vm",
    BUDGET_COMPUTE_ENDPOINT: compute.url,
    BUDGET_RUNNING: "false",
    BUDGET_LOG_LEVEL: "silent",
  });
  functionUrl = restarter.url;
});

afterAll(async () => {
  instance.dispose();
  await restarter.close();
  await compute.close();
  await metadata.close();
});

it("leaves a parked model's stopped instance stopped when its shutdown signal arrives", async () => {
  instance.set("TERMINATED");
  const response = await fetch(functionUrl, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "ce-id": "parked-1",
      "ce-specversion": "1.0",
      "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
      "ce-source": "//pubsub.googleapis.com/projects/budget-proj/topics/restart",
    },
    body: JSON.stringify({ message: { data: Buffer.from("preempted").toString("base64"), attributes: { reason: "preempted" } } }),
  });
  expect(response.status).toBe(204);
  // It read the instance (so no permission or lookup failure ended it early), then started nothing.
  expect(compute.readStatuses).toContain("TERMINATED");
  expect(compute.requests).toEqual([]);
  expect(instance.facts().status).toBe("TERMINATED");
});
