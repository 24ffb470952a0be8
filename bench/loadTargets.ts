// Servers under load, for the benchmarks that compare several at once (python, batching): start
// `budgetml serve` (this build, or another one's CLI for a before/after), load one with wrk, read
// its CPU from /proc, and measure them in alternating rounds.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, median, ROOT, waitReady } from "./support";

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
    { env, stdio: "ignore" },
  );
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

const TICK_US = 1_000_000 / 100; // /proc's clock ticks: USER_HZ is 100 on Linux

/** CPU time (user + system, µs) used so far by `pid` and every process under it, from /proc. */
export function treeCpuUs(pid: number): number {
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
  const tree = new Set([pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [child, { ppid }] of stats)
      if (tree.has(ppid) && !tree.has(child)) {
        tree.add(child);
        grew = true;
      }
  }
  let total = 0;
  for (const member of tree) total += stats.get(member)?.ticks ?? 0;
  return total * TICK_US;
}

/** wrk, installed with apt when missing and we are root. */
export function ensureWrk(): void {
  try {
    execFileSync("wrk", ["--version"], { stdio: "ignore" });
  } catch (error) {
    // wrk --version exits 1 after printing its version; only a missing binary is ENOENT.
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") return;
    if (process.getuid?.() !== 0) throw new Error("the benchmark needs wrk (apt-get install wrk)");
    console.log("installing wrk with apt-get");
    execFileSync("apt-get", ["install", "-y", "-qq", "--no-install-recommends", "wrk"], {
      stdio: "inherit",
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    });
  }
}

const scripts = mkdtempSync(join(tmpdir(), "budgetml-bench-"));

/** `connections` clients POSTing `body` (JSON) to `path` for `seconds`, with wrk's 2 threads (1 for a single connection). */
export function load(
  target: Target,
  options: { path: string; body: string; connections: number; seconds: number },
): Measured {
  const script = join(scripts, `${randomBytes(4).toString("hex")}.lua`);
  writeFileSync(
    script,
    [
      'wrk.method = "POST"',
      `wrk.body = ${JSON.stringify(options.body)}`,
      'wrk.headers["Content-Type"] = "application/json"',
      `wrk.headers["Authorization"] = "Bearer ${target.token}"`,
    ].join("\n"),
  );
  const cpuBefore = treeCpuUs(target.child.pid as number);
  const output = execFileSync(
    "wrk",
    [
      `-t${Math.min(2, options.connections)}`,
      `-c${options.connections}`,
      `-d${options.seconds}s`,
      "--latency",
      "-s",
      script,
      `${target.url}${options.path}`,
    ],
    { encoding: "utf8" },
  );
  const requests = Number(/(\d+) requests in/.exec(output)?.[1] ?? 0);
  const cpuUs = treeCpuUs(target.child.pid as number) - cpuBefore;
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(output)?.[1] ?? 0),
    p50Ms: latencyMs(output, "50%"),
    p99Ms: latencyMs(output, "99%"),
    cpuUsPerRequest: requests > 0 ? cpuUs / requests : NaN,
    failed:
      Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0) +
      (socketErrors ? socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0),
  };
}

function latencyMs(output: string, percentile: string): number {
  const match = new RegExp(`^\\s+${percentile}\\s+([\\d.]+)(us|ms|s)\\s*$`, "m").exec(output);
  if (!match) return NaN;
  const value = Number(match[1]);
  return match[2] === "us" ? value / 1000 : match[2] === "s" ? value * 1000 : value;
}

/**
 * Every target measured `rounds` times, in alternating order (A B C, C B A, …): on a shared
 * machine the load from elsewhere changes from second to second, and alternation spreads it over
 * all of them. Returns each target's rounds.
 */
export function inRounds(targets: Target[], rounds: number, measure: (target: Target) => Measured) {
  const results = new Map<string, Measured[]>(targets.map((target) => [target.name, []]));
  for (let round = 0; round < rounds; round += 1)
    for (const target of round % 2 === 0 ? targets : [...targets].reverse())
      results.get(target.name)?.push(measure(target));
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
