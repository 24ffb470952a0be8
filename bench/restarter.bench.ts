// How soon after a preempted instance reaches TERMINATED does the restarter ask for a start?
// Compares the shutdown-signal path with the scheduler-only path (the baseline), in one run, with
// the real restarter loop and compute client against the Compute stand-in. Time is scaled 1/20 so
// the run takes a minute; figures are reported scaled back to real seconds.
import { FALLBACK_LABEL, PROVISIONING_LABEL, schedulingFor } from "../contracts/scheduling";
import { startComputeServer, SimulatedInstance } from "../local/standins/computeServer";
import { startMetadataServer } from "../local/standins/metadataServer";
import { createComputeClients } from "../functions/restarter/computeClients";
import { readRestarterConfig } from "../functions/restarter/config";
import { keepInstanceRunning } from "../functions/restarter/keepRunning";
import { createLogger } from "../contracts/cloudLogging";
import { median } from "./support";

const SCALE = 20;
const STOPPING_MS = 30_000 / SCALE; // Google's preemption window
const TICK_MS = 60_000 / SCALE; // the scheduler's default: every minute
const TRIALS = Number(process.env.BENCH_TRIALS ?? 6);

async function main() {
  const metadata = await startMetadataServer();
  process.env.GCE_METADATA_HOST = metadata.host;
  const instance = new SimulatedInstance(STOPPING_MS);
  const compute = await startComputeServer({
    project: "bench-project",
    zone: "us-central1-a",
    instance: "vm",
    backend: instance,
  });
  const config = readRestarterConfig({
    BUDGET_PROJECT: "bench-project",
    BUDGET_ZONE: "us-central1-a",
    BUDGET_INSTANCE: "vm",
    BUDGET_COMPUTE_ENDPOINT: compute.url,
    BUDGET_RESTART_POLL_MS: String(1000 / SCALE),
    BUDGET_RESTART_BACKOFF_MS: String(2000 / SCALE),
    BUDGET_RESTART_BUDGET_SECONDS: String(50 / SCALE),
  });
  const clients = createComputeClients(config.computeEndpoint);
  const logger = createLogger({ level: "silent" });
  const invoke = () => keepInstanceRunning(clients, config, logger);

  /** One preemption; returns ms from TERMINATED to the start request, in real (unscaled) time. */
  async function trial(withSignal: boolean): Promise<number> {
    instance.set("RUNNING");
    compute.requests.length = 0;
    const ticker = setInterval(() => void invoke(), TICK_MS);
    await new Promise((resolve) => setTimeout(resolve, Math.random() * TICK_MS)); // preempt at a random phase of the tick
    instance.preempt();
    if (withSignal) void invoke(); // the shutdown script publishes as the instance starts stopping
    while (compute.requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    clearInterval(ticker);
    const terminatedAt = Date.parse(instance.facts().lastStopTimestamp as string);
    return (compute.requests[0].at - terminatedAt) * SCALE;
  }

  const paths: Array<[string, boolean]> = [
    ["scheduler only (baseline)", false],
    ["shutdown signal + scheduler", true],
  ];
  const results: Record<string, number[]> = {};
  for (const [name, withSignal] of paths) {
    results[name] = [];
    for (let i = 0; i < TRIALS; i += 1) results[name].push(await trial(withSignal));
  }
  instance.dispose();
  await compute.close();
  await metadata.close();

  const baseline = median(results[paths[0][0]]);
  console.log(
    `TERMINATED → start request, ${TRIALS} preemptions per path, tick every 60 s, time scaled 1/${SCALE} and reported in real seconds`,
  );
  console.table(
    Object.entries(results).map(([path, xs]) => ({
      path,
      "median s": +(median(xs) / 1000).toFixed(2),
      "worst s": +(Math.max(...xs) / 1000).toFixed(2),
      "vs baseline": +(median(xs) / baseline).toFixed(3),
    })),
  );
  const signal = results[paths[1][0]];
  if (Math.max(...signal) > 15_000) {
    console.error("signal path above the 15 s target");
    process.exitCode = 1;
  }
  await capacityOutages();
  await returnOutages();
}

/**
 * Outage when spot capacity is gone for 30 minutes, with and without the fallback to standard
 * (10 minutes), the restarter ticking every minute. Same scaling as above.
 */
async function capacityOutages() {
  const metadata = await startMetadataServer();
  process.env.GCE_METADATA_HOST = metadata.host;
  const SLOW = 50; // minutes of ticks: scaled 1/50, half an hour takes 36 s
  const CAPACITY_BACK_MS = (30 * 60_000) / SLOW;
  const rows = [];
  for (const [label, fallbackSeconds] of [
    ["no fallback (baseline)", 0],
    ["fallback after 10 min", 600],
  ] as const) {
    const instance = new SimulatedInstance(50);
    const outageStarted = Date.now();
    const compute = await startComputeServer({
      project: "bench-project",
      zone: "us-central1-a",
      instance: "vm",
      backend: instance,
      spotCapacity: () => Date.now() - outageStarted >= CAPACITY_BACK_MS,
    });
    instance.set("TERMINATED");
    const config = readRestarterConfig({
      BUDGET_PROJECT: "bench-project",
      BUDGET_ZONE: "us-central1-a",
      BUDGET_INSTANCE: "vm",
      BUDGET_COMPUTE_ENDPOINT: compute.url,
      BUDGET_RESTART_BUDGET_SECONDS: String(50 / SLOW),
      BUDGET_RESTART_BACKOFF_MS: "40",
      BUDGET_RESTART_POLL_MS: "20",
      BUDGET_SPOT_FALLBACK_SECONDS: String(fallbackSeconds / SLOW),
    });
    const clients = createComputeClients(config.computeEndpoint);
    const logger = createLogger({ level: "silent" });
    while (instance.facts().status !== "RUNNING") {
      await keepInstanceRunning(clients, config, logger);
      await new Promise((resolve) => setTimeout(resolve, 60_000 / SLOW));
    }
    rows.push({ path: label, "outage min": +(((Date.now() - outageStarted) * SLOW) / 60_000).toFixed(1) });
    instance.dispose();
    await compute.close();
  }
  await metadata.close();
  console.log(
    `\nspot capacity gone for 30 min, restarter ticking every minute (time scaled 1/${SLOW}, reported in real minutes)`,
  );
  console.table(rows);
}

void main();

/**
 * The outage a return to spot costs, with and without spot capacity, against the least any switch
 * can cost: the same instance stopped and started by hand through the same client (baseline). The
 * instance's lifecycle is modelled on Google's orders of magnitude — 15 s stopping (the runtime's
 * drain inside the shutdown window), 15 s each for PROVISIONING and STAGING, 2 s per start/stop
 * operation — scaled 1/20 like the first table; the restarter runs with its default timing, scaled
 * alike, inside its return window (its clock moved to 03:10 UTC).
 */
async function returnOutages() {
  const metadata = await startMetadataServer();
  process.env.GCE_METADATA_HOST = metadata.host;
  const STEP_MS = 15_000 / SCALE;
  const paths = ["stop + start by hand (baseline)", "return to spot", "return without spot capacity"] as const;
  const results: Record<string, { outages: number[]; calls: number }> = {};
  for (const path of paths) {
    results[path] = { outages: [], calls: 0 };
    for (let i = 0; i < 3; i += 1) {
      const offset = ((): number => {
        const at = new Date();
        at.setUTCHours(3, 10, 0, 0);
        if (at.getTime() < Date.now()) at.setUTCDate(at.getUTCDate() + 1);
        return at.getTime() - Date.now();
      })();
      const clock = {
        now: () => Date.now() + offset,
        sleep: (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
      };
      const instance = new SimulatedInstance(STEP_MS, clock.now);
      const compute = await startComputeServer({
        project: "bench-project",
        zone: "us-central1-a",
        instance: "vm",
        backend: instance,
        scheduling: schedulingFor("standard"),
        labels: {
          [PROVISIONING_LABEL]: "standard",
          [FALLBACK_LABEL]: String(Math.floor((clock.now() - 7 * 3600_000) / 1000)),
        },
        spotCapacity: () => path !== "return without spot capacity",
        operationMs: 2000 / SCALE,
      });
      const config = readRestarterConfig({
        BUDGET_PROJECT: "bench-project",
        BUDGET_ZONE: "us-central1-a",
        BUDGET_INSTANCE: "vm",
        BUDGET_COMPUTE_ENDPOINT: compute.url,
        BUDGET_DECLARED_PROVISIONING: "spot",
        BUDGET_RESTART_POLL_MS: String(1000 / SCALE),
        BUDGET_RESTART_BACKOFF_MS: String(2000 / SCALE),
        // The budget only caps an invocation (the default, unscaled): a loaded machine's first calls take seconds.
      });
      const clients = createComputeClients(config.computeEndpoint);
      const target = { project: "bench-project", zone: "us-central1-a", instance: "vm" };
      await clients.instances.get(target); // loads the client before the clock starts
      await clients.operations.list({ project: target.project, zone: target.zone }, { autoPaginate: false });
      const until = async (status: string) => {
        while (instance.facts().status !== status) await new Promise((resolve) => setTimeout(resolve, 2));
      };
      const started = Date.now();
      if (path === "stop + start by hand (baseline)") {
        await clients.instances.stop(target);
        await until("TERMINATED");
        await clients.instances.start(target);
      } else {
        const outcome = await keepInstanceRunning(clients, config, createLogger({ level: "silent" }), clock);
        if (outcome.did !== "started") throw new Error(`${path}: ${JSON.stringify(outcome)}`);
      }
      await until("RUNNING");
      results[path].outages.push((Date.now() - started) * SCALE);
      results[path].calls = compute.requests.length;
      instance.dispose();
      await compute.close();
    }
  }
  await metadata.close();
  const baseline = median(results[paths[0]].outages);
  console.log(
    `\nreturn to spot of a fallback instance (modelled lifecycle, time scaled 1/${SCALE}, reported in real seconds)`,
  );
  console.table(
    paths.map((path) => ({
      path,
      "median s": +(median(results[path].outages) / 1000).toFixed(1),
      "worst s": +(Math.max(...results[path].outages) / 1000).toFixed(1),
      "vs baseline": +(median(results[path].outages) / baseline).toFixed(2),
      "mutating calls": results[path].calls,
    })),
  );
}
