import {
  FALLBACK_LABEL,
  inUtcWindow,
  PROVISIONING_LABEL,
  satisfies,
  switchTargetFor,
  type Provisioning,
  type SwitchTarget,
  type UtcWindow,
} from "../../contracts/scheduling";

/** What the instance looks like to the provisioning policy. */
export interface ProvisioningView {
  /** Running (serving, or on its way) or stopped (the restarter is about to start it). */
  status: "running" | "stopped";
  /** The model its scheduling describes now. */
  live: Provisioning;
  labels: Record<string, string>;
  lastStopTimestamp: string | undefined;
  /** Stopped by the restarter itself to switch it to this model (see stopCause.ts). */
  ownSwitchTo?: SwitchTarget;
}

export interface ProvisioningPolicy {
  /** The model the deployment declares (`provisioning`); unknown for a restarter deployed without it. */
  declared: Provisioning | undefined;
  /** Switch a spot instance to standard after it has been down this long for lack of capacity; 0 = never. */
  fallbackAfterMs: number;
  /** The least time on standard, after a fallback, before a return to spot is tried. */
  returnAfterMs: number;
  /** When a running fallback instance may be stopped to try spot again (UTC). */
  returnWindow: UtcWindow;
}

/**
 * A change of provisioning: to `to`, because spot capacity ran out (`no_spot_capacity`), to end a
 * fallback (`return`), or because the deployment declares another model (`declared`; when the
 * instance already runs as `to` — a fallback the declaration has overtaken — only its labels change).
 */
export interface ProvisioningMove {
  to: Provisioning;
  why: "no_spot_capacity" | "return" | "declared";
}

/**
 * The restarter's provisioning policy, as one pure decision:
 * - a stopped spot instance whose start just failed for lack of capacity goes to standard once the
 *   outage has lasted `fallbackAfterMs` — or at once when the restarter itself stopped it to switch
 *   it to spot (a return, or a declared change), so trying spot never costs more than one attempt;
 * - a fallback instance returns to spot once it has been on standard `returnAfterMs`: running, only
 *   inside the return window (the return is a stop and a start); stopped anyway, but never within
 *   the outage the fallback ended;
 * - an instance whose model does not serve the declared one is switched to it, running or stopped.
 */
export function provisioningMove(
  view: ProvisioningView,
  now: number,
  policy: ProvisioningPolicy,
  capacityFailure: boolean,
): ProvisioningMove | undefined {
  const since = view.labels[FALLBACK_LABEL] !== undefined ? Number(view.labels[FALLBACK_LABEL]) * 1000 : undefined;
  // A restarter deployed without a declaration keeps what it finds, and a fallback was from spot.
  const declared = policy.declared ?? (since !== undefined ? "spot" : view.live);
  if (since !== undefined && view.live === "standard" && declared !== "standard") {
    if (now - since < policy.returnAfterMs) return undefined;
    if (view.status === "running")
      return inUtcWindow(policy.returnWindow, now) ? { to: "spot", why: "return" } : undefined;
    const stoppedAt = view.lastStopTimestamp ? Date.parse(view.lastStopTimestamp) : undefined;
    return stoppedAt !== undefined && stoppedAt > since ? { to: "spot", why: "return" } : undefined;
  }
  if (view.status === "stopped" && view.live !== "standard" && capacityFailure && policy.fallbackAfterMs > 0) {
    const stoppedAt = view.lastStopTimestamp ? Date.parse(view.lastStopTimestamp) : now;
    if (view.ownSwitchTo === "spot" || now - stoppedAt >= policy.fallbackAfterMs)
      return { to: "standard", why: "no_spot_capacity" };
    return undefined;
  }
  if (!satisfies(view.live, declared)) return { to: switchTargetFor(declared), why: "declared" };
  if (since !== undefined) return { to: view.live, why: "declared" }; // a fallback the declaration has overtaken
  return undefined;
}

/** The labels an instance carries after `move`: what it runs as, and since when it runs on standard for lack of spot. */
export function labelsAfter(move: ProvisioningMove, labels: Record<string, string>, now: number) {
  const { [FALLBACK_LABEL]: _since, ...rest } = labels;
  return {
    ...rest,
    [PROVISIONING_LABEL]: move.to,
    ...(move.why === "no_spot_capacity" ? { [FALLBACK_LABEL]: String(Math.floor(now / 1000)) } : {}),
  };
}
