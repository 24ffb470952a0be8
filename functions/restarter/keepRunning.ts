import { createHash } from "node:crypto";
import type { Logger } from "../../runtime/logger";
import { systemClock, type Clock } from "./clock";
import type { ComputeClients } from "./computeClients";
import type { RestarterConfig } from "./config";
import { decide, isTransient, mayStart } from "./decide";
import { lastStopCause } from "./stopCause";
import { applyChange, FALLBACK_LABEL, provisioningChange } from "./spotFallback";

/** What one invocation saw, did, and how long it took. */
export interface RestartOutcome {
  saw: string;
  did: "nothing" | "started" | "resumed" | "gave_up" | "failed_permanently" | "parked" | "left_stopped";
  /** Set when this invocation switched the instance's provisioning (the spot-capacity fallback). */
  switched?: "to_standard" | "to_spot";
  attempts: number;
  ms: number;
  error?: string;
}

interface ApiError {
  code?: number | string;
  reason?: string;
  message: string;
}

const MAX_BACKOFF_MS = 16_000;

/**
 * The request id for the n-th start attempt of one outage. The Compute API executes a mutating call
 * once per request id, so every invocation that sees the same outage (same instance, same
 * `lastStopTimestamp`) walks the same sequence of ids: concurrent invocations — a scheduler tick
 * and a shutdown signal, in different function instances — can never start the instance twice.
 */
export function outageRequestId(instanceId: string, lastStopTimestamp: string, attempt: number): string {
  const hex = createHash("sha256").update(`${instanceId}/${lastStopTimestamp}/${attempt}`).digest("hex");
  // Shaped as a UUID, which is what the API accepts as requestId.
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${((parseInt(hex[16], 16) & 3) | 8).toString(16)}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/**
 * Reads the instance, decides, acts, and retries transient failures while the budget allows.
 * `clock` times the budget, the backoff and the fallback and grace delays. @default the system clock
 */
export async function keepInstanceRunning(
  clients: ComputeClients,
  config: RestarterConfig,
  logger: Logger,
  clock: Clock = systemClock,
): Promise<RestartOutcome> {
  const started = clock.now();
  // Whether an operation predates this invocation (a replay) is judged in wall-clock time, as Google
  // stamps operations: a clock moved ahead would take every fresh operation for an old one.
  const invokedAt = Date.now();
  const deadline = started + config.budgetMs;
  const { pollMs } = config;
  let { backoffMs } = config;
  const target = { project: config.project, zone: config.zone, instance: config.instance };
  let attempts = 0;
  let saw = "UNKNOWN";
  let capacityFailure = false;
  let switched: RestartOutcome["switched"];
  const finish = (did: RestartOutcome["did"], error?: string): RestartOutcome => {
    const outcome = {
      saw,
      did,
      attempts,
      ms: clock.now() - started,
      ...(error ? { error } : {}),
      ...(switched ? { switched } : {}),
    };
    const line = { ...outcome, instance: config.instance, zone: config.zone };
    if (did === "failed_permanently") logger.error(line, `restarter: cannot restart ${config.instance}: ${error}`);
    else if (did === "gave_up")
      logger.warn(line, `restarter: ${config.instance} still down after ${attempts} attempt(s); the next tick retries`);
    else if (did === "parked")
      logger.info(line, `restarter: ${config.instance} is parked (running: false); left ${saw}`);
    else if (did === "left_stopped")
      logger.info(
        line,
        `restarter: ${config.instance} was stopped on purpose (a stop operation, not a preemption); left ${saw}`,
      );
    else logger.info(line, `restarter: ${config.instance} was ${saw}, ${did}`);
    return outcome;
  };

  for (;;) {
    let instance;
    try {
      [instance] = await clients.instances.get(target);
    } catch (error) {
      const failure = describe(error);
      if (!isTransient(failure) || clock.now() + backoffMs > deadline)
        return finish(isTransient(failure) ? "gave_up" : "failed_permanently", failure.message);
      await clock.sleep(backoffMs);
      continue;
    }
    saw = instance.status ?? "UNKNOWN";
    const action = decide(saw);
    if (action === "none") return finish("nothing");
    if (!config.running) return finish("parked");
    if (action !== "wait" && attempts === 0 && !switched) {
      // Only a preemption (or a VM that should be running and is not) is brought back.
      const stop = await lastStopCause(clients, target, String(instance.id));
      if (stop.error)
        logger.warn(
          { instance: config.instance, error: stop.error },
          `restarter: cannot read why ${config.instance} stopped (${stop.error}); starting it`,
        );
      if (
        mayStart({ running: config.running, graceMs: config.plannedStopGraceMs }, stop, clock.now()) === "planned_stop"
      )
        return finish("left_stopped");
    }
    if (action === "wait") {
      if (clock.now() + pollMs > deadline) return finish("gave_up", `instance still ${saw}`);
      await clock.sleep(pollMs);
      continue;
    }

    if (action === "start" && !switched) {
      const view = {
        provisioningModel: instance.scheduling?.provisioningModel ?? undefined,
        labels: (instance.labels ?? {}) as Record<string, string>,
        lastStopTimestamp: instance.lastStopTimestamp ?? undefined,
      };
      const change = provisioningChange(view, clock.now(), config, capacityFailure);
      if (change) {
        const failure = await switchProvisioning(
          clients,
          target,
          change,
          view.labels,
          instance.labelFingerprint ?? undefined,
          { deadline, clock },
        );
        if (failure)
          logger.error(
            { instance: config.instance, change, error: failure.message },
            `restarter: could not switch provisioning (${change}): ${failure.message}`,
          );
        else {
          switched = change;
          logger.warn(
            { instance: config.instance, change, label: FALLBACK_LABEL },
            change === "to_standard"
              ? `restarter: no spot capacity for ${Math.round(config.fallbackAfterMs / 60000)} min; ${config.instance} now starts as STANDARD (on-demand price)`
              : `restarter: returning ${config.instance} to SPOT`,
          );
          continue; // re-read: the fingerprint and scheduling changed
        }
      }
    }

    attempts += 1;
    const requestId = outageRequestId(String(instance.id), instance.lastStopTimestamp ?? "never-stopped", attempts);
    logger.info(
      { instance: config.instance, status: saw, action, attempt: attempts, requestId },
      `restarter: ${action} ${config.instance} (was ${saw})`,
    );
    const { failure, replayed } = await act(clients, target, action, requestId, { deadline, clock }, invokedAt);
    if (!failure) return finish(action === "start" ? "started" : "resumed");
    if (!isTransient(failure)) return finish("failed_permanently", failure.message);
    capacityFailure = /RESOURCE_POOL_EXHAUSTED|STOCKOUT/.test(String(failure.reason));
    // An earlier invocation already made (and failed) this attempt: go straight to the next id.
    if (replayed) continue;
    logger.warn(
      {
        instance: config.instance,
        attempt: attempts,
        code: failure.code,
        reason: failure.reason,
        error: failure.message,
      },
      `restarter: ${action} failed (${failure.reason ?? failure.code}); retrying in ${backoffMs} ms`,
    );
    if (clock.now() + backoffMs > deadline) return finish("gave_up", failure.message);
    await clock.sleep(backoffMs);
    backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS);
  }
}

