import cluster from "node:cluster";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createApp, DEFAULTS, type AppOptions, type Runtime } from "../app";
import type { ServeConfig } from "../cli/config";
import { loadPredictor } from "../predictor/loader";
import type { Logger } from "../../contracts/cloudLogging";
import { sharedLoginGuard } from "../auth/sharedLoginLimiter";
import { ERRORS, HttpError } from "../http/errors";

/** One listening runtime process. */
export interface RunningServer {
  runtime: Runtime;
  port: number;
  /** Stops taking predictions (health says `draining`), lets in-flight ones finish, then closes. */
  drain(): Promise<void>;
}

/**
 * Node's limits on how long a client may take to send its request, for an inference API: headers
 * within `headersTimeoutMs` (10 s by default; Node's default is 60 s), the whole request within
 * that plus the body deadline (Node's default is 5 minutes), checked every second rather than every
 * 30 s. A prediction's body is also under the runtime's own pace (see bodyPace.ts), which
 * answers 408 in JSON; these catch everything else, /token included.
 */
export function serverTimeouts(config: Pick<ServeConfig, "headersTimeoutMs" | "app">) {
  const bodyTimeoutMs = config.app.bodyTimeoutMs ?? DEFAULTS.bodyTimeoutMs;
  return {
    headersTimeout: config.headersTimeoutMs,
    requestTimeout: config.headersTimeoutMs + bodyTimeoutMs + 1000,
    connectionsCheckingInterval: Math.min(1000, config.headersTimeoutMs),
  };
}

/**
 * Starts the runtime on `config.host:config.port`; the predictor loads in the background.
 * `onWedged`: see {@link AppOptions.onWedged} (workers.ts recycles the process).
 */
export async function startServer(
  config: ServeConfig,
  logger?: Logger,
  onWedged?: AppOptions["onWedged"],
): Promise<RunningServer> {
  const runtime = createApp({
    ...config.app,
    logger,
    onWedged,
    loadPredictor: (runtimeLogger) =>
      loadPredictor(
        config.predictorPath,
        config.entrypoint,
        runtimeLogger,
        config.app.predictTimeoutMs ?? DEFAULTS.predictTimeoutMs,
      ),
    // Workers share one port, so they share one limiter: the primary's (see workers.ts).
    loginGuard: cluster.isWorker ? sharedLoginGuard() : undefined,
    // A scrape reaches one worker; it answers for all of them (see runtime/clusterMetrics.ts).
    metricsAcrossWorkers: cluster.isWorker,
  });
  const server: Server = createServer(serverTimeouts(config), runtime.handler);
  // Every header is read, within Node's 16 KiB header size limit: with Node's default count limit
  // (2000 entries, names and values each counted: 1000 headers), a client sending 1000 junk
  // headers first would push X-Forwarded-For and Authorization out of what the runtime sees.
  server.maxHeadersCount = 0;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.host, () => resolve());
  });
  // Idle keep-alive longer than the proxy's (Caddy's 30 s, see images/vm/renderConfig.ts; Google's
  // load balancer's 600 s, see contracts/loadBalancer.ts), so the proxy never reuses a connection
  // the runtime has just closed.
  server.keepAliveTimeout = config.keepAliveSeconds * 1000;
  const port = (server.address() as AddressInfo).port;
  let draining: Promise<void> | undefined;

  const drain = () =>
    (draining ??= (async () => {
      if (config.handoffMs > 0) {
        // Behind Caddy during a switch to new bundles: let its health check move traffic first.
        runtime.health.handOff();
        await new Promise((resolve) => setTimeout(resolve, config.handoffMs));
      }
      runtime.health.draining();
      runtime.logger.info(
        { inFlight: runtime.admission.inFlight },
        "draining: refusing new predictions, finishing in-flight ones",
      );
      // Predictions past their timeout have had their answer (504): waiting for them helps nobody.
      const finishing = () => runtime.admission.inFlight - runtime.gate.overduePredictions;
      const deadline = Date.now() + config.drainSeconds * 1000;
      while ((finishing() > 0 || runtime.admission.queued > 0) && Date.now() < deadline) {
        // Every slot held by a prediction that will not finish: the queue's turn never comes.
        if (finishing() === 0)
          runtime.admission.refuseWaiting(
            () =>
              new HttpError(
                ERRORS.BUDGETML_SHUTTING_DOWN,
                "The server is shutting down; retry shortly",
                { "Retry-After": "2" },
                { status: "draining" },
              ),
          );
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const abandoned = runtime.admission.inFlight;
      if (abandoned > 0) runtime.logger.warn({ abandoned }, "drain window over with predictions still running");
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 1000).unref();
      });
    })());

  return { runtime, port, drain };
}
