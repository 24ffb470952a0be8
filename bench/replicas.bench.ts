// Replicas through preemptions, through the local engine (the component's own declarations: the
// group's replicas booted with the real boot, behind a local load balancer that health-checks
// them as the backend service declares): a steady request load during PREEMPTIONS preemptions,
// one replica at a time, counting every request that did not answer 200, and the time from each
// preemption until the group is whole again. Baseline, in the same run: the single VM (the
// default) under the same load and the same number of preemptions.
import { join } from "node:path";
import { launchLocal, type LocalDeployment } from "../local/launchLocal";
import { freePort, median, ROOT, seconds } from "./support";

const PREEMPTIONS = Number(process.env.BENCH_PREEMPTIONS ?? 3);
const REPLICAS = Number(process.env.BENCH_REPLICAS ?? 2);
/** Concurrent clients, each sending a prediction at most every PACE_MS (about 80 requests/s in all). */
const CLIENTS = 4;
const PACE_MS = 50;
const predictor = join(ROOT, "examples", "sentiment", "predictor.ts");

interface Run {
  served: number;
  lost: number;
  /** Per preemption: ms until serving again (one VM) or until the group is whole again (replicas). */
  recoveries: number[];
  /** What the lost requests met, counted by kind. */
  losses: Record<string, number>;
}

/** Runs the steady load against `deployment` while preempting it PREEMPTIONS times, one after another. */
async function underLoad(deployment: LocalDeployment): Promise<Run> {
  const url = deployment.url.replace("localhost", "127.0.0.1");
  const form = new URLSearchParams({ username: deployment.username, password: deployment.password });
  const { access_token: token } = (await (await fetch(`${url}/token`, { method: "POST", body: form })).json()) as {
    access_token: string;
  };
  const run: Run = { served: 0, lost: 0, recoveries: [], losses: {} };
  let stop = false;
  const client = async () => {
    while (!stop) {
      const started = Date.now();
      const outcome = await fetch(`${url}/predict_dict`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ payload: { text: "I love this" } }),
      }).then(
        async (response) => {
          const body = await response.text();
          // A refusal says whose it is: the runtime's JSON states its health, a proxy's does not.
          const state = /"status":"(\w+)"/.exec(body)?.[1] ?? (body ? body.slice(0, 40) : "empty body");
          return response.status === 200 ? "ok" : `HTTP ${response.status} (${state})`;
        },
        (error: Error & { cause?: { code?: string } }) => error.cause?.code ?? error.message,
      );
      if (outcome === "ok") run.served += 1;
      else {
        run.lost += 1;
        run.losses[outcome] = (run.losses[outcome] ?? 0) + 1;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, PACE_MS - (Date.now() - started))));
    }
  };
  const clients = Array.from({ length: CLIENTS }, client);
  try {
    for (let i = 0; i < PREEMPTIONS; i += 1) run.recoveries.push(await deployment.preempt());
  } finally {
    stop = true;
    await Promise.all(clients);
  }
  return run;
}

async function measure(replicas: number | undefined): Promise<Run> {
  const deployment = await launchLocal({ predictor, port: await freePort(), replicas, report: () => {} });
  try {
    return await underLoad(deployment);
  } finally {
    await deployment.stop();
  }
}

async function main() {
  const baseline = await measure(undefined);
  const replicated = await measure(REPLICAS);
  console.log(
    `preemptions under a steady load (${CLIENTS} clients, a prediction each every ${PACE_MS} ms at most): ${PREEMPTIONS} preemptions, one at a time`,
  );
  const row = (what: string, run: Run, recovery: string) => ({
    what,
    "requests served": run.served,
    "requests lost": run.lost,
    [`${recovery} median s`]: seconds(median(run.recoveries)),
    "worst s": seconds(Math.max(...run.recoveries)),
    "lost vs baseline": +(run.lost / Math.max(baseline.lost, 1)).toFixed(3),
  });
  console.table([
    row(`replicas: ${REPLICAS} (group whole again after)`, replicated, "recovery"),
    row("baseline: one VM (serving again after)", baseline, "recovery"),
  ]);
  console.log("what the lost requests met:", { replicas: replicated.losses, baseline: baseline.losses });
  if (replicated.lost > 0) {
    console.error(`replicas lost ${replicated.lost} requests; the target is zero`);
    process.exitCode = 1;
  }
}

void main();
