import { basename } from "node:path";
import { HttpError } from "../../http/errors";
import type { Predictor, PredictRequest } from "../predictor";
import { EncodedPrediction } from "../../http/respond";
import { PythonHost, type PythonHostOptions } from "./pythonHost";

const RESTART_DELAYS_MS = [0, 1000, 2000, 5000, 10_000, 30_000];

/**
 * A Python predictor (`class Predictor` with `load(self)` and `predict(self, request)` in a .py
 * file) behind the same contract as a TypeScript one: `load()` starts this worker's Python process
 * and waits for the class's own `load()`; `predict()` sends the request over the channel.
 *
 * A process that dies after loading is started again at once (then with growing delays if it
 * keeps dying); its in-flight predictions get 500, predictions arriving meanwhile 503.
 *
 * A prediction past `abandonAfterMs` has had its answer (504) and holds its admission slot until
 * it settles. When every prediction the process is running is such a one, nothing useful runs in
 * it: the process is killed and started again, which frees their slots.
 */
export class PythonPredictor implements Predictor {
  private host: PythonHost | undefined;
  private stopped = false;
  private restarts = 0;
  /** Predictions running in the process, and how many of them are past `abandonAfterMs`. */
  private running = 0;
  private overdue = 0;

  constructor(private readonly options: PythonHostOptions & { abandonAfterMs?: number }) {}

  /** `<file>:<class>`, as the health check reports it. */
  get name(): string {
    return `${basename(this.options.predictorPath)}:${this.options.entrypoint || "Predictor"}`;
  }

  /** The running process (undefined while restarting). */
  get process(): PythonHost | undefined {
    return this.host;
  }

  async load(): Promise<void> {
    this.adopt(await PythonHost.start(this.options));
  }

  async predict(input: PredictRequest): Promise<EncodedPrediction> {
    const host = this.host;
    if (!host) throw new HttpError(503, "The Python predictor is restarting; retry shortly", { "Retry-After": "2" });
    const [header, body] = await toFrame(input);
    this.running += 1;
    let late = false;
    const { abandonAfterMs } = this.options;
    const timer =
      abandonAfterMs === undefined
        ? undefined
        : setTimeout(() => {
            late = true;
            this.overdue += 1;
            this.killIfOnlyAbandoned(host);
          }, abandonAfterMs);
    try {
      const answer = await host.call(header, body);
      const { status, headers } = answer.header as { status: number; headers: Array<[string, string]> };
      return new EncodedPrediction(status, headers, answer.body);
    } finally {
      clearTimeout(timer);
      this.running -= 1;
      if (late) this.overdue -= 1;
      this.killIfOnlyAbandoned(host);
    }
  }

  private killIfOnlyAbandoned(host: PythonHost): void {
    if (this.host !== host || this.overdue === 0 || this.overdue < this.running) return;
    this.options.logger.error(
      { pid: host.pid, abandoned: this.overdue, afterMs: this.options.abandonAfterMs },
      "every prediction the Python process is running outlived its timeout; restarting it",
    );
    host.kill();
  }

  /** Ends the Python process (after the predictions it is running) and does not restart it. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.host?.stop();
  }

  private adopt(host: PythonHost): void {
    this.host = host;
    void host.exited.then(({ code, signal }) => {
      if (this.stopped || this.host !== host) return;
      this.host = undefined;
      this.options.logger.error({ pid: host.pid, code, signal }, "the Python predictor process died; starting another");
      this.restart();
    });
  }

  private restart(): void {
    const delay = RESTART_DELAYS_MS[Math.min(this.restarts, RESTART_DELAYS_MS.length - 1)];
    this.restarts += 1;
    setTimeout(() => {
      if (this.stopped) return;
      PythonHost.start(this.options).then(
        (host) => {
          if (this.stopped) return void host.stop();
          this.restarts = 0;
          this.options.logger.info({ pid: host.pid }, "the Python predictor is serving again");
          this.adopt(host);
        },
        (error: Error) => {
          this.options.logger.error({ err: error }, `the Python predictor failed to start again: ${error.message}`);
          this.restart();
        },
      );
    }, delay).unref();
  }
}

/** The request as a frame: what Python needs to rebuild FastAPI's object for the endpoint, and the raw body. */
async function toFrame(input: PredictRequest): Promise<[Record<string, unknown>, Buffer]> {
  if (input instanceof Request) {
    const headers: Array<[string, string]> = [];
    input.headers.forEach((value, name) => headers.push([name, value]));
    return [{ kind: "generic", method: input.method, url: input.url, headers }, Buffer.from(await input.arrayBuffer())];
  }
  if ("payload" in input) return [{ kind: "dict" }, Buffer.from(JSON.stringify(input.payload))];
  return [{ kind: "image", filename: input.filename, contentType: input.contentType }, input.bytes];
}
