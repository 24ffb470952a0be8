import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  liveMigrationRefusal,
  mergeScheduling,
  schedulingFor,
  schedulingRefusals,
  type Scheduling,
  type SchedulingUpdate,
} from "../../contracts/scheduling";
import {
  ACCELERATOR_MACHINE_TYPES,
  gpusOf,
  guestAcceleratorRefusals,
  instanceHasGpus,
  type Gpus,
} from "../../contracts/accelerators";
import { gpuZoneRefusal } from "../../contracts/gpuZones";
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

/** A failure to inject into the next start/resume/stop: an HTTP error, or an operation that ends in error. */
export type InjectedFailure =
  | { http: 403 | 404 | 429 | 500 | 503; reason?: string }
  | { operationError: "ZONE_RESOURCE_POOL_EXHAUSTED" | "QUOTA_EXCEEDED" };

/** The calls that change the instance; the API executes each request id once. */
export type Mutation = "start" | "resume" | "stop" | "setScheduling" | "setLabels";

export interface ComputeServer {
  /** `http://127.0.0.1:port`: pass to the restarter as `BUDGET_COMPUTE_ENDPOINT`. */
  readonly url: string;
  /** Failures the next start/resume/stop requests meet, in order. */
  readonly failures: InjectedFailure[];
  /** Every mutating request received, deduplicated or not, with the time it arrived. */
  readonly requests: Array<{ method: Mutation; requestId: string | undefined; at: number }>;
  /** How many times the backend was actually started or resumed. */
  readonly effectiveStarts: number;
  /** With `recordReads`: the status each successful read of the instance (instances.get) answered, in order. */
  readonly readStatuses: string[];
  /** The instance's scheduling now (what `instances.get` answers). */
  readonly scheduling: Scheduling;
  /** The instance's labels now. */
  readonly labels: Record<string, string>;
  /** Records a past operation on the instance, as a long history leaves them (tests of listing). */
  recordOperation(operationType: string, insertTime: string): void;
  close(): Promise<void>;
}

const INSTANCE_PATH =
  /^\/compute\/v1\/projects\/([^/]+)\/zones\/([^/]+)\/instances\/([^/]+)(?:\/(start|resume|stop|setScheduling|setLabels))?$/;
const OPERATIONS_PATH = /^\/compute\/v1\/projects\/([^/]+)\/zones\/([^/]+)\/operations$/;
const INSTANCE_ID = "4242424242424242";
const OPERATION_PATH = /^\/compute\/v1\/projects\/([^/]+)\/zones\/([^/]+)\/operations\/([^/]+?)(\/wait)?$/;
/** zoneOperations.list: "Acceptable values are 0 to 500, inclusive. (Default: 500)" (the API's discovery document). */
const MAX_RESULTS = 500;

