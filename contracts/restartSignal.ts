// The contract of the restart topic's messages: the VM signals a preemption (images/vm/boot.ts, on
// its way down), the scheduler job ticks (components/restarter.ts), and the restarter
// (functions/restarter/index.ts) reads which one woke it. Every message leads to the same check of
// the instance; the reason is what the restarter logs as its trigger.

/** Why a message was published. */
export type RestartReason = "preempted" | "tick";

/** A message on the restart topic: the reason as its body and as its `reason` attribute. */
export function restartSignal(reason: RestartReason): { data: string; attributes: { reason: RestartReason } } {
  return { data: reason, attributes: { reason } };
}

/** What woke the restarter, from a message's attributes: a message without a reason counts as a tick. */
export function restartReasonOf(attributes: Record<string, string> | undefined): string {
  return attributes?.reason ?? "tick";
}
