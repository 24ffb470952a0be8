/**
 * The restarter's whole policy, as one pure function of the instance's status: the Cloud Function
 * and the local deployment both act on what it says.
 */
export type RestartAction = "start" | "resume" | "wait" | "none";

export function decide(status: string): RestartAction {
  switch (status) {
    case "TERMINATED":
    case "STOPPED":
      return "start";
    case "SUSPENDED":
      return "resume";
    case "STOPPING":
    case "SUSPENDING":
      // The API refuses to start an instance that is still stopping: wait for it to settle.
      return "wait";
    default:
      // PROVISIONING, STAGING, RUNNING, REPAIRING: up or on its way up.
      return "none";
  }
}

/** Errors worth retrying: capacity, quota and rate limits, and the API's own transient failures. */
export function isTransient(error: { code?: number | string; reason?: string }): boolean {
  const code = Number(error.code);
  if (code === 429 || code >= 500) return true;
  return [
    "ZONE_RESOURCE_POOL_EXHAUSTED",
    "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS",
    "QUOTA_EXCEEDED",
    "resourceNotReady",
    "rateLimitExceeded",
  ].includes(String(error.reason ?? error.code));
}

/** Whether a stopped instance may be started: the restarter brings back preemptions, not planned stops. */
export type StartPermission = "start" | "parked" | "planned_stop";

/**
 * A parked model (`running: false`) is never started. A stop someone asked for (an update that
 * stops the VM, `gcloud … stop`) is left alone for `graceMs` — whoever stopped it starts it again
 * (the provider does after its update) — and only then counts as "should be running and is not".
 * A preemption, the restarter's own stop for a provisioning switch, a host error, or a cause the
 * restarter cannot read: start.
 */
export function mayStart(
  policy: { running: boolean; graceMs: number },
  stop: { cause: string; at?: number },
  now: number,
): StartPermission {
  if (!policy.running) return "parked";
  if (stop.cause === "planned" && stop.at !== undefined && now - stop.at < policy.graceMs) return "planned_stop";
  return "start";
}
