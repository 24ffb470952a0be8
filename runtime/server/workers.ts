import cluster from "node:cluster";
import { DEFAULTS, LOGIN_WINDOW_MS } from "../app";
import type { ServeConfig } from "../cli/config";
import { LoginLimiter } from "../auth/loginLimiter";
import { createLogger } from "../logger";
import { startServer } from "./server";
import { serveLoginLimiter } from "../auth/sharedLoginLimiter";

type Listening = { type: "budgetml:listening"; port: number };
const RESPAWN_DELAY_MS = 1000;

/**
 * Runs the runtime in `config.workers` processes sharing one port (node:cluster), each loading its
 * own predictor, or in this process when one worker is asked for. SIGTERM drains every worker and
 * then exits 0; a worker that dies otherwise is replaced.
 */
export async function serveWithWorkers(config: ServeConfig, onListening: (port: number) => void): Promise<void> {
  const logger = createLogger();
  if (config.workers === 1 || cluster.isWorker) {
    const server = await startServer(config, logger);
    if (cluster.isWorker) process.send?.({ type: "budgetml:listening", port: server.port } satisfies Listening);
    else onListening(server.port);
    const stop = () => void server.drain().then(() => logger.flush(() => process.exit(0)));
    // `on`, not `once`: under systemd a worker gets SIGTERM twice (the unit's whole process group is
    // signalled, then the primary forwards it), and a second one must not end the drain.
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
    return;
  }

  serveLoginLimiter(new LoginLimiter(config.app.maxFailedLogins ?? DEFAULTS.maxFailedLogins, LOGIN_WINDOW_MS));
  let stopping = false;
  let announced = false;
  const fork = () => {
    const worker = cluster.fork();
    worker.on("message", (message: Listening) => {
      if (message?.type === "budgetml:listening" && !announced) {
        announced = true;
        onListening(message.port);
      }
    });
  };
  cluster.on("exit", (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    logger.error({ pid: worker.process.pid, code, signal }, "worker died; starting another");
    setTimeout(fork, RESPAWN_DELAY_MS).unref();
  });
  const stop = () => {
    if (stopping) return;
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill("SIGTERM");
  };
  // `on`, as in the workers: a second SIGTERM (a preemption notice and the shutdown script both
  // stopping the runtime) must not kill the primary mid-drain, which would take its workers along.
  process.on("SIGTERM", stop);
  process.once("SIGINT", stop);
  for (let i = 0; i < config.workers; i += 1) fork();
}
