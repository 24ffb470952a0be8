// Overload, as a security review measured it: 300 clients hammer a 400 ms model with the default
// settings and the workers a VM runs (2 workers × 4 in flight: capacity 20 predictions/s).
// Admission bounds the expected queue wait (1 s by default, counted from each request's arrival):
// past it, requests are refused with 503 + Retry-After. The baseline is the same runtime bounding
// only the queue's length (64). Reports the accepted requests' latency (goal: p99 <= 2 s with the
// defaults), the shed rate (503s among all answers), whether health kept answering, and peak
// memory. Clients honour Retry-After. BENCH_COMPARE_DIST=DIR also runs the defaults of the runtime
// built in DIR (e.g. another worktree's dist/).
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Agent, request } from "undici";
import { treePeakRssKb } from "./processTree.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 300);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const MODEL_MS = Number(process.env.BENCH_PREDICT_MS ?? 400);
const WORKERS = 2; // an e2-small's vCPUs: the runtime's default of one worker per core
const P99_GOAL_MS = 2000;

async function run(label, bounds, dist = join(here, "..", "dist")) {
  const env = {
    ...process.env,
    BUDGET_USERNAME: "bench",
    BUDGET_PWD: "pw-" + randomBytes(6).toString("hex"),
    BUDGET_TOKEN: randomBytes(32).toString("hex"),
    BENCH_PREDICT_MS: String(MODEL_MS),
    ...bounds,
  };
  const child = spawn(
    process.execPath,
    [
      join(dist, "cli.js"),
      "serve",
      "--predictor",
      join(here, "fixtures", "slowPredictor.cjs"),
      "--port",
      "0",
      "--workers",
      String(WORKERS),
    ],
    { env, stdio: ["ignore", "ignore", "pipe"] },
  );
  const url = await new Promise((resolve, reject) => {
    let err = "";
    child.stderr.on("data", (d) => {
      err += d;
      const m = /serving http:\/\/localhost:(\d+)/.exec(err);
      if (m) resolve(`http://127.0.0.1:${m[1]}`);
    });
    child.on("exit", (code) => reject(new Error(`exited ${code}: ${err}`)));
  });
  while ((await fetch(`${url}/`).catch(() => ({ status: 0 }))).status !== 200)
    await new Promise((r) => setTimeout(r, 50));
  const token = (
    await (
      await fetch(`${url}/token`, {
        method: "POST",
        body: new URLSearchParams({ username: "bench", password: env.BUDGET_PWD }),
      })
    ).json()
  ).access_token;
  const dispatcher = new Agent({ connections: CLIENTS + 10, pipelining: 1 });
  const accepted = [];
  let refused = 0;
  let servedInWindow = 0;
  let failed = 0;
  let healthChecks = 0;
  let healthSlowest = 0;
  const deadline = Date.now() + SECONDS * 1000;
  const client = async () => {
    while (Date.now() < deadline) {
      const started = performance.now();
      try {
        const response = await request(`${url}/predict_dict`, {
          method: "POST",
          dispatcher,
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: '{"payload":{}}',
          headersTimeout: 120_000,
          bodyTimeout: 120_000,
        });
        await response.body.text();
        if (response.statusCode === 200) {
          accepted.push(performance.now() - started);
          if (Date.now() <= deadline) servedInWindow += 1;
        } else if (response.statusCode === 503) {
          refused += 1;
          await new Promise((r) => setTimeout(r, Number(response.headers["retry-after"] ?? 1) * 1000));
        } // a well-behaved client
        else failed += 1;
      } catch {
        failed += 1;
      }
    }
  };
  const health = async () => {
    while (Date.now() < deadline) {
      const started = performance.now();
      await request(`${url}/`, { dispatcher })
        .then((r) => r.body.text())
        .catch(() => undefined);
      healthChecks += 1;
      healthSlowest = Math.max(healthSlowest, performance.now() - started);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  await Promise.all([...Array.from({ length: CLIENTS }, client), health()]);
  const peakKb = treePeakRssKb(child.pid);
  child.kill("SIGKILL");
  await dispatcher.close();
  accepted.sort((a, b) => a - b);
  const pct = (p) => Math.round(accepted[Math.min(accepted.length - 1, Math.floor(accepted.length * p))] ?? NaN);
  const shed = refused / Math.max(1, refused + accepted.length);
  return {
    run: label,
    "served/s": Math.round((servedInWindow / SECONDS) * 10) / 10,
    accepted: accepted.length,
    "503s": refused,
    "shed %": Math.round(shed * 1000) / 10,
    failed,
    "p50 ms": pct(0.5),
    "p99 ms": pct(0.99),
    "max ms": Math.round(accepted.at(-1) ?? NaN),
    "health checks": healthChecks,
    "slowest health ms": Math.round(healthSlowest),
    "peak RSS MB (all processes)": Math.round(peakKb / 1024),
  };
}

const rows = [
  await run("defaults (wait bound 1 s; 4 in flight, 64 queued per worker)", {}),
  await run("baseline: count bound only (4 in flight, 64 queued per worker)", { BUDGET_MAX_QUEUE_WAIT_MS: "3600000" }),
];
if (process.env.BENCH_COMPARE_DIST)
  rows.push(
    await run(`defaults of the runtime in ${process.env.BENCH_COMPARE_DIST}`, {}, process.env.BENCH_COMPARE_DIST),
  );
console.log(
  `${CLIENTS} clients for ${SECONDS} s against a ${MODEL_MS} ms model, ${WORKERS} workers (capacity ${Math.round((WORKERS * 4 * 1000) / MODEL_MS)} predictions/s)`,
);
console.table(rows);
const p99 = rows[0]["p99 ms"];
console.log(`defaults: accepted p99 ${p99} ms (goal <= ${P99_GOAL_MS} ms)`);
if (!(p99 <= P99_GOAL_MS)) process.exitCode = 1;
