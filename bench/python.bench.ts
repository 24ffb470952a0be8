// `npm run bench python`: a Python predictor served by budgetml vs the original BudgetML's server
// shape (FastAPI behind gunicorn with uvicorn workers), same predictor, 2 workers each, same run:
// req/s and the ratio, p50/p99; then the bridge's own cost per call (runtime ↔ Python channel).
// First the echo predictor (the servers' own overhead), then examples/iris (scikit-learn).
// @ts-expect-error autocannon ships no type declarations
import autocannon from "autocannon";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createLogger } from "../runtime/logger";
import { PYTHON_HOST_SCRIPT, PythonHost } from "../runtime/predictor/python/pythonHost";
import { freePort, ROOT, waitReady } from "./support";

const PYTHON = process.env.BENCH_PYTHON ?? "/usr/bin/python3"; // Debian's: FastAPI, uvicorn, gunicorn, scikit-learn
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const WORKERS = 2;

interface Target {
  name: string;
  url: string;
  token: string;
  child: ChildProcess;
}

const TICK_US = 1_000_000 / 100; // /proc's clock ticks: USER_HZ is 100 on Linux

/** CPU time (user + system, µs) used so far by `pid` and every process under it, from /proc. */
function treeCpuUs(pid: number): number {
  const stats = new Map<number, { ppid: number; ticks: number }>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const text = readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = text.slice(text.lastIndexOf(")") + 2).split(" "); // fields from the 3rd on
      stats.set(Number(entry), { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) });
    } catch {
      // the process ended while we looked
    }
  }
  let total = 0;
  const tree = new Set([pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [child, { ppid }] of stats)
      if (tree.has(ppid) && !tree.has(child)) {
        tree.add(child);
        grew = true;
      }
  }
  for (const member of tree) total += stats.get(member)?.ticks ?? 0;
  return total * TICK_US;
}

async function startBudgetml(predictor: string): Promise<Target> {
  const env = {
    PATH: process.env.PATH,
    BUDGET_PYTHON: PYTHON,
    BUDGET_USERNAME: "bench",
    BUDGET_PWD: randomBytes(9).toString("hex"),
    BUDGET_TOKEN: randomBytes(32).toString("hex"),
    BUDGET_LOG_LEVEL: "warn",
    BUDGET_MAX_IN_FLIGHT: "1000",
    BUDGET_MAX_QUEUED: "1000",
  };
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      join(ROOT, "dist", "cli.js"),
      "serve",
      "--predictor",
      predictor,
      "--port",
      String(port),
      "--host",
      "127.0.0.1",
      "--workers",
      String(WORKERS),
    ],
    { env, stdio: "ignore" },
  );
  const url = `http://127.0.0.1:${port}`;
  await waitReady(`${url}/`);
  const login = await fetch(`${url}/token`, {
    method: "POST",
    body: new URLSearchParams({ username: env.BUDGET_USERNAME, password: env.BUDGET_PWD }),
  });
  return { name: "budgetml", url, token: ((await login.json()) as { access_token: string }).access_token, child };
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
  return { name: "FastAPI + gunicorn/uvicorn", url: `http://127.0.0.1:${port}`, token, child };
}

async function measure(target: Target, body: string, seconds: number, allowErrors = false) {
  const cpuBefore = treeCpuUs(target.child.pid as number);
  const result = await autocannon({
    url: `${target.url}/predict_dict`,
    method: "POST",
    connections: CONNECTIONS,
    duration: seconds,
    body,
    headers: { authorization: `Bearer ${target.token}`, "content-type": "application/json" },
  });
  const bad = result.non2xx + result.errors + result.timeouts;
  if (bad > 0 && !allowErrors) throw new Error(`${target.name}: ${bad} failed requests`);
  const cpuUsPerRequest = (treeCpuUs(target.child.pid as number) - cpuBefore) / result.requests.total;
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, cpuUsPerRequest };
}

/** Until every worker answers: a short warm-up run whose errors (a worker still loading) are ignored. */
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
  await measure(target, body, 3, true); // long enough for V8 to optimise the hot path
}

/**
 * Both servers up at once, measured in alternating rounds (A B, B A, A B): on a shared machine the
 * load from elsewhere changes from second to second, and alternation spreads it over both. Each
 * server's figures are its median round; the ratio is the median of the rounds' ratios.
 */
