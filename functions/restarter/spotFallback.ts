import { schedulingFor } from "../../contracts/scheduling";

/** The label that marks an instance switched to standard provisioning, and since when (epoch s). */
export const FALLBACK_LABEL = "budgetml-fallback-since";

/** What the instance looks like to the fallback policy. */
export interface FallbackView {
  provisioningModel: string | undefined;
  labels: Record<string, string>;
  lastStopTimestamp: string | undefined;
}

export interface FallbackPolicy {
  /** Switch a spot instance to standard after it has been down this long for lack of capacity; 0 = never. */
  fallbackAfterMs: number;
  /** Return a switched instance to spot at its first stop after this long. */
  returnAfterMs: number;
}

/**
 * Issue 7's spot-capacity fallback, as a pure decision made while the instance is stopped:
 * `to_standard` when a spot start just failed for capacity and the outage has lasted long enough
 * (the endpoint comes back at the on-demand price instead of staying down); `to_spot` when a
 * switched instance is stopped again after the return delay.
 */
export function provisioningChange(
  view: FallbackView,
  now: number,
  policy: FallbackPolicy,
  capacityFailure: boolean,
): "to_standard" | "to_spot" | undefined {
  const stoppedAt = view.lastStopTimestamp ? Date.parse(view.lastStopTimestamp) : undefined;
  if (view.labels[FALLBACK_LABEL] !== undefined) {
    const since = Number(view.labels[FALLBACK_LABEL]) * 1000;
    // Only at a stop that came after the switch: never back to spot within the outage it ended.
    const stoppedSinceSwitch = stoppedAt !== undefined && stoppedAt > since;
    return stoppedSinceSwitch && now - since >= policy.returnAfterMs ? "to_spot" : undefined;
  }
  const down = stoppedAt !== undefined ? now - stoppedAt : 0;
  if (
    view.provisioningModel === "SPOT" &&
    policy.fallbackAfterMs > 0 &&
    capacityFailure &&
    down >= policy.fallbackAfterMs
  )
    return "to_standard";
  return undefined;
}

/** The scheduling and labels that carry out a change. */
export function applyChange(change: "to_standard" | "to_spot", labels: Record<string, string>, now: number) {
  const { [FALLBACK_LABEL]: _removed, ...rest } = labels;
  return change === "to_standard"
    ? { scheduling: schedulingFor("standard"), labels: { ...rest, [FALLBACK_LABEL]: String(Math.floor(now / 1000)) } }
    : { scheduling: schedulingFor("spot"), labels: rest };
}
