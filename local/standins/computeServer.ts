import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { schedulingFor, schedulingRefusals, type Scheduling } from "../../contracts/scheduling";
import { anyAuthenticatedCaller, type AccessPolicy } from "./accessPolicy";
import { googleError, listenOnLoopback } from "./listen";

/** Instance statuses, as the Compute API names them. */
export type InstanceStatus =
  | "PROVISIONING"
  | "STAGING"
  | "RUNNING"
  | "STOPPING"
  | "STOPPED"
  | "SUSPENDING"
  | "SUSPENDED"
  | "REPAIRING"
  | "TERMINATED";

/** What the stand-in reports about the instance. */
export interface InstanceFacts {
  status: InstanceStatus;
  /** RFC 3339, set when the instance last stopped; the restarter derives its request id from it. */
  lastStopTimestamp?: string;
}

/**
 * The instance behind the stand-in: a simulated lifecycle in tests, a real child process in the
 * local deployment. `start`/`resume` are called at most once per accepted request id.
 */
export interface InstanceBackend {
  facts(): InstanceFacts;
  start(): void;
  resume(): void;
  /** A stop someone asked for (`instances.stop`); absent → the stand-in refuses stop calls. */
  stop?(): void;
  /** System events Google records as operations on the instance, e.g. `compute.instances.preempted`. */
  systemEvents?(): Array<{ operationType: string; at: string }>;
}

/** A failure to inject into the next start/resume: an HTTP error, or an operation that ends in error. */
export type InjectedFailure =
  | { http: 403 | 404 | 429 | 500 | 503; reason?: string }
  | { operationError: "ZONE_RESOURCE_POOL_EXHAUSTED" | "QUOTA_EXCEEDED" };

export interface ComputeServer {
  /** `http://127.0.0.1:port`: pass to the restarter as `BUDGET_COMPUTE_ENDPOINT`. */
  readonly url: string;
  /** Failures the next start/resume requests meet, in order. */
  readonly failures: InjectedFailure[];
  /** Every start/resume request received, deduplicated or not. */
  readonly requests: Array<{ method: "start" | "resume" | "stop"; requestId: string | undefined; at: number }>;
  /** How many times the backend was actually started or resumed. */
  readonly effectiveStarts: number;
  /** With `recordReads`: the status each successful read of the instance (instances.get) answered, in order. */
  readonly readStatuses: string[];
  close(): Promise<void>;
}

const INSTANCE_PATH =
  /^\/compute\/v1\/projects\/([^/]+)\/zones\/([^/]+)\/instances\/([^/]+)(?:\/(start|resume|stop|setScheduling|setLabels))?$/;
const OPERATIONS_PATH = /^\/compute\/v1\/projects\/([^/]+)\/zones\/([^/]+)\/operations$/;
const INSTANCE_ID = "4242424242424242";
const OPERATION_PATH = /^\/compute\/v1\/projects\/([^/]+)\/zones\/([^/]+)\/operations\/([^/]+?)(\/wait)?$/;

interface Operation {
  kind: "compute#operation";
  id: string;
  name: string;
  zone: string;
  operationType: string;
  targetLink: string;
  targetId?: string;
  status: "PENDING" | "RUNNING" | "DONE";
  progress: number;
  insertTime: string;
  endTime?: string;
  error?: { errors: Array<{ code: string; message: string }> };
}

/**
 * A loopback stand-in for the Compute REST API — just the instance and zone-operation calls the
 * restarter makes — in front of one instance. Like the real API it deduplicates mutating calls by
 * `requestId` (a repeated id returns the first operation and does nothing), refuses to start an
 * instance that is still stopping, and speaks Google's error shape, so `@google-cloud/compute`
 * behaves against it as it does against Google.
 */
