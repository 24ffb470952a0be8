import { FALLBACK_LABEL, PROVISIONING_LABEL, schedulingFor, type Scheduling } from "../../contracts/scheduling";
import { createComputeClients } from "../../functions/restarter/computeClients";
import { readRestarterConfig } from "../../functions/restarter/config";
import { keepInstanceRunning } from "../../functions/restarter/keepRunning";
import { startComputeServer, SimulatedInstance } from "../../local/standins/computeServer";
import { createLogger } from "../../runtime/logger";
import { testClock, type TestClock } from "../support/testClock";
import { useMetadataStandIn } from "../support/metadataStandIn";
import { waitFor } from "../support/waitFor";

// The restarter's core loop with the real Compute client against the Compute stand-in, on a clock
// the test moves: the return window, a return that finds no spot capacity, a changed declaration,
// the restarter's own stop across invocations, and a long operation history.
const PROJECT = "budget-proj";
const ZONE = "us-central1-a";

useMetadataStandIn({ projectId: PROJECT });

/** Moves `clock` to the next `hh:mm` UTC. */
function moveTo(clock: TestClock, hh: number, mm: number): void {
  const next = new Date(clock.now());
  next.setUTCHours(hh, mm, 0, 0);
  if (next.getTime() <= clock.now()) next.setUTCDate(next.getUTCDate() + 1);
  clock.advance(next.getTime() - clock.now());
}

/** A running instance behind the stand-in, and the restarter's clients and configuration for it. */
async function instanceUnderTest(options: {
  scheduling: Scheduling;
  labels: Record<string, string>;
  clock: TestClock;
  env?: Record<string, string>;
  spotCapacity?: () => boolean;
  stepMs?: number;
  /** How long each start/stop operation runs before it is DONE. @default 0 */
  operationMs?: number;
}) {
  const name = `vm-${Math.random().toString(36).slice(2, 8)}`;
  const vm = new SimulatedInstance(options.stepMs ?? 20, options.clock.now);
  const compute = await startComputeServer({
    project: PROJECT,
    zone: ZONE,
    instance: name,
    backend: vm,
    scheduling: options.scheduling,
    labels: options.labels,
    spotCapacity: options.spotCapacity,
    operationMs: options.operationMs,
  });
  const config = (env: Record<string, string> = {}) =>
    readRestarterConfig({
      BUDGET_PROJECT: PROJECT,
      BUDGET_ZONE: ZONE,
      BUDGET_INSTANCE: name,
      BUDGET_COMPUTE_ENDPOINT: compute.url,
      BUDGET_RESTART_BUDGET_SECONDS: "5",
      BUDGET_RESTART_POLL_MS: "20",
      BUDGET_RESTART_BACKOFF_MS: "50",
      BUDGET_DECLARED_PROVISIONING: "spot",
      ...options.env,
      ...env,
    });
  const clients = createComputeClients(new URL(compute.url));
  // The restarter's log lines, as Cloud Logging would receive them.
  const logLines: Array<{ severity: string; message: string }> = [];
  const logger = createLogger({
    level: "info",
    destination: { write: (line: string) => void logLines.push(JSON.parse(line)) },
  });
  return {
    logLines,
    vm,
    compute,
    clients,
    tick: (env?: Record<string, string>) => keepInstanceRunning(clients, config(env), logger, options.clock),
    target: { project: PROJECT, zone: ZONE, instance: name },
    running: () => waitFor(() => vm.facts().status === "RUNNING", { timeoutMs: 5000, intervalMs: 10 }),
    close: async () => {
      vm.dispose();
      await compute.close();
    },
  };
}

const fellBackHoursAgo = (clock: TestClock, hours: number) => ({
  "budgetml-model": "sentiment",
  [PROVISIONING_LABEL]: "standard",
  [FALLBACK_LABEL]: String(Math.floor((clock.now() - hours * 3600_000) / 1000)),
});

describe("the return of a fallback instance to spot", () => {
  it("waits for the return window, then stops it, switches it to spot and starts it", async () => {
    const clock = testClock();
    moveTo(clock, 2, 59);
    const t = await instanceUnderTest({
      scheduling: schedulingFor("standard"),
      labels: fellBackHoursAgo(clock, 7),
      clock,
    });
    try {
      expect(await t.tick()).toMatchObject({ saw: "RUNNING", did: "nothing" });
      expect(t.compute.requests).toEqual([]);
      clock.advance(2 * 60_000); // 03:01, inside the default window 03:00-05:00
      expect(await t.tick()).toMatchObject({ did: "started", switched: [{ to: "spot", why: "return" }] });
      expect(t.compute.requests.map((r) => r.method)).toEqual(["stop", "setScheduling", "setLabels", "start"]);
      expect(t.compute.scheduling).toEqual(schedulingFor("spot"));
      expect(t.compute.labels).toEqual({ "budgetml-model": "sentiment", [PROVISIONING_LABEL]: "spot" });
      await t.running();
    } finally {
      await t.close();
    }
  });

  it("without spot capacity, is back on standard at once, and tries again only in the next night's window", async () => {
    const clock = testClock();
    moveTo(clock, 3, 10);
    let spotCapacity = false;
    const t = await instanceUnderTest({
      scheduling: schedulingFor("standard"),
      labels: fellBackHoursAgo(clock, 7),
      clock,
      spotCapacity: () => spotCapacity,
    });
    try {
      expect(await t.tick()).toMatchObject({
        did: "started",
        switched: [
          { to: "spot", why: "return" },
          { to: "standard", why: "no_spot_capacity" },
        ],
      });
      expect(t.compute.requests.map((r) => r.method)).toEqual([
        "stop",
        "setScheduling",
        "setLabels",
        "start", // no spot capacity: the operation fails
        "setScheduling",
        "setLabels",
        "start",
      ]);
      expect(t.compute.scheduling).toEqual(schedulingFor("standard"));
      expect(Number(t.compute.labels[FALLBACK_LABEL]) * 1000).toBe(Math.floor(clock.now() / 1000) * 1000);
      await t.running();

      clock.advance(60 * 60_000); // 04:10: still inside the window, but the failed try was an hour ago
      expect(await t.tick()).toMatchObject({ did: "nothing" });
      spotCapacity = true;
      moveTo(clock, 3, 5); // the next night
      expect(await t.tick()).toMatchObject({ did: "started", switched: [{ to: "spot", why: "return" }] });
      expect(t.compute.scheduling).toEqual(schedulingFor("spot"));
    } finally {
      await t.close();
    }
  });
});

