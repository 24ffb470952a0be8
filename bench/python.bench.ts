// `npm run bench python`: a Python predictor served by budgetml vs the original BudgetML's server
// shape (FastAPI behind gunicorn with uvicorn workers), same predictor, 2 workers each, the
// runtime's default settings, 64 connections from wrk, all servers up at once and measured in
// alternating rounds: req/s and the ratio, p50/p99, CPU per request; then the bridge's own cost per
// call (runtime ↔ Python channel). First the echo predictor (the servers' own overhead), then
// examples/iris (scikit-learn).
//   BENCH_COMPARE=main=/path/to/other/dist/cli.js,…  adds those builds of budgetml (defaults too), by label
//   BENCH_TUNED=1                                   adds budgetml with info logs off and 64 slots, labelled tuned
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { createLogger } from "../contracts/cloudLogging";
import { PYTHON_HOST_SCRIPT, PythonHost } from "../runtime/predictor/python/pythonHost";
import {
  ensureWrk,
  inRounds,
  load,
  medians,
  otherBuilds,
  startBudgetml,
  stopAll,
  treeCpuUs,
  type Target,
} from "./loadTargets";
import { freePort, median, ROOT } from "./support";

const PYTHON = process.env.BENCH_PYTHON ?? "/usr/bin/python3"; // Debian's: FastAPI, uvicorn, gunicorn, scikit-learn
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const WORKERS = 2;
const FASTAPI = "FastAPI + gunicorn/uvicorn";

async function budgetmlTargets(predictor: string): Promise<Target[]> {
  const common = { predictor, env: { BUDGET_PYTHON: PYTHON }, flags: ["--workers", String(WORKERS)] };
  const targets = [await startBudgetml({ name: "budgetml", ...common })];
  for (const { label, cli } of otherBuilds())
    targets.push(await startBudgetml({ name: `budgetml ${label}`, cli, ...common }));
  if (process.env.BENCH_TUNED)
    targets.push(
      await startBudgetml({
        name: "budgetml tuned (BUDGET_LOG_LEVEL=warn, BUDGET_MAX_IN_FLIGHT=64)",
        ...common,
        env: { ...common.env, BUDGET_LOG_LEVEL: "warn", BUDGET_MAX_IN_FLIGHT: "64" },
      }),
    );
  return targets;
}

async function startFastapi(predictor: string): Promise<Target> {
  const token = randomBytes(24).toString("hex");
  const port = await freePort();
  const child = spawn(
    PYTHON,
    [
      "-m",
      "gunicorn",
      "-w",
      String(WORKERS),
      "-k",
      "uvicorn.workers.UvicornWorker",
      "-b",
      `127.0.0.1:${port}`,
      "--log-level",
      "warning",
      "--chdir",
      join(ROOT, "bench", "fixtures"),
      "fastapiServer:app",
    ],
    {
      env: { PATH: process.env.PATH, BENCH_PREDICTOR: predictor, BENCH_TOKEN: token },
      stdio: "ignore",
    },
  );
  return { name: FASTAPI, url: `http://127.0.0.1:${port}`, token, child };
}

/** Until every worker answers: then a short run long enough for V8 to optimise the hot path. */
async function warmUp(target: Target, body: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const ok = await fetch(`${target.url}/predict_dict`, {
      method: "POST",
      headers: { authorization: `Bearer ${target.token}`, "content-type": "application/json" },
      body,
    }).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`${target.name} never answered`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await load(target, { path: "/predict_dict", body, connections: CONNECTIONS, seconds: 3 });
}

async function compare(model: string, predictor: string, payload: unknown) {
  const body = JSON.stringify({ payload });
  const targets = [...(await budgetmlTargets(predictor)), await startFastapi(predictor)];
  try {
    for (const target of targets) await warmUp(target, body);
    const rounds = await inRounds(targets, ROUNDS, async (target) => {
      const measured = await load(target, { path: "/predict_dict", body, connections: CONNECTIONS, seconds: SECONDS });
      if (measured.failed > 0) throw new Error(`${target.name}: ${measured.failed} failed requests`);
      return measured;
    });
    const rows = targets.map(({ name }) => {
      const all = rounds.get(name) ?? [];
      const { rps, p50Ms, p99Ms, cpuUsPerRequest } = medians(all);
      return {
        model,
        server: name,
        "req/s (median)": rps,
        "req/s per round": all.map((m) => Math.round(m.rps)).join(" / "),
        "p50 ms": p50Ms,
        "p99 ms": p99Ms,
        "server CPU us/request": cpuUsPerRequest,
      };
    });
    const ratio = (name: string) => {
      const ours = rounds.get(name) ?? [];
      const theirs = rounds.get(FASTAPI) ?? [];
      const perRound = ours.map((m, i) => m.rps / theirs[i].rps);
      const cpu = median(ours.map((m, i) => theirs[i].cpuUsPerRequest / m.cpuUsPerRequest));
      return `${name}: ${median(perRound).toFixed(2)}x (rounds ${perRound.map((x) => x.toFixed(2)).join(" / ")}; CPU per request, FastAPI / it: ${cpu.toFixed(2)}x)`;
    };
    return { rows, ratios: targets.filter((t) => t.name !== FASTAPI).map((t) => ratio(t.name)), rounds };
  } finally {
    await stopAll(targets);
  }
}

