import type { protos } from "@google-cloud/compute";
import type { Logger } from "../../contracts/cloudLogging";
import { provisioningOf, schedulingSwitch, type SwitchTarget } from "../../contracts/scheduling";
import { instanceHasGpus } from "../../contracts/accelerators";
import { systemClock, type Clock } from "./clock";
import type { ComputeClients, OperationView } from "./computeClients";
import type { RestarterConfig } from "./config";
import { decide, isTransient, mayStart } from "./decide";
import { labelsAfter, provisioningMove, type ProvisioningMove, type ProvisioningView } from "./provisioningPolicy";
import { outageRequestId, switchRequestId } from "./requestIds";
import { lastStopCause, type LastStop } from "./stopCause";

/** What one invocation saw, did, and how long it took. */
export interface RestartOutcome {
  saw: string;
  did: "nothing" | "started" | "resumed" | "gave_up" | "failed_permanently" | "parked" | "left_stopped";
  /** The provisioning changes this invocation made, in order (e.g. to spot, then back to standard for lack of capacity). */
  switched?: ProvisioningMove[];
  attempts: number;
  ms: number;
  error?: string;
}

interface ApiError {
  code?: number | string;
  reason?: string;
  message: string;
}

type Target = { project: string; zone: string; instance: string };

/** The instance as `instances.get` answers it. */
type InstanceRead = protos.google.cloud.compute.v1.IInstance;

const MAX_BACKOFF_MS = 16_000;
/** The reason `settle` gives for an operation the budget ran out on. */
const OPERATION_PENDING = "operationPending";