async function compare(model: string, predictor: string, payload: unknown) {
  const body = JSON.stringify({ payload });
  const targets = [await startBudgetml(predictor), await startFastapi(predictor)];
  try {
    for (const target of targets) await warmUp(target, body);
    const rounds: Array<Record<string, Awaited<ReturnType<typeof measure>>>> = [];
    for (let round = 0; round < ROUNDS; round += 1) {
      const results: Record<string, Awaited<ReturnType<typeof measure>>> = {};
      for (const target of round % 2 === 0 ? targets : [...targets].reverse())
        results[target.name] = await measure(target, body, SECONDS);
      rounds.push(results);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const rows = targets.map(({ name }) => ({
      model,
      server: name,
      "req/s (median)": Math.round(median(rounds.map((r) => r[name].rps))),
      "req/s per round": rounds.map((r) => Math.round(r[name].rps)).join(" / "),
      "p50 ms": median(rounds.map((r) => r[name].p50)),
      "p99 ms": median(rounds.map((r) => r[name].p99)),
      "server CPU us/request": Math.round(median(rounds.map((r) => r[name].cpuUsPerRequest))),
    }));
    const ratios = rounds.map((r) => r[targets[0].name].rps / r[targets[1].name].rps);
    const cpuRatio = median(rounds.map((r) => r[targets[1].name].cpuUsPerRequest / r[targets[0].name].cpuUsPerRequest));
    return {
      rows,
      ratio: +median(ratios).toFixed(2),
      ratios: ratios.map((x) => x.toFixed(2)).join(" / "),
      cpuRatio: +cpuRatio.toFixed(2),
    };
  } finally {
    for (const target of targets) {
      target.child.kill("SIGTERM");
      await new Promise((resolve) => target.child.once("exit", resolve));
    }
  }
}

/** The channel alone: calls straight to a Python host, one at a time and 64 at once. */
async function bridgeCost(predictor: string) {
  const host = await PythonHost.start({
    predictorPath: predictor,
    python: PYTHON,
    hostScript: join(ROOT, "runtime", "python", PYTHON_HOST_SCRIPT),
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
    const pythonBefore = treeCpuUs(host.pid as number);
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
    const pythonUs = (treeCpuUs(host.pid as number) - pythonBefore) / total;
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
  const echo = join(ROOT, "bench", "fixtures", "echoPredictor.py");
  const iris = join(ROOT, "examples", "iris", "predictor.py");
  const flower = { sepal_length: 5.9, sepal_width: 3.0, petal_length: 4.2, petal_width: 1.5 };
  const echoRun = await compare("echo", echo, { text: "a short sentence to classify", n: 3 });
  const irisRun = await compare("iris (scikit-learn)", iris, flower);
  const bridge = await bridgeCost(echo);
  console.log(
    `Python predictors: budgetml vs FastAPI + gunicorn/uvicorn, ${WORKERS} workers each, ${CONNECTIONS} connections, ${ROUNDS} alternating rounds of ${SECONDS} s, ${PYTHON}`,
  );
  console.table([...echoRun.rows, ...irisRun.rows]);
  console.log(
    `req/s ratio budgetml / FastAPI (median of rounds): echo ${echoRun.ratio}x (${echoRun.ratios}), iris ${irisRun.ratio}x (${irisRun.ratios}) (goal >= 1.5x, floor 1.0x)`,
  );
  console.log(
    `CPU per request, FastAPI / budgetml (what the req/s ratio becomes when the servers own the cores): echo ${echoRun.cpuRatio}x, iris ${irisRun.cpuRatio}x`,
  );
  console.log(
    `bridge (runtime -> Python -> runtime, echo predictor, no HTTP): ${bridge.oneAtATime} us round trip one call at a time; with 64 in flight ${bridge.pipelined} us wall per call, CPU ${bridge.nodeUs} us in Node + ${bridge.pythonUs} us in Python per call`,
  );
  if (echoRun.ratio < 1 || irisRun.ratio < 1) {
    console.error("below the 1.0x floor");
    process.exitCode = 1;
  }
}

main().catch((error: Error) => {
  console.error(error.stack ?? error.message);
  process.exit(1);
});
