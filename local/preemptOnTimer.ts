import type { LocalModel } from "./localProgram";

/**
 * Preempts the model's instance every `seconds` (never two at once), reporting each outage — or,
 * with replicas, one replica at a time and how long until its group is whole again; returns the
 * stop function.
 */
export function preemptOnTimer(model: LocalModel, seconds: number, report: (line: string) => void): () => void {
  let busy = false;
  let stopped = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    report(
      model.replicas === undefined
        ? `budgetml local: preempting ${model.model}'s instance…`
        : `budgetml local: preempting one of ${model.model}'s ${model.replicas} replicas (the others keep serving)…`,
    );
    model
      .preempt()
      .then(
        (ms) =>
          stopped ||
          report(
            model.replicas === undefined
              ? `budgetml local: ${model.model} back after ${(ms / 1000).toFixed(1)} s`
              : `budgetml local: ${model.model}'s group whole again after ${(ms / 1000).toFixed(1)} s`,
          ),
        // A preemption that the deployment's stop cut short is no news.
        (error: Error) => stopped || report(`budgetml local: ${error.message}`),
      )
      .finally(() => (busy = false));
  }, seconds * 1000);
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
