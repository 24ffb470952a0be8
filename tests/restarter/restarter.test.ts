import { startComputeServer, SimulatedInstance, type ComputeServer } from "../../local/standins/computeServer";
import { decide } from "../../functions/restarter/decide";
import { readRestarterConfig } from "../../functions/restarter/config";
import { testClock } from "../support/testClock";
import { waitFor } from "../support/waitFor";
import {
  deliverPubSubEvent,
  serveRestarterAgainstStandIns,
  type RestarterUnderTest,
} from "../support/restarterFunction";

// The real function module, loaded by the functions framework's own test server and driven with
// real CloudEvents over HTTP; the real @google-cloud/compute client talks to the Compute stand-in,
// authenticated through the metadata stand-in exactly as on Google's runtime.
const PROJECT = "budget-proj";
const ZONE = "us-central1-a";
const INSTANCE = "sentiment-vm";

let compute: ComputeServer;
let instance: SimulatedInstance;
let served: RestarterUnderTest;

beforeAll(async () => {
  instance = new SimulatedInstance(30);
  served = await serveRestarterAgainstStandIns(
    { project: PROJECT, zone: ZONE, instance: INSTANCE, backend: instance },
    {
      BUDGET_RESTART_BUDGET_SECONDS: "3",
      BUDGET_RESTART_POLL_MS: "20",
      BUDGET_RESTART_BACKOFF_MS: "50",
      BUDGET_LOG_LEVEL: process.env.DEBUG_LOG ? "info" : "silent",
    },
  );
  compute = served.compute;
});

afterAll(async () => {
  instance.dispose();
  await served.close();
});

beforeEach(() => {
  instance.set("RUNNING");
  compute.failures.length = 0;
  compute.requests.length = 0;
});

let eventCount = 0;
/** Delivers a restart-topic message to the function, as Eventarc does. */
async function deliver(reason: "tick" | "preempted" = "tick"): Promise<number> {
  eventCount += 1;
  return deliverPubSubEvent(served.restarter.url, {
    id: `event-${eventCount}`,
    topic: `projects/${PROJECT}/topics/${INSTANCE}-restart`,
    reason,
  });
}

const until = (check: () => boolean, timeoutMs = 2000) => waitFor(check, { timeoutMs, intervalMs: 10 });

describe("restarter function", () => {
  it("does nothing while the instance is RUNNING or STAGING", async () => {
    const before = compute.effectiveStarts;
    expect(await deliver()).toBe(204);
    instance.set("STAGING");
    expect(await deliver()).toBe(204);
    expect(compute.requests).toHaveLength(0);
    expect(compute.effectiveStarts).toBe(before);
  });

  it("starts a preempted instance once, through the shutdown signal and a tick arriving together", async () => {
    instance.preempt();
    await until(() => instance.facts().status === "TERMINATED");
    const before = compute.effectiveStarts;
    const statuses = await Promise.all([deliver("preempted"), deliver("tick"), deliver("tick")]);
    expect(statuses).toEqual([204, 204, 204]);
    expect(compute.effectiveStarts - before).toBe(1);
    // Each invocation that acted used the same request id: the API deduplicated the rest.
    expect(new Set(compute.requests.map((r) => r.requestId)).size).toBe(1);
    await until(() => instance.facts().status === "RUNNING");
  });

  it("waits for a STOPPING instance to finish stopping, then starts it", async () => {
    instance.preempt(1000); // STOPPING now, for long enough that the restarter reads it on a loaded machine too
    const before = compute.effectiveStarts;
    const readsBefore = compute.readStatuses.length;
    expect(instance.facts().status).toBe("STOPPING");
    expect(await deliver("preempted")).toBe(204);
    expect(compute.effectiveStarts - before).toBe(1);
    // It saw STOPPING, then TERMINATED, then started: the wait really happened.
    expect(compute.readStatuses.slice(readsBefore)).toEqual(expect.arrayContaining(["STOPPING", "TERMINATED"]));
  });

  it("resumes a SUSPENDED instance", async () => {
    instance.set("SUSPENDED");
    expect(await deliver()).toBe(204);
    expect(compute.requests.map((r) => r.method)).toEqual(["resume"]);
    await until(() => instance.facts().status === "RUNNING");
  });

  it("retries transient failures (429, 503, no spot capacity) within the invocation", async () => {
    instance.set("TERMINATED");
    compute.failures.push({ http: 429 }, { http: 503 }, { operationError: "ZONE_RESOURCE_POOL_EXHAUSTED" });
    const before = compute.effectiveStarts;
    expect(await deliver()).toBe(204);
    expect(compute.requests).toHaveLength(4);
    expect(compute.effectiveStarts - before).toBe(1);
  });

  it("gives up when capacity stays exhausted past its budget, and the next tick succeeds", async () => {
    instance.set("TERMINATED");
    for (let i = 0; i < 200; i += 1) compute.failures.push({ operationError: "ZONE_RESOURCE_POOL_EXHAUSTED" });
    const started = Date.now();
    expect(await deliver()).toBe(204); // logged and returned: a crash would make Pub/Sub redeliver in a storm
    expect(Date.now() - started).toBeLessThan(6000);
    expect(instance.facts().status).toBe("TERMINATED");
    compute.failures.length = 0;
    expect(await deliver()).toBe(204);
    await until(() => instance.facts().status === "RUNNING");
  }, 15000);

  it.each([404, 403] as const)("reports a permanent %i once, without retrying or crashing", async (code) => {
    instance.set("TERMINATED");
    compute.failures.push({ http: code });
    expect(await deliver()).toBe(204);
    expect(compute.requests).toHaveLength(1);
    expect(instance.facts().status).toBe("TERMINATED");
  });
});

