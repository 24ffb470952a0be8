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
  return ["ZONE_RESOURCE_POOL_EXHAUSTED", "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS", "QUOTA_EXCEEDED", "resourceNotReady", "rateLimitExceeded"].includes(
    String(error.reason ?? error.code),
  );
}
