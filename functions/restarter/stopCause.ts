import type { ComputeClients } from "./computeClients";

/** Why the instance last stopped, as its zone operations tell it. */
export type StopCause = "preempted" | "planned" | "other" | "unknown";

/**
 * Operation types that stop an instance. A preemption is recorded as the system event
 * `compute.instances.preempted` (https://cloud.google.com/compute/docs/instances/spot#detect-preemption —
 * `gcloud compute operations list --filter="operationType=compute.instances.preempted"`); a stop that
 * someone asked for — `pulumi up` stopping the VM for an update (`allowStoppingForUpdate`), a
 * parked model, `gcloud compute instances stop` — is a `stop` (or `suspend`) operation; host errors
 * and a guest shutdown are system events of their own.
 */
const CAUSES: Record<string, StopCause> = {
  "compute.instances.preempted": "preempted",
  stop: "planned",
  suspend: "planned",
  "compute.instances.hostError": "other",
  "compute.instances.guestTerminate": "other",
  "compute.instances.terminateOnHostMaintenance": "other",
};

/**
 * Reads the instance's most recent stopping operation. Needs `compute.zoneOperations.list` on the
 * project; without it (or on any error) the cause is `unknown` and the restarter falls back to
 * starting the instance, as it did before it could tell.
 */
export async function lastStopCause(
  clients: ComputeClients,
  target: { project: string; zone: string },
  instanceId: string,
): Promise<{ cause: StopCause; at?: number; error?: string }> {
  try {
    const [operations] = await clients.operations.list(
      { ...target, filter: `targetId = "${instanceId}"`, maxResults: 100 },
      { autoPaginate: false },
    );
    const stops = operations
      .filter((operation) => operation.operationType && operation.operationType in CAUSES)
      .map((operation) => ({
        cause: CAUSES[operation.operationType as string],
        at: Date.parse(operation.insertTime ?? ""),
      }))
      .filter((stop) => Number.isFinite(stop.at))
      .sort((a, b) => b.at - a.at);
    return stops[0] ?? { cause: "unknown" };
  } catch (error) {
    return { cause: "unknown", error: (error as Error).message.split("\n")[0] };
  }
}
