/**
 * Cloud Run functions' Node.js runtimes and their lifecycle dates, so `pulumi preview` (and the
 * local deployment) refuse a runtime Google no longer deploys instead of failing mid-`pulumi up`.
 *
 * Source: Google's "Cloud Run functions runtimes" support schedule,
 * https://cloud.google.com/run/docs/runtimes/function-runtimes (Node.js table, read 2026-11-25).
 * After a runtime's decommission date Google allows no creation and no redeployment; during its
 * deprecation period deploys still work. Update this table when Google publishes new dates.
 */
export const FUNCTION_RUNTIMES_SOURCE = "https://cloud.google.com/run/docs/runtimes/function-runtimes";

export interface FunctionRuntime {
  /** Runtime id as `buildConfig.runtime` takes it. */
  id: string;
  /** The Node.js major version, for esbuild's target. */
  nodeMajor: number;
  /** First day of the deprecation period (deploys still allowed), YYYY-MM-DD; undefined = not scheduled. */
  deprecation?: string;
  /** From this day on Google refuses to create or redeploy a function on it, YYYY-MM-DD. */
  decommission?: string;
  /** Preview runtimes are not GA: refused here so a production restarter never depends on one. */
  preview?: boolean;
}

export const FUNCTION_RUNTIMES: readonly FunctionRuntime[] = [
  { id: "nodejs26", nodeMajor: 26, preview: true },
  { id: "nodejs24", nodeMajor: 24, deprecation: "2028-04-30", decommission: "2028-10-31" },
  { id: "nodejs22", nodeMajor: 22, deprecation: "2027-04-30", decommission: "2027-10-31" },
  { id: "nodejs20", nodeMajor: 20, deprecation: "2026-04-30", decommission: "2026-10-30" },
  { id: "nodejs18", nodeMajor: 18, deprecation: "2025-04-30", decommission: "2025-10-30" },
  { id: "nodejs16", nodeMajor: 16, deprecation: "2024-01-30", decommission: "2025-01-30" },
];

/** The restarter's runtime: the newest GA Node.js runtime. */
export const RESTARTER_RUNTIME = "nodejs24";

/** Warn this many days before a runtime's decommission date. */
export const RUNTIME_WARNING_DAYS = 180;

const DAY_MS = 86_400_000;

/** What deploying on a runtime means on a given day. */
export type RuntimeVerdict = { ok: true; runtime: FunctionRuntime; warning?: string } | { ok: false; error: string };

/**
 * Whether Google would deploy a function on `runtimeId` at `now`. Refusals use the words of
 * Google's own error ("Runtime nodejs20 is decommissioned and no longer allowed. …"), so the
 * local stand-ins can answer exactly as Cloud Functions does.
 */
export function checkFunctionRuntime(runtimeId: string, now: Date = new Date()): RuntimeVerdict {
  const runtime = FUNCTION_RUNTIMES.find((r) => r.id === runtimeId);
  const supported = FUNCTION_RUNTIMES.filter(
    (r) => !r.preview && (!r.decommission || Date.parse(r.decommission) > now.getTime()),
  ).map((r) => r.id);
  if (!runtime)
    return {
      ok: false,
      error: `Runtime ${runtimeId} is not supported by budgetml's restarter; supported: ${supported.join(", ")} (${FUNCTION_RUNTIMES_SOURCE})`,
    };
  if (runtime.preview)
    return { ok: false, error: `Runtime ${runtimeId} is in Preview; use a GA runtime: ${supported.join(", ")}` };
  if (runtime.decommission && Date.parse(runtime.decommission) <= now.getTime()) {
    return {
      ok: false,
      error: `Runtime ${runtimeId} is decommissioned and no longer allowed (since ${runtime.decommission}). Please use the latest Node.js runtime for Cloud Functions: ${supported[0]} (${FUNCTION_RUNTIMES_SOURCE})`,
    };
  }
  if (runtime.decommission) {
    const daysLeft = Math.ceil((Date.parse(runtime.decommission) - now.getTime()) / DAY_MS);
    if (daysLeft <= RUNTIME_WARNING_DAYS) {
      return {
        ok: true,
        runtime,
        warning: `Runtime ${runtimeId} is decommissioned on ${runtime.decommission} (in ${daysLeft} days); after that Google refuses to redeploy the restarter. Move to ${supported[0]} (${FUNCTION_RUNTIMES_SOURCE})`,
      };
    }
  }
  return { ok: true, runtime };
}

/** esbuild's target for code that runs on a function runtime (the restarter source). */
export function esbuildTargetFor(runtimeId: string): string {
  const runtime = FUNCTION_RUNTIMES.find((r) => r.id === runtimeId);
  if (!runtime) throw new Error(`unknown function runtime ${runtimeId}`);
  return `node${runtime.nodeMajor}`;
}