describe("restarter policy and configuration", () => {
  it.each([
    ["TERMINATED", "start"],
    ["STOPPED", "start"],
    ["SUSPENDED", "resume"],
    ["STOPPING", "wait"],
    ["SUSPENDING", "wait"],
    ["PROVISIONING", "none"],
    ["STAGING", "none"],
    ["RUNNING", "none"],
    ["REPAIRING", "none"],
  ])("decides %s → %s", (status, action) => {
    expect(decide(status)).toBe(action);
  });

  it("names every configuration problem at once", () => {
    expect(() =>
      readRestarterConfig({ BUDGET_ZONE: "mars", BUDGET_INSTANCE: "Bad_Name", BUDGET_COMPUTE_ENDPOINT: "ftp://x" }),
    ).toThrow(
      'restarter misconfigured: BUDGET_PROJECT is not set; BUDGET_ZONE="mars" is not a valid zone (like us-central1-a); BUDGET_INSTANCE="Bad_Name" is not a valid instance name; BUDGET_COMPUTE_ENDPOINT="ftp://x" is not an http(s) URL',
    );
  });
});

describe("spot-capacity fallback (the restarter's core loop, as the function and local mode run it)", () => {
  it("switches a spot instance down 10 minutes for lack of capacity to STANDARD, and back to SPOT at its first stop after 6 hours", async () => {
    const { keepInstanceRunning } =
      require("../../functions/restarter/keepRunning") as typeof import("../../functions/restarter/keepRunning");
    const { createComputeClients } =
      require("../../functions/restarter/computeClients") as typeof import("../../functions/restarter/computeClients");
    const { FALLBACK_LABEL } = require("../../contracts/scheduling") as typeof import("../../contracts/scheduling");
    const { createLogger } = require("../../runtime/logger") as typeof import("../../runtime/logger");
    let spotCapacity = false;
    // The instance's stop times and the restarter share one clock, moved ahead instead of waited on.
    const clock = testClock();
    const vm = new SimulatedInstance(20, clock.now);
    const stand = await startComputeServer({
      project: PROJECT,
      zone: ZONE,
      instance: "fallback-vm",
      backend: vm,
      spotCapacity: () => spotCapacity,
    });
    // The component's defaults: fall back after 10 minutes, return after 6 hours.
    const base = {
      BUDGET_PROJECT: PROJECT,
      BUDGET_ZONE: ZONE,
      BUDGET_INSTANCE: "fallback-vm",
      BUDGET_COMPUTE_ENDPOINT: stand.url,
      BUDGET_RESTART_BUDGET_SECONDS: "2",
      BUDGET_RESTART_BACKOFF_MS: "50",
    };
    const withFallback = readRestarterConfig(base);
    const withoutFallback = readRestarterConfig({ ...base, BUDGET_SPOT_FALLBACK_SECONDS: "0" });
    const clients = createComputeClients(new URL(stand.url));
    const logger = createLogger({ level: "silent" });
    const read = async () =>
      (await clients.instances.get({ project: PROJECT, zone: ZONE, instance: "fallback-vm" }))[0];
    try {
      vm.set("TERMINATED");
      clock.advance(9 * 60_000); // down 9 minutes: not yet
      expect(await keepInstanceRunning(clients, withFallback, logger, clock)).toMatchObject({ did: "gave_up" });
      expect((await read()).scheduling?.provisioningModel).toBe("SPOT");
      clock.advance(2 * 60_000); // down 11 minutes
      expect(await keepInstanceRunning(clients, withoutFallback, logger, clock)).toMatchObject({ did: "gave_up" });
      expect((await read()).scheduling?.provisioningModel).toBe("SPOT");

      const fellBack = await keepInstanceRunning(clients, withFallback, logger, clock);
      expect(fellBack).toMatchObject({ did: "started", switched: [{ to: "standard", why: "no_spot_capacity" }] });
      const standard = await read();
      expect(standard.scheduling).toMatchObject({ provisioningModel: "STANDARD", preemptible: false });
      // Cleared, as gcloud's --clear-instance-termination-action clears it: Google refuses it on a standard VM.
      expect(standard.scheduling?.instanceTerminationAction ?? undefined).toBeUndefined();
      expect(Number(standard.labels?.[FALLBACK_LABEL])).toBeGreaterThan(0);
      await until(() => vm.facts().status === "RUNNING");

      spotCapacity = true;
      clock.advance(60 * 60_000); // a stop an hour later (a standard VM stops only on purpose): still STANDARD
      vm.set("TERMINATED");
      expect(await keepInstanceRunning(clients, withFallback, logger, clock)).toMatchObject({ did: "started" });
      expect((await read()).scheduling?.provisioningModel).toBe("STANDARD");
      await until(() => vm.facts().status === "RUNNING");

      clock.advance(5 * 60 * 60_000); // six hours after the switch, its next stop
      vm.set("TERMINATED");
      const returned = await keepInstanceRunning(clients, withFallback, logger, clock);
      expect(returned).toMatchObject({ did: "started", switched: [{ to: "spot", why: "return" }] });
      const spot = await read();
      expect(spot.scheduling).toMatchObject({ provisioningModel: "SPOT", instanceTerminationAction: "STOP" });
      expect(spot.labels?.[FALLBACK_LABEL]).toBeUndefined();
    } finally {
      vm.dispose();
      await stand.close();
    }
  }, 20_000);
});

