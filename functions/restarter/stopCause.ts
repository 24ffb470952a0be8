import type { SwitchTarget } from "../../contracts/scheduling";
import type { ComputeClients } from "./computeClients";
import { switchRequestId } from "./requestIds";

/** Why the instance last stopped, as its zone operations tell it. */
export type StopCause = "preempted" | "planned" | "switch" | "other" | "unknown";

/** The instance's most recent stop: its cause, when, and — for the restarter's own switch — to what. */
export interface LastStop {
  cause: StopCause;
  at?: number;
  /** With `switch`: the model the restarter stopped the instance to switch it to. */
  switchTo?: SwitchTarget;
  error?: string;
}

/**
 * Operation types that stop an instance. A preemption is recorded as the system event
 * `compute.instances.preempted` (https://cloud.google.com/compute/docs/instances/spot#detect-preemption —
 * `gcloud compute operations list --filter="operationType=compute.instances.preempted"`); a stop that
 * someone asked for — `pulumi up` stopping the VM for an update (`allowStoppingForUpdate`), a
 * parked model, `gcloud compute instances stop` — is a `stop` (or `suspend`) operation; host errors
 * and a guest shutdown are system events of their own.
 */
const CAUSES: Record<string, Exclude<StopCause, "switch" | "unknown">> = {
  "compute.instances.preempted": "preempted",
  stop: "planned",
  suspend: "planned",
  "compute.instances.hostError": "other",
  "compute.instances.guestTerminate": "other",
  "compute.instances.terminateOnHostMaintenance": "other",
};

/** Operations read per page, newest first; the newest stop is almost always on the first. */
const PAGE_SIZE = 50;
/** How far back to look before giving up (the cause is then unknown, and the instance is started). */
const MAX_SCANNED = 500;

/**
 * Reads the instance's most recent stopping operation: newest first (`orderBy="creationTimestamp
 * desc"` — by default the API lists in alphanumerical order of the operation's name, so after a
 * long history the first page would hold the oldest operations), page after page until a stop is
 * found or {@link MAX_SCANNED} operations were read. A `stop` carrying one of the restarter's own
 * switch request ids is that switch, not a planned stop. Needs `compute.zoneOperations.list` on the
 * project; without it (or on any error) the cause is `unknown` and the restarter starts the
 * instance, as it did before it could tell.
 */
export async function lastStopCause(
  clients: ComputeClients,
  target: { project: string; zone: string },
  instance: { id: string; lastStartTimestamp?: string },
): Promise<LastStop> {
  const ownSwitch = (clientOperationId: string | null | undefined) =>
    (["spot", "standard"] as const).find(
      (to) => clientOperationId && switchRequestId(instance.id, instance.lastStartTimestamp, to) === clientOperationId,
    );
  try {
    let scanned = 0;
    const operations = clients.operations.listAsync(
      { ...target, filter: `targetId = "${instance.id}"`, orderBy: "creationTimestamp desc", maxResults: PAGE_SIZE },
      { autoPaginate: false }, // an async iterator fetches page after page as it is read
    );
    for await (const operation of operations) {
      if (++scanned > MAX_SCANNED) break;
      const cause = CAUSES[operation.operationType ?? ""];
      const at = Date.parse(operation.insertTime ?? "");
      if (!cause || !Number.isFinite(at)) continue;
      const switchTo = cause === "planned" ? ownSwitch(operation.clientOperationId) : undefined;
      return switchTo ? { cause: "switch", at, switchTo } : { cause, at };
    }
    return { cause: "unknown" };
  } catch (error) {
    return { cause: "unknown", error: (error as Error).message.split("\n")[0] };
  }
}
