// How soon after a preempted instance reaches TERMINATED does the restarter ask for a start?
// Compares the shutdown-signal path with the scheduler-only path (the baseline), in one run, with
// the real restarter loop and compute client against the Compute stand-in. Time is scaled 1/20 so
// the run takes a minute; figures are reported scaled back to real seconds.
import { startComputeServer, SimulatedInstance } from "../local/standins/computeServer";
import { startMetadataServer } from "../local/standins/metadataServer";
import { createComputeClients } from "../functions/restarter/computeClients";
import { readRestarterConfig } from "../functions/restarter/config";
import { keepInstanceRunning } from "../functions/restarter/keepRunning";
import { createLogger } from "../runtime/logger";

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

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
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