/** The channel alone: calls straight to a Python host, one at a time and 64 at once. */
async function bridgeCost(predictor: string) {
  const host = await PythonHost.start({
    predictorPath: predictor,
    python: PYTHON,
    hostScript: join(ROOT, "runtime", "predictor", "python", PYTHON_HOST_SCRIPT),
    logger: createLogger({ level: "warn" }),
  });
  const body = Buffer.from(JSON.stringify({ text: "a short sentence to classify", n: 3 }));
  try {
    for (let i = 0; i < 500; i += 1) await host.call({ kind: "dict" }, body); // warm-up
    const sequential = 3000;
    let started = process.hrtime.bigint();
    for (let i = 0; i < sequential; i += 1) await host.call({ kind: "dict" }, body);
    const oneAtATime = Number(process.hrtime.bigint() - started) / 1000 / sequential;
    const total = 30_000;
    let sent = 0;
    const cpuBefore = process.cpuUsage();
    const pythonBefore = await treeCpuUs(host.pid as number);
    started = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (sent < total) {
          sent += 1;
          await host.call({ kind: "dict" }, body);
        }
      }),
    );
    const pipelined = Number(process.hrtime.bigint() - started) / 1000 / total;
    const nodeCpu = process.cpuUsage(cpuBefore);
    const nodeUs = (nodeCpu.user + nodeCpu.system) / total;
    const pythonUs = ((await treeCpuUs(host.pid as number)) - pythonBefore) / total;
    return {
      oneAtATime: Math.round(oneAtATime),
      pipelined: +pipelined.toFixed(1),
      nodeUs: +nodeUs.toFixed(1),
      pythonUs: +pythonUs.toFixed(1),
    };
  } finally {
    await host.stop();
  }
}

/** The baseline's packages, from Debian's archive (no PyPI needed): installed when missing and we are root. */
function ensureBaselinePackages(): void {
  const has = () => {
    try {
      execFileSync(PYTHON, ["-c", "import fastapi, uvicorn, gunicorn, sklearn"], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  };
  if (has()) return;
  const packages = ["python3-fastapi", "python3-uvicorn", "python3-gunicorn", "python3-uvloop", "python3-sklearn"];
  if (process.getuid?.() !== 0)
    throw new Error(
      `the baseline needs ${packages.join(" ")} (apt-get install them, or set BENCH_PYTHON to an interpreter with fastapi, uvicorn, gunicorn and scikit-learn)`,
    );
  console.log(`installing ${packages.join(" ")} with apt-get`);
  execFileSync("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...packages], {
    stdio: "inherit",
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
}

async function main() {
  ensureBaselinePackages();
  await ensureWrk();
  const echo = join(ROOT, "bench", "fixtures", "echoPredictor.py");
  const iris = join(ROOT, "examples", "iris", "predictor.py");
  const flower = { sepal_length: 5.9, sepal_width: 3.0, petal_length: 4.2, petal_width: 1.5 };
  const echoRun = await compare("echo", echo, { text: "a short sentence to classify", n: 3 });
  const irisRun = await compare("iris (scikit-learn)", iris, flower);
  const bridge = await bridgeCost(echo);
  console.log(
    `Python predictors: budgetml vs FastAPI + gunicorn/uvicorn, ${WORKERS} workers each, default settings, ${CONNECTIONS} connections (wrk), ${ROUNDS} alternating rounds of ${SECONDS} s, ${PYTHON}`,
  );
  console.table([...echoRun.rows, ...irisRun.rows]);
  console.log("req/s ratio to FastAPI, median of the rounds' ratios (goal >= 1.5x, floor 1.0x):");
  for (const line of [...echoRun.ratios.map((r) => `echo ${r}`), ...irisRun.ratios.map((r) => `iris ${r}`)])
    console.log(`  ${line}`);
  console.log(
    `bridge (runtime -> Python -> runtime, echo predictor, no HTTP): ${bridge.oneAtATime} us round trip one call at a time; with 64 in flight ${bridge.pipelined} us wall per call, CPU ${bridge.nodeUs} us in Node + ${bridge.pythonUs} us in Python per call`,
  );
  const below = [echoRun, irisRun].some(({ rounds }) => {
    const ours = rounds.get("budgetml") ?? [];
    const theirs = rounds.get(FASTAPI) ?? [];
    return median(ours.map((m, i) => m.rps / theirs[i].rps)) < 1;
  });
  if (below) {
    console.error("below the 1.0x floor");
    process.exitCode = 1;
  }
}

main().catch((error: Error) => {
  console.error(error.stack ?? error.message);
  process.exit(1);
});
