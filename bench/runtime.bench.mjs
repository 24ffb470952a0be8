// `npm run bench runtime` (or `npm run bench:quick`, the short mode to run before every change to
// runtime/): the runtime as users run it — default settings, 2 workers as on an e2-small — against
// a bare node:http server doing the same work with as many processes, and against the seed's
// server shape (FastAPI behind gunicorn with 2 uvicorn workers), all up at once and measured in
// alternating rounds with wrk (2 threads, 64 connections: the load of issue #19). Prints req/s,
// latency, the servers' CPU per request, and the ratios; exits 1 when a ratio misses its goal.
//
//   --short                 /predict_dict only, the defaults and the baselines, 2 rounds of 3 s (~30 s)
//   BENCH_SECONDS, BENCH_ROUNDS, BENCH_CONNECTIONS   override the run's shape
//   BENCH_COMPARE_DIST=DIR[,DIR…]  also measure the runtime built in each DIR (e.g. another worktree's dist/), defaults
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { treeCpuUs } from "./processTree.mjs";
import { ensureWrk, runWrk } from "./wrk.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
const short = process.argv.includes("--short");
const SECONDS = Number(process.env.BENCH_SECONDS ?? (short ? 3 : 5));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (short ? 2 : 3));
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const WORKERS = 2; // an e2-small has 2 vCPUs, and the runtime's default is one worker per core
const PYTHON = process.env.BENCH_PYTHON ?? "/usr/bin/python3"; // Debian's, with FastAPI, uvicorn, gunicorn
const GOALS = { fastapi: 3, bare: 0.5 }; // issue #19: the defaults >= 3x the seed's shape, >= 0.5x bare node:http
const scratch = mkdtempSync(join(tmpdir(), "budgetml-bench-"));

function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
    server.on("error", reject);
  });
}

