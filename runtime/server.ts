import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createApp, type Runtime } from "./app";
import type { ServeConfig } from "./config";
import { loadPredictor } from "./loader";
import type { Logger } from "./logger";

/** One listening runtime process. */
export interface RunningServer {
  runtime: Runtime;
  port: number;
  /** Stops taking predictions (health says `draining`), lets in-flight ones finish, then closes. */
  drain(): Promise<void>;
}

/** Starts the runtime on `config.host:config.port`; the predictor loads in the background. */
export async function startServer(config: ServeConfig, logger?: Logger): Promise<RunningServer> {
  const runtime = createApp({ ...config.app, logger, loadPredictor: () => loadPredictor(config.predictorPath, config.entrypoint) });
  const server: Server = createServer(runtime.handler);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.host, () => resolve());
  });
  // Keep-alive longer than Caddy's, so the proxy never reuses a connection we just closed.
  server.keepAliveTimeout = 65_000;
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
      runtime.logger.info({ inFlight: runtime.admission.inFlight }, "draining: refusing new predictions, finishing in-flight ones");
      const deadline = Date.now() + config.drainSeconds * 1000;
      while ((runtime.admission.inFlight > 0 || runtime.admission.queued > 0) && Date.now() < deadline) {
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
