import cluster from "node:cluster";
import { DEFAULTS, LOGIN_WINDOW_MS } from "../app";
import type { ServeConfig } from "../cli/config";
import { LoginLimiter } from "../auth/loginLimiter";
import { createLogger } from "../../contracts/cloudLogging";
import { startServer } from "./server";
import { serveLoginLimiter } from "../auth/sharedLoginLimiter";
import { serveClusterMetrics } from "../clusterMetrics";
import { CREDENTIALS_SOURCE, encodeCredentials } from "../../contracts/runtimeCredentials";

type Listening = { type: "budgetml:listening"; port: number };
/** A worker whose every running prediction hangs asks the primary for its replacement. */
type Recycling = { type: "budgetml:recycling" };
const RESPAWN_DELAY_MS = 1000;

/** The exit code of a process recycled because its predictions hang (EX_TEMPFAIL): a supervisor starts it again. */
export const RECYCLED_EXIT_CODE = 75;

/**
 * Runs the runtime in `config.workers` processes sharing one port (node:cluster), each loading its
 * own predictor, or in this process when one worker is asked for. SIGTERM drains every worker and
 * then exits 0; a worker that dies otherwise is replaced.
 *
 * A worker whose every running prediction has outlived its timeout (a `predict()` that never
 * settles cannot be cancelled) is recycled: the primary starts its replacement at once, and the
 * worker drains what it can — predictions that can still finish — then exits. With one worker the
 * process exits {@link RECYCLED_EXIT_CODE} after draining, for its supervisor (systemd on a VM) to
 * start it again.
 */
export async function serveWithWorkers(config: ServeConfig, onListening: (port: number) => void): Promise<void> {
  const logger = createLogger();
  if (config.workers === 1 || cluster.isWorker) {
    let recycling = false;
    const recycle = (overdue: number) => {
      if (recycling) return;
      recycling = true;
      logger.error({ overdue }, "every running prediction outlived its timeout; recycling this worker");
      if (cluster.isWorker) process.send?.({ type: "budgetml:recycling" } satisfies Recycling);
      void server.drain().then(() => logger.flush(() => process.exit(RECYCLED_EXIT_CODE)));
    };
    const server = await startServer(config, logger, recycle);
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
  serveClusterMetrics();
  let stopping = false;
  let announced = false;
  // Credentials that came on standard input reach each worker the same way, never in its environment.
  const stdinCredentials =
    process.env[CREDENTIALS_SOURCE.name] === CREDENTIALS_SOURCE.stdin
      ? encodeCredentials({
          BUDGET_USERNAME: config.app.credentials.username,
          BUDGET_PWD: config.app.credentials.password,
          BUDGET_TOKEN: config.app.tokenSigningKey,
        })
      : undefined;
  if (stdinCredentials) cluster.setupPrimary({ stdio: ["pipe", "inherit", "inherit", "ipc"] });
  const replaced = new Set<number>();
  const fork = () => {
    const worker = cluster.fork();
    if (stdinCredentials) worker.process.stdin?.end(stdinCredentials);
    worker.on("message", (message: Listening | Recycling) => {
      if (message?.type === "budgetml:listening" && !announced) {
        announced = true;
        onListening(message.port);
      }
      if (message?.type === "budgetml:recycling" && !stopping && !replaced.has(worker.id)) {
        replaced.add(worker.id);
        logger.warn({ pid: worker.process.pid }, "recycling a worker whose predictions hang; starting its replacement");
        fork();
      }
    });
  };
  const exitOnceNoWorkerIsLeft = () => {
    if (Object.keys(cluster.workers ?? {}).length === 0) logger.flush(() => process.exit(0));
  };
  cluster.on("exit", (worker, code, signal) => {
    if (stopping) return exitOnceNoWorkerIsLeft();
    if (replaced.delete(worker.id)) return;
    logger.error({ pid: worker.process.pid, code, signal }, "worker died; starting another");
    // Not once stopping: a worker started after the stop would never be told to drain, and the
    // primary, waiting for every worker to exit, would never exit. Not unref'd: when every worker
    // died at once, this timer is all that keeps the primary from exiting 0 with none serving.
    setTimeout(() => stopping || fork(), RESPAWN_DELAY_MS);
  });
  const stop = () => {
    if (stopping) return;
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill("SIGTERM");
    exitOnceNoWorkerIsLeft(); // every worker had died, their replacements not yet started
  };
  // `on`, as in the workers: a second SIGTERM (a preemption notice and the shutdown script both
  // stopping the runtime) must not kill the primary mid-drain, which would take its workers along.
  process.on("SIGTERM", stop);
  process.once("SIGINT", stop);
  for (let i = 0; i < config.workers; i += 1) fork();
}