async function waitUntil(check, what, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what}: not ready after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The runtime from `dist` (this tree's by default), `--workers 2`, only the credentials and `env` set. */
async function startRuntime(name, { dist = join(root, "dist"), env = {} } = {}) {
  const port = await freePort();
  const password = randomBytes(9).toString("hex");
  const child = spawn(
    process.execPath,
    [
      join(dist, "cli.js"),
      "serve",
      "--predictor",
      join(here, "fixtures", "echoPredictor.cjs"),
      "--port",
      String(port),
      "--host",
      "127.0.0.1",
      "--workers",
      String(WORKERS),
    ],
    {
      // Logs go where a VM's go, a pipe (journald there), drained here as fast as they come.
      env: {
        PATH: process.env.PATH,
        BUDGET_USERNAME: "bench",
        BUDGET_PWD: password,
        BUDGET_TOKEN: randomBytes(32).toString("hex"),
        ...env,
      },
      stdio: ["ignore", "pipe", "ignore"],
    },
  );
  child.stdout.resume();
  const url = `http://127.0.0.1:${port}`;
  await waitUntil(async () => (await fetch(`${url}/`)).status === 200, name);
  const login = await fetch(`${url}/token`, {
    method: "POST",
    body: new URLSearchParams({ username: "bench", password }),
  });
  return { name, url, token: (await login.json()).access_token, child };
}

/** bench/baselineServer.mjs in `WORKERS` processes sharing a port, as the runtime's workers do. */
async function startBare() {
  const port = await freePort();
  const token = randomBytes(24).toString("hex");
  const launcher = join(scratch, "bareCluster.cjs");
  writeFileSync(
    launcher,
    `const cluster = require("node:cluster");
if (cluster.isPrimary) {
  for (let i = 0; i < ${WORKERS}; i += 1) cluster.fork();
  process.on("SIGTERM", () => { for (const w of Object.values(cluster.workers)) w.kill(); process.exit(0); });
} else import(${JSON.stringify(join(here, "baselineServer.mjs"))});
`,
  );
  const child = spawn(process.execPath, [launcher], {
    env: { PATH: process.env.PATH, BASELINE_TOKEN: token, BASELINE_PORT: String(port) },
    stdio: "ignore",
  });
  const url = `http://127.0.0.1:${port}`;
  await waitUntil(
    async () => (await fetch(`${url}/predict_dict`, { method: "POST" })).status === 401,
    "bare node:http",
  );
  return { name: `bare node:http (${WORKERS} processes)`, url, token, child };
}

function hasFastapi() {
  try {
    execFileSync(PYTHON, ["-c", "import fastapi, uvicorn, gunicorn"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** The seed's server shape: bench/fixtures/fastapiServer.py on the Python echo predictor. */
async function startFastapi() {
  const port = await freePort();
  const token = randomBytes(24).toString("hex");
  const child = spawn(
    PYTHON,
    ["-m", "gunicorn", "-w", String(WORKERS), "-k", "uvicorn.workers.UvicornWorker", "-b", `127.0.0.1:${port}`].concat([
      "--log-level",
      "warning",
      "--chdir",
      join(here, "fixtures"),
      "fastapiServer:app",
    ]),
    {
      env: { PATH: process.env.PATH, BENCH_PREDICTOR: join(here, "fixtures", "echoPredictor.py"), BENCH_TOKEN: token },
      stdio: "ignore",
    },
  );
  const url = `http://127.0.0.1:${port}`;
  await waitUntil(async () => (await fetch(`${url}/predict_dict`, { method: "POST" })).status === 401, "FastAPI");
  return { name: `seed-style FastAPI (gunicorn, ${WORKERS} uvicorn workers)`, url, token, child };
}

function multipart(bytes) {
  const boundary = "----budgetmlbench";
  const head = `--${boundary}\r\nContent-Disposition: form-data; name="request"; filename="x.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`;
  return { body: head + bytes + `\r\n--${boundary}--\r\n`, contentType: `multipart/form-data; boundary=${boundary}` };
}

const CASES = {
  "/predict_dict": {
    body: JSON.stringify({ payload: { text: "a short sentence to classify", n: 3 } }),
    contentType: "application/json",
  },
  "/predict_image (1 MB)": multipart("x".repeat(1 << 20)),
};

/** One wrk run against `target`; req/s, p50/p99 in ms, and the server's CPU µs per request. */
async function measure(target, path, { body, contentType }, seconds) {
  const cpuBefore = treeCpuUs(target.child.pid);
  const run = await runWrk(`${target.url}${path.split(" ")[0]}`, {
    body,
    contentType,
    token: target.token,
    connections: CONNECTIONS,
    seconds,
  });
  const cpuUs = treeCpuUs(target.child.pid) - cpuBefore;
  if (run.non2xx > 0) throw new Error(`${target.name} ${path}: ${run.non2xx} of ${run.requests} answers were not 2xx`);
  return {
    rps: run.rps,
    p50: +run.p50.toFixed(1),
    p99: +run.p99.toFixed(1),
    cpuUsPerRequest: cpuUs / run.requests,
    socketErrors: run.socketErrors > 0 ? `${run.socketErrors}` : undefined,
  };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Every target up at once, measured in alternating rounds (A B C, C B A, …): on a shared machine
 * the load from elsewhere changes from second to second, and alternation spreads it over all.
 */
async function compare(targets, path) {
  for (const target of targets) await measure(target, path, CASES[path], 1); // warm-up: V8 optimises the hot path
  const rounds = [];
  for (let round = 0; round < ROUNDS; round += 1) {
    const results = {};
    for (const target of round % 2 === 0 ? targets : [...targets].reverse())
      results[target.name] = await measure(target, path, CASES[path], SECONDS);
    rounds.push(results);
  }
  const rows = targets.map(({ name }) => ({
    endpoint: path,
    server: name,
    "req/s": Math.round(median(rounds.map((r) => r[name].rps))),
    "per round": rounds.map((r) => Math.round(r[name].rps)).join(" / "),
    "p50 ms": median(rounds.map((r) => r[name].p50)),
    "p99 ms": median(rounds.map((r) => r[name].p99)),
    "CPU µs/req": Math.round(median(rounds.map((r) => r[name].cpuUsPerRequest))),
  }));
  const ratio = (a, b) => +median(rounds.map((r) => r[a].rps / r[b].rps)).toFixed(2);
  return { rows, ratio };
}

async function main() {
  ensureWrk();
  const compareDists = (process.env.BENCH_COMPARE_DIST ?? "")
    .split(",")
    .filter(Boolean)
    .map((dir) => resolve(dir));
  const fastapi = hasFastapi();
  const targets = [await startRuntime(`budgetml, defaults (${WORKERS} workers)`)];
  if (!short)
    targets.push(
      await startRuntime("budgetml, tuned: BUDGET_LOG_LEVEL=warn BUDGET_MAX_IN_FLIGHT=1000", {
        env: { BUDGET_LOG_LEVEL: "warn", BUDGET_MAX_IN_FLIGHT: "1000", BUDGET_MAX_QUEUED: "1000" },
      }),
    );
  const compared = [];
  for (const dist of compareDists) compared.push(await startRuntime(`budgetml from ${dist}, defaults`, { dist }));
  targets.push(...compared);
  const bare = await startBare();
  targets.push(bare);
  const seed = fastapi ? await startFastapi() : undefined;
  if (seed) targets.push(seed);
  const defaults = targets[0];
  const load = loadavg()[0];
  try {
    const dict = await compare(targets, "/predict_dict");
    const rows = [...dict.rows];
    const ratios = [
      { against: bare.name, ratio: dict.ratio(defaults.name, bare.name), goal: GOALS.bare },
      ...(seed ? [{ against: seed.name, ratio: dict.ratio(defaults.name, seed.name), goal: GOALS.fastapi }] : []),
      ...compared.map(({ name }) => ({ against: name, ratio: dict.ratio(defaults.name, name), goal: undefined })),
    ];
    if (!short) {
      const image = await compare([defaults, bare], "/predict_image (1 MB)");
      rows.push(...image.rows);
      ratios.push({
        against: `${bare.name}, /predict_image (1 MB)`,
        ratio: image.ratio(defaults.name, bare.name),
        goal: undefined,
      });
    }
    console.log(
      `${short ? "short mode: " : ""}wrk -t2 -c${CONNECTIONS}, ${ROUNDS} alternating rounds of ${SECONDS} s, echo predictor, bearer token; load average at the start ${load.toFixed(1)} on ${cpus().length} cores`,
    );
    console.table(rows);
    console.table(
      ratios.map(({ against, ratio, goal }) => ({
        "defaults req/s ÷": against,
        ratio,
        goal: goal === undefined ? "-" : `>= ${goal}`,
        met: goal === undefined ? "-" : ratio >= goal ? "yes" : "NO",
      })),
    );
    if (!seed)
      console.log(
        `(no FastAPI baseline: ${PYTHON} lacks fastapi/uvicorn/gunicorn; apt-get install python3-fastapi python3-uvicorn gunicorn)`,
      );
    const missed = ratios.filter(({ ratio, goal }) => goal !== undefined && ratio < goal);
    if (missed.length > 0) {
      console.error(
        `below goal against ${missed.map((m) => m.against).join(", ")}` +
          (load > 2 ? ` (the machine was busy: load average ${load.toFixed(1)}; run again when it is idle)` : ""),
      );
      process.exitCode = 1;
    }
  } finally {
    for (const target of targets) target.child.kill("SIGTERM");
    rmSync(scratch, { recursive: true, force: true });
  }
}

await main();
