import { SimulatedInstance } from "../../local/standins/computeServer";
import {
  deliverPubSubEvent,
  serveRestarterAgainstStandIns,
  type RestarterUnderTest,
} from "../support/restarterFunction";

// A parked model (`running: false`) gets BUDGET_RUNNING=false in the restarter's environment
// (pinned in budgetModel.test.ts). Here the real function module, under the functions framework's
// test server, receives the stop's shutdown signal and must leave the stopped instance alone.
let instance: SimulatedInstance;
let served: RestarterUnderTest;

beforeAll(async () => {
  instance = new SimulatedInstance(10);
  served = await serveRestarterAgainstStandIns(
    { project: "budget-proj", zone: "us-central1-a", instance: "parked-vm", backend: instance },
    { BUDGET_RUNNING: "false", BUDGET_LOG_LEVEL: "silent" },
  );
});

afterAll(async () => {
  instance.dispose();
  await served.close();
});

it("leaves a parked model's stopped instance stopped when its shutdown signal arrives", async () => {
  instance.set("TERMINATED");
  expect(
    await deliverPubSubEvent(served.restarter.url, {
      id: "parked-1",
      topic: "projects/budget-proj/topics/restart",
      reason: "preempted",
    }),
  ).toBe(204);
  // It read the instance (so no permission or lookup failure ended it early), then started nothing.
  expect(served.compute.readStatuses).toContain("TERMINATED");
  expect(served.compute.requests).toEqual([]);
  expect(instance.facts().status).toBe("TERMINATED");
});