describe("a changed provisioning declaration (pulumi up with another `provisioning`)", () => {
  it("switches a running standard instance to spot, and a running spot instance to standard, keeping its disk", async () => {
    const clock = testClock();
    const t = await instanceUnderTest({
      scheduling: schedulingFor("standard"),
      labels: { [PROVISIONING_LABEL]: "standard" },
      clock,
    });
    try {
      expect(await t.tick({ BUDGET_DECLARED_PROVISIONING: "standard" })).toMatchObject({ did: "nothing" });
      expect(await t.tick({ BUDGET_DECLARED_PROVISIONING: "spot" })).toMatchObject({
        did: "started",
        switched: [{ to: "spot", why: "declared" }],
      });
      expect(t.compute.scheduling).toEqual(schedulingFor("spot"));
      await t.running();
      expect(await t.tick({ BUDGET_DECLARED_PROVISIONING: "standard" })).toMatchObject({
        did: "started",
        switched: [{ to: "standard", why: "declared" }],
      });
      expect(t.compute.scheduling).toEqual(schedulingFor("standard"));
      expect(t.compute.labels).toEqual({ [PROVISIONING_LABEL]: "standard" });
      await t.running();
      // A stop and a start, never a replacement: the same instance throughout.
      expect(t.compute.requests.filter((r) => r.method === "stop")).toHaveLength(2);
    } finally {
      await t.close();
    }
  });

  it("leaves a parked model alone, whatever it declares", async () => {
    const clock = testClock();
    const t = await instanceUnderTest({ scheduling: schedulingFor("standard"), labels: {}, clock });
    try {
      expect(await t.tick({ BUDGET_RUNNING: "false" })).toMatchObject({ did: "nothing" });
      expect(t.compute.requests).toEqual([]);
    } finally {
      await t.close();
    }
  });
});

describe("the restarter's own stop", () => {
  it("is finished by the next invocation when the one that stopped the instance ran out of time, not taken for a planned stop", async () => {
    const clock = testClock();
    // As on Google, the stop's operation is done only once the instance has stopped: 4 s here,
    // while an invocation may take 1 s (the margin keeps a busy machine from letting the first
    // invocation see the instance stopped).
    const t = await instanceUnderTest({
      scheduling: schedulingFor("standard"),
      labels: { [PROVISIONING_LABEL]: "standard" },
      clock,
      stepMs: 4000,
      operationMs: 4000,
      env: { BUDGET_RESTART_BUDGET_SECONDS: "1" },
    });
    try {
      // Ended at its budget with the instance still stopping — not held until the stop's operation is
      // done (a function past its timeout is killed mid-call), which would have it see TERMINATED.
      expect(await t.tick()).toMatchObject({ did: "gave_up", error: "instance still STOPPING" });
      expect(t.logLines.filter((line) => line.severity === "ERROR")).toEqual([]); // a stop under way is no failure
      await waitFor(() => t.vm.facts().status === "TERMINATED", { timeoutMs: 10_000, intervalMs: 20 });
      // The newest stop is a `stop` operation, but its request id is the restarter's own switch's.
      expect(await t.tick({ BUDGET_RESTART_BUDGET_SECONDS: "10" })).toMatchObject({
        did: "started",
        switched: [{ to: "spot", why: "declared" }],
      });
      expect(t.compute.requests.filter((r) => r.method === "stop")).toHaveLength(1);
    } finally {
      await t.close();
    }
  }, 40_000);
});

describe("why the instance stopped, after a long history", () => {
  it("finds the newest stop even when over a hundred older operations and a page of newer ones surround it", async () => {
    const clock = testClock();
    const t = await instanceUnderTest({
      scheduling: schedulingFor("spot"),
      labels: { [PROVISIONING_LABEL]: "spot" },
      clock,
    });
    try {
      const day = 24 * 3600_000;
      for (let i = 0; i < 150; i += 1)
        t.compute.recordOperation("start", new Date(Date.now() - 7 * day + i * 60_000).toISOString());
      // Someone stops it (gcloud, an update): a planned stop, to be left alone for the grace period…
      await t.clients.instances.stop(t.target);
      await waitFor(() => t.vm.facts().status === "TERMINATED", { intervalMs: 10 });
      // …followed by more than a page of newer operations that stop nothing.
      for (let i = 1; i <= 60; i += 1)
        t.compute.recordOperation("setLabels", new Date(Date.now() + i * 1000).toISOString());
      expect(await t.tick()).toMatchObject({ did: "left_stopped", saw: "TERMINATED" });
      expect(t.compute.requests.map((r) => r.method)).toEqual(["stop"]);
    } finally {
      await t.close();
    }
  });
});