describe("operations that take time, as Google's do", () => {
  it("waits on a RUNNING start operation through zoneOperations.wait, and a concurrent invocation replaying it starts nothing more", async () => {
    const vm = new SimulatedInstance(20);
    const stand = await startComputeServer({
      project: PROJECT,
      zone: ZONE,
      instance: "slow-ops-vm",
      backend: vm,
      operationMs: 300,
    });
    const config = readRestarterConfig({
      BUDGET_PROJECT: PROJECT,
      BUDGET_ZONE: ZONE,
      BUDGET_INSTANCE: "slow-ops-vm",
      BUDGET_COMPUTE_ENDPOINT: stand.url,
      BUDGET_RESTART_BUDGET_SECONDS: "30",
    });
    const { keepInstanceRunning } =
      require("../../functions/restarter/keepRunning") as typeof import("../../functions/restarter/keepRunning");
    const { createComputeClients } =
      require("../../functions/restarter/computeClients") as typeof import("../../functions/restarter/computeClients");
    const { createLogger } = require("../../runtime/logger") as typeof import("../../runtime/logger");
    const clients = createComputeClients(new URL(stand.url));
    try {
      vm.set("TERMINATED");
      const started = Date.now();
      const outcomes = await Promise.all(
        [0, 1].map(() =>
          keepInstanceRunning(clients, config, createLogger({ level: process.env.DEBUG_LOG ? "info" : "silent" })),
        ),
      );
      expect(Date.now() - started).toBeGreaterThanOrEqual(290); // both waited for the operation to finish
      expect(outcomes.map((o) => o.did).sort()).toEqual(["started", "started"]);
      expect(stand.effectiveStarts).toBe(1);
      expect(new Set(stand.requests.map((r) => r.requestId)).size).toBe(1);
    } finally {
      vm.dispose();
      await stand.close();
    }
  });
});

