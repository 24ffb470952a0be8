// The load generator of the HTTP benchmarks: Debian's wrk, driven with a generated Lua script.
import { execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

/** wrk, installed with apt when missing and we are root. */
export function ensureWrk() {
  try {
    execFileSync("wrk", ["--version"], { stdio: "ignore" });
    return;
  } catch (error) {
    if (error.code !== "ENOENT") return; // wrk --version exits 1 after printing its version
  }
  if (process.getuid?.() !== 0) throw new Error("the benchmark needs wrk: apt-get install wrk");
  console.log("installing wrk with apt-get");
  execFileSync("apt-get", ["install", "-y", "-qq", "--no-install-recommends", "wrk"], {
    stdio: "inherit",
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
}

const scripts = mkdtempSync(join(tmpdir(), "budgetml-wrk-"));
const toMs = (value, unit) => Number(value) * { us: 0.001, ms: 1, s: 1000 }[unit];

/**
 * `connections` clients POSTing `body` with a bearer token to `url` for `seconds` (2 threads, 1 for
 * a single connection). Runs asynchronously, so the caller's event loop keeps draining the
 * servers' log pipes meanwhile, as journald drains them on a VM.
 */
export async function runWrk(url, { body, contentType, token, connections, seconds }) {
  const script = join(scripts, `${randomBytes(4).toString("hex")}.lua`);
  writeFileSync(
    script,
    `wrk.method = "POST"
wrk.body = ${JSON.stringify(body)}
wrk.headers["Content-Type"] = ${JSON.stringify(contentType)}
wrk.headers["Authorization"] = "Bearer ${token}"
`,
  );
  const { stdout: out } = await promisify(execFile)(
    "wrk",
    [`-t${Math.min(2, connections)}`, `-c${connections}`, `-d${seconds}s`, "--latency", "-s", script, url],
    { encoding: "utf8", maxBuffer: 1 << 20 },
  );
  const latency = (p) => {
    const [, value, unit] = new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s)`).exec(out);
    return +toMs(value, unit).toFixed(2);
  };
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]),
    p50: latency(50),
    p99: latency(99),
    requests: Number(/(\d+) requests in/.exec(out)[1]),
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
    socketErrors: socketErrors ? socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0,
  };
}
