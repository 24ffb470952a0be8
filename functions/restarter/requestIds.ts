import { createHash } from "node:crypto";
import type { SwitchTarget } from "../../contracts/scheduling";

/** A UUID-shaped id derived from `seed`: the form the Compute API takes as `requestId`. */
function uuidFrom(seed: string): string {
  const hex = createHash("sha256").update(seed).digest("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${((parseInt(hex[16], 16) & 3) | 8).toString(16)}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/**
 * The request id for the n-th start attempt of one outage. The Compute API executes a mutating call
 * once per request id, so every invocation that sees the same outage (same instance, same
 * `lastStopTimestamp`) walks the same sequence of ids: concurrent invocations — a scheduler tick
 * and a shutdown signal, in different function instances — can never start the instance twice.
 */
export function outageRequestId(instanceId: string, lastStopTimestamp: string, attempt: number): string {
  return uuidFrom(`${instanceId}/${lastStopTimestamp}/${attempt}`);
}

/**
 * The request id of the stop that begins a switch of a running instance to `target`. Google keeps
 * a request id on the operation as `clientOperationId` ("The value of requestId if you provided it
 * in the request", Operation in the Compute API's discovery document), so the next invocation can
 * tell this stop from one someone asked for, and finish the switch instead of leaving the instance
 * stopped. Until the instance starts again its `lastStartTimestamp` ("Last start timestamp in
 * RFC3339 text format", Instance in the same document) is the same, and so is the id: two
 * invocations deciding the same switch stop the instance once.
 */
export function switchRequestId(instanceId: string, lastStartTimestamp: string | undefined, target: SwitchTarget) {
  return uuidFrom(`switch/${instanceId}/${lastStartTimestamp ?? "never-started"}/${target}`);
}
