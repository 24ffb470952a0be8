import type { IncomingMessage, ServerResponse } from "node:http";
import express, { type Express } from "express";
import { Admission } from "./admission/admission";
import { batchingPredictor, type BatchingOptions } from "./batching/batchingPredictor";
import { BodyPace } from "./http/bodyPace";
import { bearerAuth, tokenRoute, type Credentials } from "./auth/handlers";
import { answerError, errorHandler, notFound } from "./http/errorHandler";
import { ERRORS, HttpError } from "./http/errors";
import { Health } from "./health";
import type { LoadedPredictor } from "./predictor/loader";
import { createLogger, type Logger } from "../contracts/cloudLogging";
import { clientKey, LoginLimiter, localLoginGuard, type LoginGuard } from "./auth/loginLimiter";
import { createMetrics, type RuntimeMetrics } from "./metrics";
import { predictLane } from "./http/predictLane";
import { docsRoutes } from "./routes/docs";
import { PredictionGate } from "./admission/predictionGate";
import { predictRoutes, type BodyLimits } from "./routes/predict";
import { requestLog } from "./http/requestLog";
import { createTokenService } from "./auth/tokens";
import { RUNTIME_VERSION } from "./version";
import { UploadBudget } from "./admission/uploadBudget";
import proxyAddr from "proxy-addr";
import type { Provisioning } from "../contracts/scheduling";
import type { Gpus } from "../contracts/accelerators";
import { checkGpus } from "../contracts/gpuCheck";
import { registerGpuMetrics } from "./gpuMetrics";

/** Everything the runtime needs, explicit: the CLI and workers read the environment and pass it here. */
export interface AppOptions {
  credentials: Credentials;
  /** The key bearer tokens are signed with (`BUDGET_TOKEN`). */
  tokenSigningKey: string;
  /** Loads the predictor; called once, right away, with the runtime's logger. Its `load()` runs before predictions are served. */
  loadPredictor: (logger: Logger) => Promise<LoadedPredictor>;
  /** Token lifetime. @default 3600 */
  tokenTtlSeconds?: number;
  /** Body and file limits. @default 10 MiB body, 20 MiB file */
  limits?: Partial<BodyLimits>;
  /** How long one `predict()` may take before the client gets 504. @default 30000 */
  predictTimeoutMs?: number;
  /** How long a prediction's body may take to arrive, in all, before 408. @default 15000 */
  bodyTimeoutMs?: number;
  /**
   * After its first second, a prediction's body must arrive at least this fast on average, in
   * bytes per second, or 408. @default 1024
   */
  bodyMinBytesPerSecond?: number;
  /** Predictions running at once in this process. @default 4 */
  maxInFlight?: number;
  /** Predictions waiting for a slot before new ones get 503. @default 64 */
  maxQueued?: number;
  /**
   * The longest a prediction may expect to wait for a slot, counted from its arrival (its place in
   * the queue ÷ slots × the average prediction time, plus the time it has waited): past it, 503 with
   * `Retry-After` instead of queueing, or as soon as the queue learns it cannot make it. A request
   * that finds a slot free is never refused. With a 400 ms model, an accepted request waits at
   * most about 1.2 s for its slot (see the README's overload benchmark). @default 1000
   */
  maxQueueWaitMs?: number;
  /** Failed logins per address per minute before 429. @default 10 */
  maxFailedLogins?: number;
  /** Where login attempts are counted. @default a limiter in this process, with `maxFailedLogins` */
  loginGuard?: LoginGuard;
  /** @default a JSON logger on stdout */
  logger?: Logger;
  /**
   * Adaptive batching: concurrent predictions grouped into the predictor's `predictBatch` calls
   * (runtime/batching/). @default off
   */
  batching?: BatchingOptions;
  /**
   * Whether /metrics answers for every worker of the server (set in cluster workers: the primary
   * merges them, see runtime/clusterMetrics.ts) rather than for this process. @default false
   */
  metricsAcrossWorkers?: boolean;
  /** The bundle id the health answer reports (`BUDGET_BUNDLE`). @default none */
  bundle?: string;
  /** The provisioning model the health answer reports (`BUDGET_PROVISIONING`). @default none */
  provisioning?: Provisioning;
  /**
   * The GPUs this machine must have (`BUDGET_ACCELERATOR`, set by the VM's boot): checked with
   * nvidia-smi before the predictor loads — missing or different GPUs leave the runtime in
   * `load_failed` rather than serving on the CPU — and reported in the health answer and `/metrics`.
   * @default none: no GPU check
   */
  accelerator?: Gpus;
  /**
   * Called when every running prediction has outlived its timeout for a second: `predict()`
   * promises cannot be cancelled, so only a new process frees their slots. The server recycles
   * the worker (server/workers.ts). @default log it
   */
  onWedged?: (overduePredictions: number) => void;
  /**
   * Which peer's `X-Forwarded-For` is believed (Express's `trust proxy`): the proxy in front of
   * the runtime and nothing else, so the login limiter counts the real client's address.
   * @default "loopback" (Caddy on the same machine)
   */
  trustedProxy?: string;
}

