import { join } from "node:path";

/**
 * Which build of the runtime the `serve` process tests start: "bundle" (the default) runs
 * `server.cjs` from the runtime bundle exactly as the VM starts it, extracted far from any
 * node_modules by the global setup; `BUDGET_TEST_RUNTIME=source` compiles `runtime/cli/main.ts`
 * on the fly instead, to debug a change without reading a bundle's stack traces.
 */
export type RuntimeTarget = "source" | "bundle";

export const RUNTIME_TARGET: RuntimeTarget = process.env.BUDGET_TEST_RUNTIME === "source" ? "source" : "bundle";

const ROOT = join(__dirname, "..", "..");

/** The command (after `node`) that runs the runtime's `serve` for the current target. */
export function serveCommand(): { args: string[]; cwd: string } {
  if (RUNTIME_TARGET === "source")
    return { args: [join(ROOT, "scripts", "runTs.cjs"), join(ROOT, "runtime", "cli", "main.ts"), "serve"], cwd: ROOT };
  const dir = process.env.BUDGET_TEST_RUNTIME_DIR;
  if (!dir)
    throw new Error(
      "BUDGET_TEST_RUNTIME_DIR is unset: run the tests through `npm test` or `npm run jest` (jest.config.js builds the bundle)",
    );
  return { args: [join(dir, "server.cjs"), "serve"], cwd: dir };
}
