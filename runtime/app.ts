import type { IncomingMessage, ServerResponse } from "node:http";
import express, { type Express } from "express";
import { Admission } from "./admission/admission";
import { batchingPredictor, type BatchingOptions } from "./batching/batchingPredictor";
import { bodyDeadline } from "./http/bodyDeadline";
import { bearerAuth, tokenRoute, type Credentials } from "./auth/handlers";
import { answerError, errorHandler, notFound } from "./http/errorHandler";
import { HttpError } from "./http/errors";
import { Health } from "./health";
import type { LoadedPredictor } from "./predictor/loader";
import { createLogger, type Logger } from "./logger";
import { LoginLimiter, localLoginGuard, type LoginGuard } from "./auth/loginLimiter";
import { createMetrics, type RuntimeMetrics } from "./metrics";
import { predictLane } from "./http/predictLane";
import { docsRoutes } from "./routes/docs";
import { PredictionGate } from "./admission/predictionGate";
import { predictRoutes, type BodyLimits } from "./routes/predict";
import { requestLog } from "./http/requestLog";
import { createTokenService } from "./auth/tokens";
import { RUNTIME_VERSION } from "./version";

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
  /**
   * How long a prediction's body may take to arrive once admitted, before 408 (a slow upload holds
   * a slot while it arrives). @default 15000
   */
  bodyTimeoutMs?: number;
  /** Predictions running at once in this process. @default 4 */
  maxInFlight?: number;
  /** Predictions waiting for a slot before new ones get 503. @default 64 */
  maxQueued?: number;
  /**
   * The longest wait for a slot a new prediction may expect (queue position ÷ slots × average slot
   * time) before it gets 503 with `Retry-After` instead of queueing. @default 2000
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
  maxInFlight: 4,
  maxQueued: 64,
  maxQueueWaitMs: 2000,
  maxFailedLogins: 10,
};

/** The window failed logins are counted in. */
export const LOGIN_WINDOW_MS = 60_000;

const PREDICT_PATHS = { generic: "/predict", dict: "/predict_dict", image: "/predict_image" } as const;

/** Builds the inference server. No module-level state: every call is an independent server. */
export function createApp(options: AppOptions): Runtime {
  const logger = options.logger ?? createLogger();
  const metrics = createMetrics(() => admission.queued, { acrossWorkers: options.metricsAcrossWorkers });
  const health = new Health(options.bundle);
  const admission = new Admission(
    {
      maxInFlight: options.maxInFlight ?? DEFAULTS.maxInFlight,
      maxQueued: options.maxQueued ?? DEFAULTS.maxQueued,
      maxQueueWaitMs: options.maxQueueWaitMs ?? DEFAULTS.maxQueueWaitMs,
    },
    () => metrics.rejected.inc({ reason: "overloaded" }),
  );
  const gate = new PredictionGate(health, admission, metrics, options.predictTimeoutMs ?? DEFAULTS.predictTimeoutMs);
  const tokens = createTokenService(options.tokenSigningKey, options.tokenTtlSeconds ?? DEFAULTS.tokenTtlSeconds);
  const limiter =
    options.loginGuard ??
    localLoginGuard(new LoginLimiter(options.maxFailedLogins ?? DEFAULTS.maxFailedLogins, LOGIN_WINDOW_MS));
  const requireToken = bearerAuth(tokens);
  const routes = predictRoutes(gate, {
    bodyBytes: options.limits?.bodyBytes ?? DEFAULTS.bodyBytes,
    fileBytes: options.limits?.fileBytes ?? DEFAULTS.fileBytes,
  });
  let predictorName = "(loading)";

  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false); // answers are per-request predictions: hashing them for ETags is wasted work
  // Only the proxy in front of us may say who the client is: Caddy on loopback, or — for a custom
  // image under docker — Caddy as seen from inside the container (the docker bridge's gateway).
  app.set("trust proxy", options.trustedProxy ?? "loopback");
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
    next(new HttpError(405, `${req.method} is not allowed on ${req.path}; use POST`, { Allow: "POST" })),
  );
  app.use(notFound);
  app.use(errorHandler(logger));

  const loaded = (async () => {
    const started = process.hrtime.bigint();
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

  // Middleware in one order: request id and log → auth → admission → body deadline → body parsing → prediction.
  const admit = [gate.admit(), bodyDeadline(options.bodyTimeoutMs ?? DEFAULTS.bodyTimeoutMs)];
  const lane = predictLane(
    {
      [PREDICT_PATHS.generic]: [logRequest, requireToken, ...admit, ...routes.generic],
      [PREDICT_PATHS.dict]: [logRequest, requireToken, ...admit, ...routes.dict],
      [PREDICT_PATHS.image]: [logRequest, requireToken, ...admit, ...routes.image],
    },
    (error, res) => answerError(logger, error, res),
  );
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    if (!lane(req, res)) app(req as never, res as never);
  };

  return { handler, app, health, admission, metrics, logger, loaded };
}
