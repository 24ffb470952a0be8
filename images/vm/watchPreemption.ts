import * as gcpMetadata from "gcp-metadata";

/**
 * Waits for the metadata key `instance/preempted` to turn TRUE — Google sets it as the preemption
 * begins, with the soft-off that runs the shutdown script (no earlier notice without the Beta
 * `scheduling.preemptionNoticeDuration`, which budgetml does not set) — using the metadata
 * server's wait-for-change, and returns when it comes. Transient metadata errors are retried; the
 * watch itself costs nothing while it waits.
 */
export function waitForPreemptionNotice(log: (message: string) => void): Promise<void> {
  return waitForPreempted(true, log);
}

/**
 * Waits until `instance/preempted` is FALSE again. On a VM that never happens before it stops
 * (the watcher then simply waits for power-off); the local cloud and the tests clear it to
 * preempt the same "VM" once more.
 */
export function waitForPreemptionCleared(log: (message: string) => void): Promise<void> {
  return waitForPreempted(false, log);
}

async function waitForPreempted(preempted: boolean, log: (message: string) => void): Promise<void> {
  // This only runs on the VM (or against the local metadata stand-in). Off GCE, gcp-metadata
  // gives up on every request after 3 s, which would end each long-poll early and look like a
  // failure; on GCE it waits as long as the server holds the request. Behave as on GCE.
  gcpMetadata.setGCPResidency(true);
  let waiting = false; // read once first: the flag may have changed before the watch began
  for (;;) {
    try {
      const params: Record<string, string> = waiting ? { wait_for_change: "true", timeout_sec: "3600" } : {};
      const value = String(await gcpMetadata.instance({ property: "preempted", params }));
      if ((value === "TRUE") === preempted) return;
      waiting = true;
    } catch (error) {
      log(`preemption watch: ${(error as Error).message}; retrying`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}