describe("planned stops and parked models (only a preemption brings the VM back)", () => {
  const { keepInstanceRunning } =
    require("../../functions/restarter/keepRunning") as typeof import("../../functions/restarter/keepRunning");
  const { createComputeClients } =
    require("../../functions/restarter/computeClients") as typeof import("../../functions/restarter/computeClients");
  const { createLogger } = require("../../runtime/logger") as typeof import("../../runtime/logger");
  const { mayStart } = require("../../functions/restarter/decide") as typeof import("../../functions/restarter/decide");

  it("leaves a VM stopped by a stop operation (an update, gcloud) alone within the grace window, and starts it after", async () => {
    const vm = new SimulatedInstance(10);
    const stand = await startComputeServer({ project: PROJECT, zone: ZONE, instance: "planned-vm", backend: vm });
    const clients = createComputeClients(new URL(stand.url));
    const config = (grace: string) =>
      readRestarterConfig({
        BUDGET_PROJECT: PROJECT,
        BUDGET_ZONE: ZONE,
        BUDGET_INSTANCE: "planned-vm",
        BUDGET_COMPUTE_ENDPOINT: stand.url,
        BUDGET_PLANNED_STOP_GRACE_SECONDS: grace,
      });
    try {
      // What `pulumi up` does with allowStoppingForUpdate: instances.stop, through the real client.
      const [operation] = await clients.instances.stop({ project: PROJECT, zone: ZONE, instance: "planned-vm" });
      expect(operation.latestResponse).toMatchObject({ operationType: "stop" });
      await until(() => vm.facts().status === "TERMINATED");
      const clock = testClock();
      expect(await keepInstanceRunning(clients, config("600"), createLogger({ level: "silent" }), clock)).toMatchObject(
        { did: "left_stopped", saw: "TERMINATED" },
      );
      // 9 minutes on: inside the 10-minute window with room for a slow machine's real seconds.
      clock.advance(540_000);
      expect(await keepInstanceRunning(clients, config("600"), createLogger({ level: "silent" }), clock)).toMatchObject(
        { did: "left_stopped" },
      );
      expect(stand.effectiveStarts).toBe(0);
      // Past the grace window the VM "should be running and is not": started.
      clock.advance(70_000);
      expect(await keepInstanceRunning(clients, config("600"), createLogger({ level: "silent" }), clock)).toMatchObject(
        { did: "started" },
      );
      await until(() => vm.facts().status === "RUNNING");
      // A preemption after that planned stop is the newest stop: started at once, grace or not.
      vm.preempt();
      await until(() => vm.facts().status === "TERMINATED");
      expect(await keepInstanceRunning(clients, config("600"), createLogger({ level: "silent" }))).toMatchObject({
        did: "started",
      });
      expect(stand.effectiveStarts).toBe(2);
    } finally {
      vm.dispose();
      await stand.close();
    }
  });

  it("never starts a parked model (BUDGET_RUNNING=false), whatever stopped it", async () => {
    const vm = new SimulatedInstance(10);
    const stand = await startComputeServer({ project: PROJECT, zone: ZONE, instance: "parked-vm", backend: vm });
    const clients = createComputeClients(new URL(stand.url));
    try {
      vm.preempt();
      await until(() => vm.facts().status === "TERMINATED");
      const parked = readRestarterConfig({
        BUDGET_PROJECT: PROJECT,
        BUDGET_ZONE: ZONE,
        BUDGET_INSTANCE: "parked-vm",
        BUDGET_COMPUTE_ENDPOINT: stand.url,
        BUDGET_RUNNING: "false",
      });
      expect(await keepInstanceRunning(clients, parked, createLogger({ level: "silent" }))).toMatchObject({
        did: "parked",
      });
      expect(stand.requests).toEqual([]);
    } finally {
      vm.dispose();
      await stand.close();
    }
  });

  it("decides from the policy alone, and refuses a malformed BUDGET_RUNNING", () => {
    const now = Date.now();
    expect(mayStart({ running: false, graceMs: 0 }, { cause: "preempted", at: now }, now)).toBe("parked");
    expect(mayStart({ running: true, graceMs: 60_000 }, { cause: "planned", at: now - 1000 }, now)).toBe(
      "planned_stop",
    );
    expect(mayStart({ running: true, graceMs: 60_000 }, { cause: "planned", at: now - 61_000 }, now)).toBe("start");
    expect(mayStart({ running: true, graceMs: 60_000 }, { cause: "preempted", at: now }, now)).toBe("start");
    expect(mayStart({ running: true, graceMs: 60_000 }, { cause: "unknown" }, now)).toBe("start");
    expect(() =>
      readRestarterConfig({
        BUDGET_PROJECT: PROJECT,
        BUDGET_ZONE: ZONE,
        BUDGET_INSTANCE: "x-vm",
        BUDGET_RUNNING: "no",
      }),
    ).toThrow('BUDGET_RUNNING="no" must be true or false');
  });
});
