import { readServeConfig } from "../../runtime/cli/config";
import { createLogger } from "../../contracts/cloudLogging";
import { startServer, type RunningServer } from "../../runtime/server/server";
import { fixturePath, login, scrape, TEST_RUNTIME_ENV, type RuntimeUnderTest } from "./runtimeServer";

/** Options of {@link startInProcessRuntime}. */
export interface InProcessRuntimeOptions {
  /**
   * Settings as the VM passes them (`BUDGET_MAX_IN_FLIGHT`, …), read by the runtime's own
   * configuration code. Other names (a fixture's `BUSY_PREDICT_MS`) are set in this process's
   * environment while the runtime runs, for the predictor to read. @default none
   */
  env?: Record<string, string>;
  /** Exported predictor class. @default the runtime's default */
  entrypoint?: string;
}

/** The runtime served from the test's own process: its HTTP behaviour without a process around it. */
export interface InProcessRuntime extends RuntimeUnderTest {
  server: RunningServer;
  /**
   * Each time every running prediction outlived its timeout, how many there were: a `serve`
   * process would recycle itself then (tests/runtime/hungPredictor.test.ts runs that).
   */
  wedged: number[];
  /** Drains as SIGTERM does: health says draining, in-flight predictions finish, then it closes. */
  close(): Promise<void>;
}

/**
 * Starts the runtime as one `serve` worker does — the same configuration code over the same
 * settings, the same server (runtime/server/server.ts) — in this process, on a free port of
 * 127.0.0.1, and resolves once the predictor has loaded (or failed to). `predictor` is a file under
 * tests/fixtures or an absolute path. What only a process shows (signals, workers, exit codes, the
 * shipped bundle) is tested on `serve` processes: see tests/support/runtimeServer.ts.
 */
export async function startInProcessRuntime(
  predictor: string,
  options: InProcessRuntimeOptions = {},
): Promise<InProcessRuntime> {
  const env: Record<string, string> = { ...TEST_RUNTIME_ENV, ...options.env };
  const config = readServeConfig(env, {
    predictor: fixturePath(predictor),
    entrypoint: options.entrypoint,
    port: "0",
    host: "127.0.0.1",
    workers: "1",
  });
  const predictorEnv = Object.keys(options.env ?? {}).filter((name) => !name.startsWith("BUDGET_"));
  const previous = new Map(predictorEnv.map((name) => [name, process.env[name]]));
  for (const name of predictorEnv) process.env[name] = env[name];

  const logLines: string[] = [];
  let rest = "";
  const logger = createLogger({
    destination: {
      write(text: string) {
        const lines = (rest + text).split("\n");
        rest = lines.pop() ?? "";
        logLines.push(...lines.filter(Boolean));
      },
    },
  });
  const wedged: number[] = [];
  const server = await startServer(config, logger, (overdue) => {
    wedged.push(overdue);
    logger.error({ overdue }, "every running prediction outlived its timeout; slots stay held");
  });
  await server.runtime.loaded;
  const url = `http://127.0.0.1:${server.port}`;
  return {
    url,
    server,
    logLines,
    wedged,
    token: () => login(url),
    metric: async (sample) => (await scrape(url, [sample]))[0],
    metrics: (...samples) => scrape(url, samples),
    close: async () => {
      await server.drain();
      for (const [name, value] of previous) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    },
  };
}
