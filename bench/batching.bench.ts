// `npm run bench batching`: adaptive batching on the ONNX digits example (examples/digits), with and
// without it in the same run: budgetml serve with the runtime's defaults (one worker per core),
// and the same with --max-batch-size 32; one image per request, wrk at 1, 8 and 64 connections,
// both servers up at once and measured in alternating rounds. Prints req/s, p50/p99, CPU per
// request and the batches' mean size, and the ratio with batching / without.
//   BENCH_COMPARE=main=/path/to/other/dist/cli.js,…  adds those builds without batching, by label
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ensureWrk, inRounds, load, medians, otherBuilds, startBudgetml, stopAll, type Target } from "./loadTargets";
import { median, ROOT } from "./support";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = (process.env.BENCH_CONNECTIONS ?? "1,8,64").split(",").map(Number);
const BATCH = 32;
const OFF = "no batching (default)";
const ON = `batching (--max-batch-size ${BATCH})`;

const predictor = join(ROOT, "examples", "digits", "predictor.ts");
const samples = JSON.parse(readFileSync(join(ROOT, "examples", "digits", "samples.json"), "utf8")) as Array<{
  pixels: number[];
}>;
const body = JSON.stringify({ payload: { pixels: samples[0].pixels } });

/** The batches a target ran so far (count, requests), from its /metrics. */
async function batches(target: Target): Promise<{ count: number; requests: number }> {
  const text = await (
    await fetch(`${target.url}/metrics`, { headers: { authorization: `Bearer ${target.token}` } })
  ).text();
  const sample = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? 0);
  return { count: sample("budgetml_batch_size_count"), requests: sample("budgetml_batch_size_sum") };
}

async function main() {
  await ensureWrk();
  const targets = [
    await startBudgetml({ name: OFF, predictor }),
    await startBudgetml({ name: ON, predictor, flags: ["--max-batch-size", String(BATCH)] }),
  ];
  for (const { label, cli } of otherBuilds())
    targets.push(await startBudgetml({ name: `${label} (no batching)`, predictor, cli }));
  try {
    for (const target of targets) await load(target, { path: "/predict_dict", body, connections: 64, seconds: 3 }); // warm-up
    const rows: Array<Record<string, string | number>> = [];
    const ratios: string[] = [];
    for (const connections of CONNECTIONS) {
      const before = await Promise.all(targets.map(batches));
      const rounds = await inRounds(targets, ROUNDS, (target) =>
        load(target, { path: "/predict_dict", body, connections, seconds: SECONDS }),
      );
      const after = await Promise.all(targets.map(batches));
      targets.forEach((target, i) => {
        const { rps, p50Ms, p99Ms, cpuUsPerRequest, failed } = medians(rounds.get(target.name) ?? []);
        const count = after[i].count - before[i].count;
        rows.push({
          connections,
          server: target.name,
          "req/s (median)": rps,
          "p50 ms": p50Ms,
          "p99 ms": p99Ms,
          "server CPU us/request": cpuUsPerRequest,
          "mean batch": count > 0 ? +((after[i].requests - before[i].requests) / count).toFixed(1) : "-",
          failed,
        });
      });
      const on = rounds.get(ON) ?? [];
      const off = rounds.get(OFF) ?? [];
      const perRound = on.map((m, i) => m.rps / off[i].rps);
      ratios.push(
        `${connections} connection${connections > 1 ? "s" : ""}: ${median(perRound).toFixed(2)}x (rounds ${perRound.map((x) => x.toFixed(2)).join(" / ")})`,
      );
    }
    console.log(
      `ONNX digits, one image per request, budgetml serve defaults (one worker per core) with and without --max-batch-size ${BATCH}, wrk, ${ROUNDS} alternating rounds of ${SECONDS} s`,
    );
    console.table(rows);
    console.log(`req/s with batching / without, median of the rounds' ratios:\n  ${ratios.join("\n  ")}`);
  } finally {
    await stopAll(targets);
  }
}

main().catch((error: Error) => {
  console.error(error.stack ?? error.message);
  process.exit(1);
});
