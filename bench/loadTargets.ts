// Servers under load, for the benchmarks that compare several at once (python, batching): start
// `budgetml serve` (this build, or another one's CLI for a before/after), load one with wrk
// (bench/wrk.mjs), read its CPU from /proc (bench/processTree.mjs), measure them in alternating rounds.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { freePort, median, ROOT, waitReady } from "./support";

// Shared with the .mjs benchmarks: ES modules, so loaded with import() from this CommonJS one.
const processTree = import("./processTree.mjs");
const wrk = import("./wrk.mjs");

/** wrk, installed with apt when missing and we are root. */
export async function ensureWrk(): Promise<void> {
  (await wrk).ensureWrk();
}

/** CPU time (user + system, µs) used so far by `pid` and every process under it, from /proc. */
export async function treeCpuUs(pid: number): Promise<number> {
  return (await processTree).treeCpuUs(pid);
}

/** A server to load: where it answers, the bearer token it takes, its process (tree). */
export interface Target {
  name: string;
  url: string;
  token: string;
  child: ChildProcess;
}

/** One round of load on one target. */
export interface Measured {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** User + system CPU of the server's whole process tree per request. */
  cpuUsPerRequest: number;
  /** Answers other than 2xx, and socket errors. */
  failed: number;
}

/**
 * Starts `budgetml serve` on a free loopback port with the runtime's defaults: only what `env`
 * and `flags` set differs (label a run that sets any as tuned). `cli` is another build's
 * dist/cli.js, for a before/after in the same run. Resolves once the first worker answers.
 */
export async function startBudgetml(options: {
  name: string;
  predictor: string;
  cli?: string;
  env?: Record<string, string>;
  flags?: string[];
}): Promise<Target> {
  const env = {
    PATH: process.env.PATH,
    BUDGET_USERNAME: "bench",
    BUDGET_PWD: randomBytes(9).toString("hex"),
    BUDGET_TOKEN: randomBytes(32).toString("hex"),
    ...options.env,
  };
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      options.cli ?? join(ROOT, "dist", "cli.js"),
      "serve",
      "--predictor",
      options.predictor,
      "--port",
      String(port),
      "--host",
      "127.0.0.1",
      ...(options.flags ?? []),
    ],
    { env, stdio: ["ignore", "pipe", "pipe"] },
  );
  // Its log is read and dropped, as journald reads it on a VM: a log line per request costs what it costs there.
  child.stdout?.resume();
  child.stderr?.resume();
  const url = `http://127.0.0.1:${port}`;
  await waitReady(`${url}/`);
  const login = await fetch(`${url}/token`, {
    method: "POST",
    body: new URLSearchParams({ username: env.BUDGET_USERNAME, password: env.BUDGET_PWD }),
  });
  return { name: options.name, url, token: ((await login.json()) as { access_token: string }).access_token, child };
}

/**
 * Other builds to measure beside this one, from `BENCH_COMPARE="label=/path/to/dist/cli.js,…"`
 * (e.g. `main=…` for a before/after in the same run).
 */
export function otherBuilds(): Array<{ label: string; cli: string }> {
  return (process.env.BENCH_COMPARE ?? "")
    .split(",")
    .filter(Boolean)
    .map((entry) => {
      const at = entry.indexOf("=");
      if (at < 1) throw new Error(`BENCH_COMPARE: expected label=/path/to/dist/cli.js, got "${entry}"`);
      return { label: entry.slice(0, at), cli: entry.slice(at + 1) };
    });
}

/** Ends every target and waits for each to exit. */
export async function stopAll(targets: Target[]): Promise<void> {
  await Promise.all(
    targets.map(async (target) => {
      if (target.child.exitCode !== null || target.child.signalCode !== null) return;
      const exited = new Promise((resolve) => target.child.once("exit", resolve));
      target.child.kill("SIGTERM");
      await exited;
    }),
  );
}

/** `connections` clients POSTing `body` (JSON) to `path` for `seconds` (see bench/wrk.mjs). */
export async function load(
  target: Target,
  options: { path: string; body: string; connections: number; seconds: number },
): Promise<Measured> {
  const { runWrk } = await wrk;
  const { treeCpuUs } = await processTree;
  const cpuBefore = treeCpuUs(target.child.pid as number);
  const run = await runWrk(`${target.url}${options.path}`, {
    body: options.body,
    contentType: "application/json",
    token: target.token,
    connections: options.connections,
    seconds: options.seconds,
  });
  const cpuUs = treeCpuUs(target.child.pid as number) - cpuBefore;
  return {
    rps: run.rps,
    p50Ms: run.p50,
    p99Ms: run.p99,
    cpuUsPerRequest: run.requests > 0 ? cpuUs / run.requests : NaN,
    failed: run.non2xx + run.socketErrors,
  };
}

/**
 * Every target measured `rounds` times, in alternating order (A B C, C B A, …): on a shared
 * machine the load from elsewhere changes from second to second, and alternation spreads it over
 * all of them. Returns each target's rounds.
 */
export async function inRounds(targets: Target[], rounds: number, measure: (target: Target) => Promise<Measured>) {
  const results = new Map<string, Measured[]>(targets.map((target) => [target.name, []]));
  for (let round = 0; round < rounds; round += 1)
    for (const target of round % 2 === 0 ? targets : [...targets].reverse())
      results.get(target.name)?.push(await measure(target));
  return results;
}

/** The median of each figure over the rounds. */
export function medians(rounds: Measured[]): Measured {
  const of = (pick: (m: Measured) => number) => median(rounds.map(pick));
  return {
    rps: Math.round(of((m) => m.rps)),
    p50Ms: +of((m) => m.p50Ms).toFixed(2),
    p99Ms: +of((m) => m.p99Ms).toFixed(2),
    cpuUsPerRequest: Math.round(of((m) => m.cpuUsPerRequest)),
    failed: rounds.reduce((sum, m) => sum + m.failed, 0),
  };
}