/**
 * Reads the instance, decides, acts, and retries transient failures while the budget allows. A
 * stopped instance is started (and, when the provisioning policy says so, switched first); a
 * running one is left alone unless its provisioning must change — then it is stopped with a
 * request id the next read recognises, and the loop goes on as for any stopped instance.
 * `clock` times the budget, the backoff and the policy's delays. @default the system clock
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
  const budget: Budget = { deadline, clock, pollMs };
  let { backoffMs } = config;
  const target: Target = { project: config.project, zone: config.zone, instance: config.instance };
  const policy = {
    declared: config.provisioning,
    fallbackAfterMs: config.fallbackAfterMs,
    returnAfterMs: config.returnAfterMs,
    returnWindow: config.returnWindow,
  };
  let attempts = 0;
  let saw = "UNKNOWN";
  let capacityFailure = false;
  let stop: LastStop | undefined;
  let stoppedForSwitch = false;
  /** Moves tried in this invocation, done or failed: each at most once. */
  const tried: ProvisioningMove[] = [];
  const switched: ProvisioningMove[] = [];
  const finish = (did: RestartOutcome["did"], error?: string): RestartOutcome => {
    const outcome = {
      saw,
      did,
      attempts,
      ms: clock.now() - started,
      ...(error ? { error } : {}),
      ...(switched.length > 0 ? { switched } : {}),
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
  const announce = (move: ProvisioningMove) =>
    logger.warn(
      { instance: config.instance, move },
      {
        no_spot_capacity: `restarter: no spot capacity; ${config.instance} now runs as STANDARD (on-demand price)`,
        return: `restarter: returning ${config.instance} to SPOT`,
        declared: `restarter: switching ${config.instance} to ${move.to.toUpperCase()}, as the deployment declares`,
      }[move.why],
    );

  for (;;) {
    let instance: InstanceRead;
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
    const view = (status: ProvisioningView["status"]): ProvisioningView => ({
      status,
      live: provisioningOf({
        provisioningModel: instance.scheduling?.provisioningModel ?? undefined,
        preemptible: instance.scheduling?.preemptible ?? undefined,
      }),
      labels: (instance.labels ?? {}) as Record<string, string>,
      lastStopTimestamp: instance.lastStopTimestamp ?? undefined,
      ownSwitchTo: stop?.switchTo,
    });

    if (action === "none") {
      if (!stoppedForSwitch && (saw !== "RUNNING" || !config.running)) return finish("nothing");
      if (stoppedForSwitch) {
        // The stop was accepted; the instance has not begun stopping yet.
        if (clock.now() + pollMs > deadline) return finish("gave_up", `instance still ${saw} after the switch's stop`);
        await clock.sleep(pollMs);
        continue;
      }
      const move = provisioningMove(view("running"), clock.now(), policy, false);
      if (!move) return finish("nothing");
      const current = view("running");
      const failure =
        move.to === current.live
          ? await relabel(clients, target, move, current.labels, instance.labelFingerprint ?? undefined, budget)
          : await stopForSwitch(clients, target, instance, move.to as SwitchTarget, budget);
      // A stop still under way when the budget ends is no failure: the next invocation finishes the switch.
      if (failure && failure.reason !== OPERATION_PENDING) {
        logger.error(
          { instance: config.instance, move, error: failure.message },
          `restarter: could not ${move.to === current.live ? "relabel" : "stop"} ${config.instance} to switch it to ${move.to}: ${failure.message}`,
        );
        return finish(isTransient(failure) ? "gave_up" : "failed_permanently", failure.message);
      }
      if (move.to === current.live) {
        switched.push(move);
        announce(move);
        return finish("nothing");
      }
      logger.warn(
        { instance: config.instance, move },
        `restarter: stopping ${config.instance} to switch it to ${move.to.toUpperCase()} (${move.why})`,
      );
      stoppedForSwitch = true;
      continue; // re-read: STOPPING → TERMINATED, then switched and started below
    }
    if (!config.running) return finish("parked");
    if (action !== "wait" && stop === undefined) {
      // Only a preemption, the restarter's own switch, or a VM that should be running and is not is brought back.
      stop = await lastStopCause(clients, target, {
        id: String(instance.id),
        lastStartTimestamp: instance.lastStartTimestamp ?? undefined,
      });
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

    if (action === "start") {
      const move = provisioningMove(view("stopped"), clock.now(), policy, capacityFailure);
      if (move && !tried.some((done) => done.to === move.to && done.why === move.why)) {
        tried.push(move);
        const current = view("stopped");
        const failure = await applyMove(clients, target, move, current, instance, budget);
        if (failure)
          logger.error(
            { instance: config.instance, move, error: failure.message },
            `restarter: could not switch ${config.instance} to ${move.to} (${move.why}): ${failure.message}`,
          );
        else {
          switched.push(move);
          announce(move);
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
    const { failure, replayed } = await act(clients, target, action, requestId, budget, invokedAt);
    if (!failure) return finish(action === "start" ? "started" : "resumed");
    if (!isTransient(failure)) return finish("failed_permanently", failure.message);
    capacityFailure = /RESOURCE_POOL_EXHAUSTED|STOCKOUT/.test(String(failure.reason));
    // An earlier invocation already made (and failed) this attempt: go straight to the next id. A
    // switch to spot that finds no capacity goes back to standard at once, without a backoff.
    const fallingBack =
      capacityFailure &&
      stop?.switchTo === "spot" &&
      config.fallbackAfterMs > 0 &&
      !tried.some((move) => move.why === "no_spot_capacity");
    if (replayed || fallingBack) continue;
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
  target: Target,
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
/** When an invocation must have finished, its clock, and how often it polls an operation. */
type Budget = { deadline: number; clock: Clock; pollMs: number };

/** Waits for a zone operation to finish (within the budget); returns its error, if any. */
async function settle(
  clients: ComputeClients,
  target: { project: string; zone: string },
  operation: OperationView,
  { deadline, clock, pollMs }: Budget,
): Promise<ApiError | undefined> {
  let latest = operation;
  // Polled with get, not operations.wait: Google's wait holds the call until the operation is done
  // or for up to 2 minutes (https://cloud.google.com/compute/docs/reference/rest/v1/zoneOperations/wait),
  // past the invocation's budget, and the REST client does not end it at a deadline. An operation
  // still running at the deadline is left to the next invocation.
  while (latest.status !== "DONE" && clock.now() + pollMs <= deadline) {
    await clock.sleep(pollMs);
    const [next] = await clients.operations.get({ project: target.project, zone: target.zone, operation: latest.name });
    latest = next as OperationView;
  }
  const error = latest.error?.errors?.[0];
  if (error) return { code: error.code, reason: error.code, message: `${error.code}: ${error.message}` };
  if (latest.status !== "DONE")
    return { code: 503, reason: OPERATION_PENDING, message: `operation ${latest.name} still ${latest.status}` };
  return undefined;
}

/**
 * Stops a running instance to switch it, with the request id that marks the stop as this switch's
 * (see {@link switchRequestId}), and waits for the stop within the budget.
 */
async function stopForSwitch(
  clients: ComputeClients,
  target: Target,
  instance: InstanceRead,
  to: SwitchTarget,
  budget: Budget,
): Promise<ApiError | undefined> {
  try {
    const requestId = switchRequestId(String(instance.id), instance.lastStartTimestamp ?? undefined, to);
    const [operation] = await clients.instances.stop({ ...target, requestId });
    return await settle(clients, target, operation.latestResponse as OperationView, budget);
  } catch (error) {
    return describe(error);
  }
}

/**
 * Carries out a move on the stopped instance: its scheduling (as gcloud's set-scheduling would,
 * clearing what the new model must not carry — see schedulingSwitch; a VM with GPUs keeps stopping
 * on host maintenance, even on demand), then its labels.
 */
async function applyMove(
  clients: ComputeClients,
  target: Target,
  move: ProvisioningMove,
  view: ProvisioningView,
  instance: InstanceRead,
  budget: Budget,
): Promise<ApiError | undefined> {
  if (move.to !== view.live) {
    try {
      const hardware = { gpus: instanceHasGpus(instance) };
      const operation = await clients.setScheduling(target, schedulingSwitch(move.to as SwitchTarget, hardware));
      const failure = await settle(clients, target, operation, budget);
      if (failure) return failure;
    } catch (error) {
      return describe(error);
    }
  }
  return relabel(clients, target, move, view.labels, instance.labelFingerprint ?? undefined, budget);
}

/** Sets the labels the instance carries after `move` (see labelsAfter). */
async function relabel(
  clients: ComputeClients,
  target: Target,
  move: ProvisioningMove,
  labels: Record<string, string>,
  labelFingerprint: string | undefined,
  budget: Budget,
): Promise<ApiError | undefined> {
  try {
    const [operation] = await clients.instances.setLabels({
      ...target,
      instancesSetLabelsRequestResource: { labels: labelsAfter(move, labels, budget.clock.now()), labelFingerprint },
    });
    return await settle(clients, target, operation.latestResponse as OperationView, budget);
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