/** The app and the handles the server process needs to run and drain it. */
export interface Runtime {
  /** Serve this: `http.createServer(runtime.handler)`. Predictions take the fast lane, the rest Express. */
  handler: (req: IncomingMessage, res: ServerResponse) => void;
  app: Express;
  health: Health;
  admission: Admission;
  gate: PredictionGate;
  metrics: RuntimeMetrics;
  logger: Logger;
  /** Settles when the predictor has loaded (or failed to); never rejects. */
  loaded: Promise<void>;
}

export const DEFAULTS = {
  tokenTtlSeconds: 3600,
  bodyBytes: 10 * 1024 * 1024,
  fileBytes: 20 * 1024 * 1024,
  predictTimeoutMs: 30_000,
  bodyTimeoutMs: 15_000,
  bodyMinBytesPerSecond: 1024,
  maxInFlight: 4,
  maxQueued: 64,
  maxQueueWaitMs: 1000,
  maxFailedLogins: 10,
};

/** The window failed logins are counted in. */
export const LOGIN_WINDOW_MS = 60_000;

const PREDICT_PATHS = { generic: "/predict", dict: "/predict_dict", image: "/predict_image" } as const;

/** Builds the inference server. No module-level state: every call is an independent server. */
export function createApp(options: AppOptions): Runtime {
  const logger = options.logger ?? createLogger();
  const metrics = createMetrics(
    { inFlight: () => admission.inFlight, queued: () => admission.queued },
    { acrossWorkers: options.metricsAcrossWorkers },
  );
  if (options.accelerator) registerGpuMetrics(metrics.registry);
  const health = new Health(options.bundle, options.provisioning);
  const admission = new Admission(
    {
      maxInFlight: options.maxInFlight ?? DEFAULTS.maxInFlight,
      maxQueued: options.maxQueued ?? DEFAULTS.maxQueued,
      maxQueueWaitMs: options.maxQueueWaitMs ?? DEFAULTS.maxQueueWaitMs,
    },
    () => metrics.rejected.inc({ reason: "overloaded" }),
  );
  const gate = new PredictionGate(
    health,
    admission,
    metrics,
    options.predictTimeoutMs ?? DEFAULTS.predictTimeoutMs,
    options.onWedged ??
      ((overdue) => logger.error({ overdue }, "every running prediction outlived its timeout; slots stay held")),
  );
  const tokens = createTokenService(options.tokenSigningKey, options.tokenTtlSeconds ?? DEFAULTS.tokenTtlSeconds);
  const limiter =
    options.loginGuard ??
    localLoginGuard(new LoginLimiter(options.maxFailedLogins ?? DEFAULTS.maxFailedLogins, LOGIN_WINDOW_MS));
  const requireToken = bearerAuth(tokens);
  const limits = {
    bodyBytes: options.limits?.bodyBytes ?? DEFAULTS.bodyBytes,
    fileBytes: options.limits?.fileBytes ?? DEFAULTS.fileBytes,
  };
  const routes = predictRoutes(gate, limits);
  let predictorName = "(loading)";

  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false); // answers are per-request predictions: hashing them for ETags is wasted work
  // Only the proxy in front of us may say who the client is: Caddy on loopback, or — for a custom
  // image under docker — Caddy as seen from inside the container (the docker bridge's gateway).
  app.set("trust proxy", options.trustedProxy ?? "loopback");
  const trustProxy = app.get("trust proxy fn") as (address: string, hop: number) => boolean;
  // Paths are case-sensitive, as on the predict lane (and in the seed): /PREDICT_DICT is no route.
  app.set("case sensitive routing", true);
  const logRequest = requestLog(logger, metrics);
  app.use(logRequest);

  // Unauthenticated, so only the state: a load() failure's text (paths, bucket names) goes to the log.
  app.get("/", (_req, res) => {
    res.status(health.state === "ready" ? 200 : 503).json(health.answer(predictorName, RUNTIME_VERSION));
  });
  app.post("/token", ...tokenRoute(options.credentials, tokens, limiter));
  app.get(
    "/metrics",
    requireToken,
    async (_req, res) => void res.type(metrics.registry.contentType).send(await metrics.scrape()),
  );
  app.use(docsRoutes(RUNTIME_VERSION));
  app.all(["/token", ...Object.values(PREDICT_PATHS)], (req, _res, next) =>
    next(
      new HttpError(ERRORS.BUDGETML_METHOD_NOT_ALLOWED, `${req.method} is not allowed on ${req.path}; use POST`, {
        Allow: "POST",
      }),
    ),
  );
  app.use(notFound);
  app.use(errorHandler(logger));

  const loaded = (async () => {
    const started = process.hrtime.bigint();
    if (options.accelerator && !(await gpusReady(options.accelerator, health, logger))) return;
    try {
      const { instance, name } = await options.loadPredictor(logger);
      predictorName = name;
      await instance.load?.();
      const loadSeconds = Number(process.hrtime.bigint() - started) / 1e9;
      metrics.loadSeconds.set(loadSeconds);
      gate.serve(batchingPredictor(instance, options.batching, metrics.observeBatch));
      health.ready();
      logger.info({ predictor: name, loadSeconds }, "predictor loaded");
    } catch (error) {
      const reason = (error as Error)?.message ?? String(error);
      health.loadFailed(reason);
      logger.error({ err: error }, `predictor failed to load: ${reason}`);
    }
  })();

  // Bodies are read before a prediction takes a slot: under their own pace, and within a memory
  // budget as large as the slots' largest bodies (what reading them inside the slots allowed).
  const pace = new BodyPace({
    timeoutMs: options.bodyTimeoutMs ?? DEFAULTS.bodyTimeoutMs,
    minBytesPerSecond: options.bodyMinBytesPerSecond ?? DEFAULTS.bodyMinBytesPerSecond,
  });
  const uploads = new UploadBudget(admission.limits.maxInFlight * Math.max(limits.bodyBytes, limits.fileBytes), (req) =>
    clientKey(proxyAddr(req, trustProxy)),
  );
  // Middleware in one order: request id and log → auth → refuse early (not ready, overloaded) →
  // body pace and upload budget → body parsing → the predictor's input → slot → prediction.
  const beforeBody = [logRequest, requireToken, gate.check(), pace.watch()];
  const lane = predictLane(
    {
      [PREDICT_PATHS.generic]: [...beforeBody, uploads.reserve(limits.bodyBytes), ...routes.generic],
      [PREDICT_PATHS.dict]: [...beforeBody, uploads.reserve(limits.bodyBytes), ...routes.dict],
      [PREDICT_PATHS.image]: [...beforeBody, uploads.reserve(limits.fileBytes), ...routes.image],
    },
    (error, res) => answerError(logger, error, res),
  );
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    if (!lane(req, res)) app(req as never, res as never);
  };

  return { handler, app, health, admission, gate, metrics, logger, loaded };
}

/** The GPU check before the predictor loads; on failure the runtime stays in `load_failed`, with the reason in the log. */
async function gpusReady(expected: Gpus, health: Health, logger: Logger): Promise<boolean> {
  const result = await checkGpus(expected);
  health.gpusChecked({ check: result.check, names: result.devices.map((device) => device.name) });
  if (result.check === "passed") {
    logger.info({ gpus: result.devices }, `GPUs checked: ${result.devices.map((device) => device.name).join(", ")}`);
    return true;
  }
  const reason = `GPU check failed: ${result.reason}; the predictor is not loaded (it would run on the CPU)`;
  health.loadFailed(reason);
  logger.error({ expected }, reason);
  return false;
}
