import type { LocalModel } from "./localProgram";

/** Preempts the model's instance every `seconds` (never two at once), reporting each outage; returns the stop function. */
export function preemptOnTimer(model: LocalModel, seconds: number, report: (line: string) => void): () => void {
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    report(`budgetml local: preempting ${model.model}'s instance…`);
    model
      .preempt()
      .then(
        (ms) => report(`budgetml local: ${model.model} back after ${(ms / 1000).toFixed(1)} s`),
        (error: Error) => report(`budgetml local: ${error.message}`),
      )
      .finally(() => (busy = false));
  }, seconds * 1000);
  return () => clearInterval(timer);
}
