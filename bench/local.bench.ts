// The local deployment, which boots with the VM's own scripts: time from launch to ready (first
// boot: bundles built, runtime and predictor fetched and installed), and outage length over
// repeated preemptions (shutdown script, kill, restarter, cached boot: nothing re-installed);
// next to the baseline of starting the runtime directly, measured in the same run.
import { join } from "node:path";
import { launchLocal } from "../local/launchLocal";
import { directStartMs, median, ROOT, seconds } from "./support";

const PREEMPTIONS = Number(process.env.BENCH_PREEMPTIONS ?? 5);
const predictor = join(ROOT, "examples", "sentiment", "predictor.ts");

async function main() {
  const baseline: number[] = [];
  for (let i = 0; i < 3; i += 1) baseline.push(await directStartMs(predictor, 18700 + i));
  const launched = Date.now();
  const deployment = await launchLocal({ predictor, port: 18710, report: () => {} });
  const firstBoot = Date.now() - launched;
  const outages: number[] = [];
  try {
    for (let i = 0; i < PREEMPTIONS; i += 1) outages.push(await deployment.preempt());
  } finally {
    await deployment.stop();
  }
  console.log(
    `local deployment: preemption → ready again, ${PREEMPTIONS} preemptions (restarter tick 1 s, the signal path runs at once)`,
  );
  console.table([
    {
      what: "first boot (build, fetch, install, start)",
      "median s": seconds(firstBoot),
      "worst s": seconds(firstBoot),
      "vs baseline": +(firstBoot / median(baseline)).toFixed(2),
    },
    {
      what: "outage (shutdown script + restarter + boot)",
      "median s": seconds(median(outages)),
      "worst s": seconds(Math.max(...outages)),
      "vs baseline": +(median(outages) / median(baseline)).toFixed(2),
    },
    {
      what: "baseline: runtime started directly",
      "median s": seconds(median(baseline)),
      "worst s": seconds(Math.max(...baseline)),
      "vs baseline": 1,
    },
  ]);
  if (median(outages) > 5000) {
    console.error("median outage above the 5 s target");
    process.exitCode = 1;
  }
}

void main();