export async function startComputeServer(options: {
  project: string;
  zone: string;
  instance: string;
  backend: InstanceBackend;
  /** Whether spot capacity is available now; a spot start without it fails like Google's. @default always */
  spotCapacity?: () => boolean;
  /** How long a start/resume operation stays RUNNING before it is DONE, as Google's do. @default 0 */
  operationMs?: number;
  /** Who may call what. @default any authenticated caller */
  access?: AccessPolicy;
  /** The instance's scheduling at the start; refused, as Google refuses it, if illegal. @default spot */
  scheduling?: Scheduling;
  /** Keep `readStatuses` (tests; a long-running local deployment would grow it forever). @default false */
  recordReads?: boolean;
}): Promise<ComputeServer> {
  const { project, zone, instance, backend } = options;
  // The instance's settings the restarter may change while it is stopped, as the API allows.
  let scheduling: Scheduling = options.scheduling ?? schedulingFor("spot");
  const illegal = schedulingRefusals(scheduling);
  if (illegal.length > 0) throw new Error(`Compute stand-in: ${illegal.join(" ")}`);
  let labels: Record<string, string> = {};
  let labelFingerprint = "fp-0";
  const operations = new Map<string, Operation>();
  const byRequestId = new Map<string, Operation>();
  const failures: InjectedFailure[] = [];
  const requests: ComputeServer["requests"] = [];
  let effectiveStarts = 0;
  const readStatuses: string[] = [];
  let port = 0;
  const selfLink = () => `http://127.0.0.1:${port}/compute/v1/projects/${project}/zones/${zone}/instances/${instance}`;

  function send(res: ServerResponse, status: number, body: unknown) {
    res.writeHead(status, { "content-type": "application/json; charset=UTF-8" });
    res.end(JSON.stringify(body));
  }
  const fail = (res: ServerResponse, code: number, reason: string, message: string) =>
    googleError(res, code, message, reason);

  function mutate(method: "start" | "resume" | "stop", requestId: string | undefined, res: ServerResponse) {
    requests.push({ method, requestId, at: Date.now() });
    const previous = requestId ? byRequestId.get(requestId) : undefined;
    if (previous) return send(res, 200, view(previous));
    const injected = failures.shift();
    if (injected && "http" in injected) {
      const reasons = {
        403: "forbidden",
        404: "notFound",
        429: "rateLimitExceeded",
        500: "backendError",
        503: "backendError",
      };
      return fail(
        res,
        injected.http,
        injected.reason ?? reasons[injected.http],
        `Injected ${injected.http} for ${method}`,
      );
    }
    const { status } = backend.facts();
    const startable =
      method === "start"
        ? ["TERMINATED", "STOPPED"]
        : method === "stop"
          ? ["RUNNING", "PROVISIONING", "STAGING"]
          : ["SUSPENDED"];
    if (status === "STOPPING" || status === "SUSPENDING") {
      return fail(res, 400, "resourceNotReady", `The resource '${selfLink()}' is not ready`);
    }
    const operation: Operation = {
      kind: "compute#operation",
      id: String(Date.now()) + String(operations.size),
      name: `operation-${randomUUID()}`,
      zone: `projects/${project}/zones/${zone}`,
      operationType: method,
      targetLink: selfLink(),
      targetId: INSTANCE_ID,
      status: "DONE",
      progress: 100,
      insertTime: new Date().toISOString(),
      endTime: new Date().toISOString(),
    };
    const noSpot =
      method === "start" &&
      scheduling.provisioningModel === "SPOT" &&
      options.spotCapacity &&
      !options.spotCapacity() &&
      startable.includes(status);
    if ((injected && "operationError" in injected) || noSpot) {
      const code = injected && "operationError" in injected ? injected.operationError : "ZONE_RESOURCE_POOL_EXHAUSTED";
      operation.error = {
        errors: [
          { code, message: `The zone '${zone}' does not have enough resources available to fulfill the request.` },
        ],
      };
    } else if (startable.includes(status)) {
      if (method !== "stop") effectiveStarts += 1;
      if (method === "start") backend.start();
      else if (method === "stop") backend.stop?.();
      else backend.resume();
    }
    operations.set(operation.name, operation);
    doneAt.set(operation.name, Date.now() + (options.operationMs ?? 0));
    if (requestId) byRequestId.set(requestId, operation);
    send(res, 200, view(operation));
  }

  /** An operation as a client sees it now: RUNNING (no result yet) until its time is up. */
  const doneAt = new Map<string, number>();
  function view(operation: Operation): Operation {
    if (Date.now() >= (doneAt.get(operation.name) ?? 0)) return operation;
    const { endTime: _endTime, error: _error, ...running } = operation;
    return { ...running, status: "RUNNING", progress: 50 };
  }

  /** A completed operation for a settings change. */
  function mutateSettings(verb: string, res: ServerResponse) {
    const operation: Operation = {
      kind: "compute#operation",
      id: String(Date.now()),
      name: `operation-${randomUUID()}`,
      zone: `projects/${project}/zones/${zone}`,
      operationType: verb,
      targetLink: selfLink(),
      targetId: INSTANCE_ID,
      status: "DONE",
      progress: 100,
      insertTime: new Date().toISOString(),
      endTime: new Date().toISOString(),
    };
    operations.set(operation.name, operation);
    send(res, 200, operation);
  }

  function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? "/", "http://compute");
    const allowed = (permission: string, resource: string) => {
      const decision = (options.access ?? anyAuthenticatedCaller).check(req, permission, resource);
      if (!decision.allowed)
        fail(res, decision.status, decision.status === 401 ? "required" : "forbidden", decision.message);
      return decision.allowed;
    };
    const instanceMatch = INSTANCE_PATH.exec(url.pathname);
    if (instanceMatch) {
      const [, p, z, name, verb] = instanceMatch;
      if (p !== project || z !== zone || name !== instance) {
        return fail(res, 404, "notFound", `The resource 'projects/${p}/zones/${z}/instances/${name}' was not found`);
      }
      if (!allowed(`compute.instances.${verb ?? "get"}`, `projects/${p}/zones/${z}/instances/${name}`)) return;
      if (!verb && req.method === "GET") {
        const facts = backend.facts();
        if (options.recordReads) readStatuses.push(facts.status);
        return send(res, 200, {
          kind: "compute#instance",
          id: INSTANCE_ID,
          name: instance,
          zone: selfLink().replace(/\/instances\/.*/, ""),
          selfLink: selfLink(),
          scheduling,
          labels,
          labelFingerprint,
          ...facts,
        });
      }
      if ((verb === "setScheduling" || verb === "setLabels") && req.method === "POST") {
        let body = "";
        req.on("data", (chunk) => (body += chunk));
        return void req.on("end", () => {
          const update = JSON.parse(body || "{}") as {
            labels?: Record<string, string>;
            labelFingerprint?: string;
          } & Scheduling;
          if (verb === "setScheduling") {
            // Google validates the combination before anything else, with these words.
            const refusals = schedulingRefusals(update, "resource");
            if (refusals.length > 0) return fail(res, 400, "invalid", refusals[0]);
            if (!["TERMINATED", "STOPPED"].includes(backend.facts().status))
              return fail(res, 400, "resourceNotReady", "Scheduling can only be changed while the instance is stopped");
            scheduling = update;
          } else {
            if (update.labelFingerprint !== labelFingerprint)
              return fail(
                res,
                412,
                "conditionNotMet",
                "Labels fingerprint either invalid or resource labels have changed",
              );
            labels = update.labels ?? {};
            labelFingerprint = `fp-${Date.now()}`;
          }
          mutateSettings(verb, res);
        });
      }
      if (verb === "stop" && !backend.stop)
        return fail(res, 400, "unsupported", "This stand-in's instance cannot be stopped through the API");
      if ((verb === "start" || verb === "resume" || verb === "stop") && req.method === "POST") {
        req.resume();
        return void req.on("end", () => mutate(verb, url.searchParams.get("requestId") ?? undefined, res));
      }
    }
    const listMatch = OPERATIONS_PATH.exec(url.pathname);
    if (listMatch && req.method === "GET") {
      // zoneOperations.list, with the one filter the restarter uses: targetId = "<id>".
      const filter = url.searchParams.get("filter") ?? "";
      const wanted = /^targetId\s*=\s*"?(\d+)"?$/.exec(filter.trim());
      if (filter && !wanted) return fail(res, 400, "invalid", `Invalid value for field 'filter': '${filter}'.`);
      const events = (backend.systemEvents?.() ?? []).map((event, index) => ({
        kind: "compute#operation",
        id: `system-${index}`,
        name: `systemevent-${Date.parse(event.at)}-${index}`,
        zone: `projects/${project}/zones/${zone}`,
        operationType: event.operationType,
        targetLink: selfLink(),
        targetId: INSTANCE_ID,
        status: "DONE",
        progress: 100,
        insertTime: event.at,
        endTime: event.at,
      }));
      const items = [...operations.values(), ...events].filter(
        (operation) => !wanted || operation.targetId === wanted[1],
      );
      return send(res, 200, {
        kind: "compute#operationList",
        id: `projects/${project}/zones/${zone}/operations`,
        items,
        selfLink: `${selfLink().replace(/\/instances\/.*/, "")}/operations`,
      });
    }
    const operationMatch = OPERATION_PATH.exec(url.pathname);
    if (operationMatch) {
      if (
        !allowed(
          "compute.zoneOperations.get",
          `projects/${operationMatch[1]}/zones/${operationMatch[2]}/operations/${operationMatch[3]}`,
        )
      )
        return;
      const operation = operations.get(operationMatch[3]);
      if (!operation) return fail(res, 404, "notFound", `The resource operation '${operationMatch[3]}' was not found`);
      // operations.wait answers when the operation is done (Google's returns after at most ~2 min).
      const remaining = operationMatch[4] ? Math.max(0, (doneAt.get(operation.name) ?? 0) - Date.now()) : 0;
      return void setTimeout(() => send(res, 200, view(operation)), remaining);
    }
    fail(res, 404, "notFound", `No stand-in for ${req.method} ${url.pathname}`);
  }

  const server = await listenOnLoopback(handle);
  port = server.port;
  return {
    url: server.url,
    failures,
    requests,
    get effectiveStarts() {
      return effectiveStarts;
    },
    readStatuses,
    close: () => server.close(),
  };
}