/**
 * Calls start/resume and waits for its operation. `replayed` says the API answered with an
 * operation created before this invocation began: the same request id was used by an earlier one.
 */
async function act(
  clients: ComputeClients,
  target: { project: string; zone: string; instance: string },
  action: "start" | "resume",
  requestId: string,
  budget: Budget,
  invokedAt: number,
): Promise<{ failure?: ApiError; replayed?: boolean }> {
  try {
    const [operation] = await (action === "start"
      ? clients.instances.start({ ...target, requestId })
      : clients.instances.resume({ ...target, requestId }));
    const latest = operation.latestResponse as OperationView;
    const replayed = latest.insertTime !== undefined && Date.parse(latest.insertTime) < invokedAt;
    const failure = await settle(clients, target, latest, budget);
    return failure ? { failure, replayed } : {};
  } catch (error) {
    return { failure: describe(error) };
  }
}

/** When an invocation must have finished, on its clock. */
type Budget = { deadline: number; clock: Clock };

type OperationView = {
  name?: string;
  status?: string;
  insertTime?: string;
  error?: { errors?: Array<{ code?: string; message?: string }> };
};

/** Waits for a zone operation to finish (within the budget); returns its error, if any. */
async function settle(
  clients: ComputeClients,
  target: { project: string; zone: string },
  operation: OperationView,
  { deadline, clock }: Budget,
): Promise<ApiError | undefined> {
  let latest = operation;
  while (latest.status !== "DONE" && clock.now() < deadline) {
    const [next] = await clients.operations.wait({
      project: target.project,
      zone: target.zone,
      operation: latest.name,
    });
    latest = next as OperationView;
  }
  const error = latest.error?.errors?.[0];
  if (error) return { code: error.code, reason: error.code, message: `${error.code}: ${error.message}` };
  if (latest.status !== "DONE")
    return { code: 503, reason: "operationPending", message: `operation ${latest.name} still ${latest.status}` };
  return undefined;
}

/** Sets the scheduling and the fallback label of the stopped instance; returns the failure, if any. */
async function switchProvisioning(
  clients: ComputeClients,
  target: { project: string; zone: string; instance: string },
  change: "to_standard" | "to_spot",
  labels: Record<string, string>,
  labelFingerprint: string | undefined,
  budget: Budget,
): Promise<ApiError | undefined> {
  const wanted = applyChange(change, labels, budget.clock.now());
  try {
    for (const call of [
      () => clients.instances.setScheduling({ ...target, schedulingResource: wanted.scheduling }),
      () =>
        clients.instances.setLabels({
          ...target,
          instancesSetLabelsRequestResource: { labels: wanted.labels, labelFingerprint },
        }),
    ]) {
      const [operation] = await call();
      const failure = await settle(clients, target, operation.latestResponse as OperationView, budget);
      if (failure) return failure;
    }
    return undefined;
  } catch (error) {
    return describe(error);
  }
}

/** Google's REST errors carry the HTTP code and, in the body, a reason such as notFound. */
function describe(error: unknown): ApiError {
  const e = error as { code?: number | string; message?: string };
  let reason: string | undefined;
  let message = e.message ?? String(error);
  try {
    const body = JSON.parse(message) as { error?: { message?: string; errors?: Array<{ reason?: string }> } };
    reason = body.error?.errors?.[0]?.reason;
    message = body.error?.message ?? message;
  } catch {
    // not a JSON body: keep the message as it is
  }
  return { code: e.code, reason, message: `${e.code ?? "error"}${reason ? ` ${reason}` : ""}: ${message}` };
}