interface Operation {
  kind: "compute#operation";
  id: string;
  name: string;
  zone: string;
  operationType: string;
  targetLink: string;
  targetId?: string;
  /** The request's `requestId`, when it had one ("Not present otherwise"). */
  clientOperationId?: string;
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
 * instance that is still stopping, changes scheduling only as `setScheduling` does (fields left
 * out stay, `null` clears) and only on a stopped instance — never to live migration for a VM with
 * GPUs — lists operations in the orders and pages
 * the API offers, and speaks Google's error shape, so `@google-cloud/compute` behaves against it as
 * it does against Google.
 */
export async function startComputeServer(options: {
  project: string;
  zone: string;
  instance: string;
  backend: InstanceBackend;
  /** Whether spot capacity is available now; a spot start without it fails like Google's. @default always */
  spotCapacity?: () => boolean;
  /** How long a start/resume/stop operation stays RUNNING before it is DONE, as Google's do. @default 0 */
  operationMs?: number;
  /** Who may call what. @default any authenticated caller */
  access?: AccessPolicy;
  /** The instance's scheduling at the start; refused, as Google refuses it, if illegal. @default spot */
  scheduling?: Scheduling;
  /** The instance's machine type (a G2/A2/A3 type carries GPUs). @default "e2-small" */
  machineType?: string;
  /**
   * GPUs attached to the instance (`guestAccelerators`); refused, as Google refuses them, on a machine
   * type they do not attach to, in a count Google does not offer, or in a zone without them. @default none
   */
  guestAccelerators?: Gpus[];
  /** Today, for the dated GPU zone table (contracts/gpuZones.ts). @default the clock */
  now?: () => Date;
  /** The instance's labels at the start. @default none */
  labels?: Record<string, string>;
  /** Told of every scheduling change (the local deployment hands it to the instance's metadata server). */
  onSchedulingChange?: (scheduling: Scheduling) => void;
  /** Keep `readStatuses` (tests; a long-running local deployment would grow it forever). @default false */
  recordReads?: boolean;
}): Promise<ComputeServer> {
  const { project, zone, instance, backend } = options;
  let scheduling: Scheduling = options.scheduling ?? schedulingFor("spot");
  const machineType = options.machineType ?? "e2-small";
  const guestAccelerators = options.guestAccelerators ?? [];
  // Google's API: a VM with GPUs never live-migrates, whatever changes it later (setScheduling below).
  const hardware = {
    gpus: instanceHasGpus({
      machineType,
      guestAccelerators: guestAccelerators.map((gpu) => ({ acceleratorCount: gpu.count })),
    }),
  };
  const gpus = gpusOf(machineType, guestAccelerators[0]);
  const carried = ACCELERATOR_MACHINE_TYPES[machineType] ? { machineType } : undefined;
  const illegal = [
    ...guestAcceleratorRefusals(machineType, guestAccelerators),
    (gpus && gpuZoneRefusal({ project, zone }, gpus.type, carried, options.now?.())) ?? [],
    ...schedulingRefusals(scheduling),
    liveMigrationRefusal(scheduling, hardware) ?? [],
  ].flat();
  if (illegal.length > 0) throw new Error(`Compute stand-in: ${illegal.join(" ")}`);
  let labels: Record<string, string> = { ...(options.labels ?? {}) };
  let labelFingerprint = "fp-0";
  let lastStart: string | undefined;
  const operations = new Map<string, Operation>();
  const byRequestId = new Map<string, Operation>();
  const failures: InjectedFailure[] = [];
  const requests: ComputeServer["requests"] = [];
  let effectiveStarts = 0;
  const readStatuses: string[] = [];
  const history: Array<{ operationType: string; at: string }> = [];
  let port = 0;
  const selfLink = () => `http://127.0.0.1:${port}/compute/v1/projects/${project}/zones/${zone}/instances/${instance}`;

  function send(res: ServerResponse, status: number, body: unknown) {
    res.writeHead(status, { "content-type": "application/json; charset=UTF-8" });
    res.end(JSON.stringify(body));
  }
  const fail = (res: ServerResponse, code: number, reason: string, message: string) =>
    googleError(res, code, message, reason);

  /** A new operation on the instance, named as Google names them: `operation-<ms>-<hex>…`, so name order is time order. */
  function operationFor(operationType: string, requestId: string | undefined, insertMs = Date.now()): Operation {
    const hex = randomUUID().replace(/-/g, "");
    return {
      kind: "compute#operation",
      id: `${insertMs}${operations.size}`,
      name: `operation-${insertMs}-${hex.slice(0, 13)}-${hex.slice(13, 21)}-${hex.slice(21, 29)}`,
      zone: `projects/${project}/zones/${zone}`,
      operationType,
      targetLink: selfLink(),
      targetId: INSTANCE_ID,
      ...(requestId ? { clientOperationId: requestId } : {}),
      status: "DONE",
      progress: 100,
      insertTime: new Date(insertMs).toISOString(),
      endTime: new Date(insertMs).toISOString(),
    };
  }

  function record(operation: Operation, requestId: string | undefined, doneInMs = 0) {
    operations.set(operation.name, operation);
    doneAt.set(operation.name, Date.now() + doneInMs);
    if (requestId) byRequestId.set(requestId, operation);
  }

  function mutate(verb: Mutation, requestId: string | undefined, body: string, res: ServerResponse) {
    requests.push({ method: verb, requestId, at: Date.now() });
    const previous = requestId ? byRequestId.get(requestId) : undefined;
    if (previous) return send(res, 200, view(previous));
    if (verb === "setScheduling" || verb === "setLabels") return changeSettings(verb, requestId, body, res);
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
        `Injected ${injected.http} for ${verb}`,
      );
    }
    const { status } = backend.facts();
    const startable =
      verb === "start"
        ? ["TERMINATED", "STOPPED"]
        : verb === "stop"
          ? ["RUNNING", "PROVISIONING", "STAGING"]
          : ["SUSPENDED"];
    if (status === "STOPPING" || status === "SUSPENDING") {
      return fail(res, 400, "resourceNotReady", `The resource '${selfLink()}' is not ready`);
    }
    const operation = operationFor(verb, requestId);
    const noSpot =
      verb === "start" &&
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
      if (verb === "stop") backend.stop?.();
      else {
        effectiveStarts += 1;
        lastStart = new Date().toISOString();
        if (verb === "start") backend.start();
        else backend.resume();
      }
    }
    record(operation, requestId, options.operationMs ?? 0);
    send(res, 200, view(operation));
  }

  /** setScheduling and setLabels: checked, applied, and answered with a finished operation. */
  function changeSettings(
    verb: "setScheduling" | "setLabels",
    requestId: string | undefined,
    body: string,
    res: ServerResponse,
  ) {
    let update: SchedulingUpdate & { labels?: Record<string, string>; labelFingerprint?: string };
    try {
      update = JSON.parse(body || "{}") as typeof update;
    } catch {
      return fail(res, 400, "parseError", "Parse Error");
    }
    if (verb === "setScheduling") {
      // Google checks what the instance would become: the fields sent merged into its current
      // scheduling (a field left out stays, null clears it), in the API's words.
      const merged = mergeScheduling(scheduling, update);
      const refusals = schedulingRefusals(merged, "resource");
      if (refusals.length > 0) return fail(res, 400, "invalid", refusals[0]);
      const noMigration = liveMigrationRefusal(merged, hardware);
      if (noMigration) return fail(res, 400, "badRequest", noMigration);
      // "You can only call this method on a stopped instance, that is, a VM instance that is in a
      // TERMINATED state" (instances.setScheduling in the Compute API's discovery document).
      if (!["TERMINATED", "STOPPED"].includes(backend.facts().status))
        return fail(
          res,
          400,
          "resourceNotReady",
          `The resource '${selfLink()}' is not ready: setScheduling is only allowed on a stopped (TERMINATED) instance`,
        );
      scheduling = merged;
      options.onSchedulingChange?.(scheduling);
    } else {
      if (update.labelFingerprint !== labelFingerprint)
        return fail(res, 412, "conditionNotMet", "Labels fingerprint either invalid or resource labels have changed");
      labels = update.labels ?? {};
      labelFingerprint = `fp-${Date.now()}-${operations.size}`;
    }
    const operation = operationFor(verb, requestId);
    record(operation, requestId);
    send(res, 200, operation);
  }

  /** An operation as a client sees it now: RUNNING (no result yet) until its time is up. */
  const doneAt = new Map<string, number>();
  function view(operation: Operation): Operation {
    if (Date.now() >= (doneAt.get(operation.name) ?? 0)) return operation;
    const { endTime: _endTime, error: _error, ...running } = operation;
    return { ...running, status: "RUNNING", progress: 50 };
  }

  /** Every operation on the instance: the API's own, the backend's system events, and recorded history. */
  function allOperations(): Operation[] {
    const events = [...(backend.systemEvents?.() ?? []), ...history].map((event, index): Operation => ({
      kind: "compute#operation",
      // A uint64, as every operation id is (the client cannot decode a list holding anything else).
      id: `${Date.parse(event.at)}${String(index).padStart(6, "0")}`,
      name: event.operationType.startsWith("compute.instances.")
        ? `systemevent-${Date.parse(event.at)}-${String(index).padStart(6, "0")}`
        : `operation-${Date.parse(event.at)}-${String(index).padStart(13, "0")}`,
      zone: `projects/${project}/zones/${zone}`,
      operationType: event.operationType,
      targetLink: selfLink(),
      targetId: INSTANCE_ID,
      status: "DONE",
      progress: 100,
      insertTime: event.at,
      endTime: event.at,
    }));
    return [...operations.values(), ...events];
  }

  /**
   * zoneOperations.list as the discovery document describes it: "By default, results are returned
   * in alphanumerical order based on the resource name", or newest first with
   * `orderBy="creationTimestamp desc"` ("Currently, only sorting by `name` or `creationTimestamp
   * desc` is supported"); at most `maxResults` (0–500, default 500) per page, the rest behind
   * `nextPageToken`. The one filter the restarter uses: `targetId = "<id>"`.
   */
  function listOperations(url: URL, res: ServerResponse) {
    const filter = url.searchParams.get("filter") ?? "";
    const wanted = /^targetId\s*=\s*"?(\d+)"?$/.exec(filter.trim());
    if (filter && !wanted) return fail(res, 400, "invalid", `Invalid value for field 'filter': '${filter}'.`);
    const orderBy = url.searchParams.get("orderBy") ?? "name";
    if (orderBy !== "name" && orderBy !== "creationTimestamp desc")
      return fail(res, 400, "invalid", `Invalid value for field 'orderBy': '${orderBy}'.`);
    const maxRaw = url.searchParams.get("maxResults");
    const max = maxRaw === null ? MAX_RESULTS : Number(maxRaw);
    if (!Number.isInteger(max) || max < 0 || max > MAX_RESULTS)
      return fail(res, 400, "invalid", `Invalid value for field 'maxResults': '${maxRaw}'. Must be between 0 and 500.`);
    const token = url.searchParams.get("pageToken");
    const offset = token ? Number(Buffer.from(token, "base64url").toString()) : 0;
    if (!Number.isInteger(offset) || offset < 0)
      return fail(res, 400, "invalid", `Invalid value for field 'pageToken': '${token}'.`);
    const items = allOperations()
      .filter((operation) => !wanted || operation.targetId === wanted[1])
      .sort((a, b) =>
        orderBy === "name"
          ? a.name.localeCompare(b.name)
          : Date.parse(b.insertTime) - Date.parse(a.insertTime) || b.name.localeCompare(a.name),
      );
    const size = max === 0 ? MAX_RESULTS : max;
    const page = items.slice(offset, offset + size);
    return send(res, 200, {
      kind: "compute#operationList",
      id: `projects/${project}/zones/${zone}/operations`,
      items: page,
      ...(offset + size < items.length
        ? { nextPageToken: Buffer.from(String(offset + size)).toString("base64url") }
        : {}),
      selfLink: `${selfLink().replace(/\/instances\/.*/, "")}/operations`,
    });
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
          machineType: `${selfLink().replace(/\/instances\/.*/, "")}/machineTypes/${machineType}`,
          ...(guestAccelerators.length > 0
            ? {
                guestAccelerators: guestAccelerators.map((gpu) => ({
                  acceleratorType: `${selfLink().replace(/\/instances\/.*/, "")}/acceleratorTypes/${gpu.type}`,
                  acceleratorCount: gpu.count,
                })),
              }
            : {}),
          scheduling,
          labels,
          labelFingerprint,
          ...(lastStart ? { lastStartTimestamp: lastStart } : {}),
          ...facts,
        });
      }
      if (verb === "stop" && !backend.stop)
        return fail(res, 400, "unsupported", "This stand-in's instance cannot be stopped through the API");
      if (verb && req.method === "POST") {
        let body = "";
        req.on("data", (chunk) => (body += chunk));
        return void req.on("end", () =>
          mutate(verb as Mutation, url.searchParams.get("requestId") ?? undefined, body, res),
        );
      }
    }
    const listMatch = OPERATIONS_PATH.exec(url.pathname);
    if (listMatch && req.method === "GET") {
      if (!allowed("compute.zoneOperations.list", `projects/${listMatch[1]}`)) return;
      return listOperations(url, res);
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
    get scheduling() {
      return scheduling;
    },
    get labels() {
      return labels;
    },
    recordOperation: (operationType, insertTime) => void history.push({ operationType, at: insertTime }),
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