/**
 * A simulated instance: a preemption takes it RUNNING → STOPPING → TERMINATED, a start takes it
 * PROVISIONING → STAGING → RUNNING, each step after `stepMs`. Its stop timestamps and system events
 * are stamped by `now` (a test shares its clock with the restarter's). @default Date.now
 */
export class SimulatedInstance implements InstanceBackend {
  private status: InstanceStatus = "RUNNING";
  private lastStop: string | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly events: Array<{ operationType: string; at: string }> = [];

  constructor(
    private readonly stepMs = 50,
    private readonly now: () => number = Date.now,
  ) {}

  systemEvents() {
    return [...this.events];
  }

  facts(): InstanceFacts {
    return { status: this.status, ...(this.lastStop ? { lastStopTimestamp: this.lastStop } : {}) };
  }

  /** Google preempts the instance; it stays STOPPING for `stoppingMs`. @default the instance's step */
  preempt(stoppingMs = this.stepMs): void {
    this.events.push({ operationType: "compute.instances.preempted", at: this.timestamp() });
    this.steps(["STOPPING", "TERMINATED"], () => (this.lastStop = this.timestamp()), stoppingMs);
  }

  /** Puts the instance directly in a status (e.g. SUSPENDED), as an operator would. */
  set(status: InstanceStatus): void {
    this.dispose(); // a transition still under way would otherwise overwrite this status later
    this.status = status;
    if (status === "TERMINATED" || status === "STOPPED" || status === "SUSPENDED") this.lastStop = this.timestamp();
  }

  start(): void {
    this.steps(["PROVISIONING", "STAGING", "RUNNING"]);
  }

  /** A stop someone asked for (the API's `stop`). */
  stop(): void {
    this.steps(["STOPPING", "TERMINATED"], () => (this.lastStop = this.timestamp()));
  }

  resume(): void {
    this.steps(["STAGING", "RUNNING"]);
  }

  private timestamp(): string {
    return new Date(this.now()).toISOString();
  }

  dispose(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private steps(sequence: InstanceStatus[], atEnd?: () => void, stepMs = this.stepMs): void {
    const [first, ...rest] = sequence;
    this.status = first;
    if (rest.length === 0) return atEnd?.();
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.steps(rest, atEnd, stepMs);
    }, stepMs);
    this.timers.add(timer);
  }
}
