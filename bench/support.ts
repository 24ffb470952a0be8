// Small helpers the benchmarks share.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { waitForEndpoint } from "../local/localVm";

export const ROOT = join(__dirname, "..");

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
export const seconds = (ms: number) => +(ms / 1000).toFixed(2);

/** Polls `url` until it answers 200; returns when it did. */
export const waitReady = (url: string, timeoutMs = 120_000) => waitForEndpoint(url, timeoutMs);

/**
 * The baseline both boot benchmarks compare against: the runtime started directly on the same
 * predictor, no boot path around it. Returns ms from spawn to ready.
 */
export async function directStartMs(predictor: string, port: number): Promise<number> {
  const started = Date.now();
  const child = spawn(
    process.execPath,
    [join(ROOT, "dist", "cli.js"), "serve", "--predictor", predictor, "--port", String(port), "--host", "127.0.0.1"],
    {
      env: { PATH: process.env.PATH, BUDGET_USERNAME: "u", BUDGET_PWD: "p", BUDGET_TOKEN: "k".repeat(32) },
      stdio: "ignore",
    },
  );
  try {
    await waitReady(`http://127.0.0.1:${port}/`);
    return Date.now() - started;
  } finally {
    child.kill("SIGKILL");
  }
}

export { freePort } from "../tests/support/freePort";
