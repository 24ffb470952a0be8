import { basename } from "node:path";
import { ERRORS, HttpError } from "../../http/errors";
import type { Predictor, PredictRequest } from "../predictor";
import { EncodedPrediction } from "../../http/respond";
import type { Frame } from "./frames";
import { PythonHost, pythonRestarting, type PythonHostOptions } from "./pythonHost";

/** Delays before each new process after a death or a replacement, the n-th incident in a row using the n-th. */
const RESTART_DELAYS_MS = [0, 1000, 2000, 5000, 10_000, 30_000];
/** A process that serves this long without dying or being replaced ends the row: the next incident starts at 0 again. */
const STABLE_AFTER_MS = 60_000;

/** One prediction (or batch) a process is running, and when it was sent. */
interface Running {
  startedAt: number;
  overdue: boolean;
  /** Settles the prediction's promise now (its client already had 504), whatever Python does with it later. */
  abandon(): void;
}

/** A Python process and the predictions it runs. */
class HostProcess {
  readonly running = new Set<Running>();
  overdue = 0;
  /** Set once it only runs predictions past their timeout: a new process is on its way. */
  condemned = false;
  /** Whether its event loop answered since it was condemned (a prediction stuck in a thread leaves it free). */
  responsive = false;
  readonly since = performance.now();

  constructor(readonly host: PythonHost) {}

  /** Every running prediction has outlived its timeout: nothing useful runs here. */
  get onlyOverdue(): boolean {
    return this.overdue > 0 && this.overdue >= this.running.size;
  }

  /** Sends one call; it settles when Python answers, or at once when abandoned (see {@link abandonOverdue}). */
  call(header: Record<string, unknown>, body: Buffer, onSettled: () => void): Promise<Frame> {
    return new Promise<Frame>((resolve, reject) => {
      const finish = (settle: () => void, notify: boolean) => {
        if (!this.running.delete(entry)) return; // abandoned earlier: Python's late answer goes nowhere
        if (entry.overdue) this.overdue -= 1;
        settle();
        if (notify) onSettled();
      };
      const entry: Running = {
        startedAt: performance.now(),
        overdue: false,
        abandon: () =>
          finish(
            () => reject(new HttpError(ERRORS.BUDGETML_PREDICT_TIMEOUT, "predict() was abandoned past its timeout")),
            false,
          ),
      };
      this.running.add(entry);
      this.host.call(header, body).then(
        (frame) => finish(() => resolve(frame), true),
        (error: Error) => finish(() => reject(error), true),
      );
    });
  }

  /** Marks predictions past `afterMs`; returns whether any newly became overdue. */
  markOverdue(afterMs: number, now: number): boolean {
    let marked = false;
    for (const entry of this.running) {
      if (!entry.overdue && now - entry.startedAt >= afterMs) {
        entry.overdue = true;
        this.overdue += 1;
        marked = true;
      }
    }
    return marked;
  }

  /** Frees the slots of its overdue predictions at once (their clients already had 504). */
  abandonOverdue(): void {
    for (const entry of [...this.running]) if (entry.overdue) entry.abandon();
  }
}

/**
 * A Python predictor (`class Predictor` with `load(self)` and `predict(self, request)` in a .py
 * file) behind the same contract as a TypeScript one: `load()` starts this worker's Python process
 * and waits for the class's own `load()`; `predict()` sends the request over the channel, and
 * `predictBatch()` (when the class defines `predict_batch`) a whole batch in one frame.
 *
 * A process that dies is started again (its in-flight predictions get 500, predictions arriving
 * meanwhile 503).
 *
 * A prediction past `abandonAfterMs` has had its answer (504) and holds its admission slot until
 * it settles. When every prediction a process is running is such a one, nothing useful runs in it:
 * their slots are freed and a new process is started, while the old one keeps taking predictions
 * (a model stuck on one input in a thread still answers the others). Once the new one has loaded,
 * it takes over and the old one ends when what it still runs is done — at once if its event loop
 * is stuck too.
 *
 * Deaths and replacements in a row wait longer and longer before the next process starts
 * ({@link RESTART_DELAYS_MS}); a process that serves {@link STABLE_AFTER_MS} ends the row. A
 * client that keeps sending the one slow input cannot make the worker reload its model in a loop.
 */
export class PythonPredictor implements Predictor {
  private serving: HostProcess | undefined;
  private readonly retiring = new Set<HostProcess>();
  private replacing = false;
  private stopped = false;
  /** Deaths and replacements in a row. */
  private incidents = 0;
  private sweeper: NodeJS.Timeout | undefined;

  /** Set after `load()` when the Python class defines `predict_batch`: runs a batch in one call. */
  predictBatch?: (inputs: PredictRequest[]) => Promise<Array<EncodedPrediction | Error>>;

  constructor(private readonly options: PythonHostOptions & { abandonAfterMs?: number }) {}

  /** `<file>:<class>`, as the health check reports it. */
  get name(): string {
    return `${basename(this.options.predictorPath)}:${this.options.entrypoint || "Predictor"}`;
  }

  /** The process taking new predictions (undefined while restarting). */
  get process(): PythonHost | undefined {
    return this.serving?.host;
  }

  async load(): Promise<void> {
    const host = await PythonHost.start(this.options);
    this.adopt(host);
    if (host.batches) this.predictBatch = (inputs) => this.sendBatch(inputs);
    const { abandonAfterMs } = this.options;
    if (abandonAfterMs !== undefined) {
      // One sweep for every prediction rather than a timer each: lateness is noticed within a tenth
      // of the timeout and at most 250 ms after it — well before the runtime would take a process
      // whose every prediction stays past its timeout for a second for wedged, and recycle it whole.
      this.sweeper = setInterval(() => this.sweep(), Math.max(10, Math.min(250, abandonAfterMs / 10)));
      this.sweeper.unref();
    }
  }

  predict(input: PredictRequest): Promise<EncodedPrediction> {
    // A Web Request's body must be read first; the other requests are sent in this very turn.
    if (input instanceof Request) return readRequest(input).then((frame) => this.predictFrame(frame));
    return this.predictFrame(toFrame(input));
  }

  private predictFrame([header, body]: [Record<string, unknown>, Buffer]): Promise<EncodedPrediction> {
    return this.send(header, body).then((answer) => encoded(answer.header, answer.body));
  }

  private async sendBatch(inputs: PredictRequest[]): Promise<Array<EncodedPrediction | Error>> {
    const frames = await Promise.all(
      inputs.map((input) => (input instanceof Request ? readRequest(input) : toFrame(input))),
    );
    const items = frames.map(([header, body]) => ({ ...header, length: body.length }));
    const answer = await this.send({ kind: "batch", items }, Buffer.concat(frames.map(([, body]) => body)));
    return splitBatchAnswer(answer, inputs.length);
  }

  private send(header: Record<string, unknown>, body: Buffer): Promise<Frame> {
    const python = this.serving;
    if (!python) return Promise.reject(pythonRestarting());
    return python.call(header, body, () => this.settled(python));
  }

  /** Ends every Python process (after the predictions it is running) and starts no other. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.sweeper);
    await Promise.all([this.serving, ...this.retiring].map((python) => python?.host.stop()));
  }

  private sweep(): void {
    const now = performance.now();
    const afterMs = this.options.abandonAfterMs as number;
    for (const python of [this.serving, ...this.retiring]) {
      if (python?.markOverdue(afterMs, now)) this.settled(python);
    }
  }

  /** After a prediction settled or turned overdue: replace a process stuck on abandoned work, end a retired one that is done. */
  private settled(python: HostProcess): void {
    if (python.condemned) python.abandonOverdue();
    if (this.retiring.has(python)) {
      if (python.running.size === 0) this.end(python);
      return;
    }
    if (python !== this.serving || python.condemned || !python.onlyOverdue) return;
    python.condemned = true;
    this.options.logger.error(
      { pid: python.host.pid, abandoned: python.overdue, afterMs: this.options.abandonAfterMs },
      "every prediction the Python process is running outlived its timeout; starting a new process, the old one serves meanwhile",
    );
    python.abandonOverdue();
    void python.host.ping().then(
      () => (python.responsive = true),
      () => undefined,
    );
    this.replace(python);
  }

  private adopt(host: PythonHost): void {
    const python = new HostProcess(host);
    this.serving = python;
    void host.exited.then(({ code, signal }) => {
      this.retiring.delete(python);
      if (this.stopped || this.serving !== python) return;
      this.serving = undefined;
      this.options.logger.error({ pid: host.pid, code, signal }, "the Python predictor process died");
      this.replace(python);
    });
  }

  /**
   * Starts a new process after the backoff delay; it takes over once loaded. `failed` is the
   * process that died or got stuck (none when a new one failed to start): one that had served
   * {@link STABLE_AFTER_MS} ends the row of incidents.
   */
  private replace(failed?: HostProcess): void {
    if (this.replacing || this.stopped) return;
    this.replacing = true;
    if (failed && performance.now() - failed.since >= STABLE_AFTER_MS) this.incidents = 0;
    const delayMs = RESTART_DELAYS_MS[Math.min(this.incidents, RESTART_DELAYS_MS.length - 1)];
    this.incidents += 1;
    this.options.logger.info({ delayMs }, `starting a new Python process in ${delayMs} ms`);
    setTimeout(() => {
      if (this.stopped) return;
      PythonHost.start(this.options).then(
        (host) => {
          this.replacing = false;
          if (this.stopped) return void host.stop();
          const old = this.serving;
          this.adopt(host);
          this.options.logger.info({ pid: host.pid }, "the Python predictor is serving again");
          if (old) this.retire(old);
        },
        (error: Error) => {
          this.replacing = false;
          this.options.logger.error({ err: error }, `the Python predictor failed to start again: ${error.message}`);
          this.replace();
        },
      );
    }, delayMs).unref();
  }

  /** The process a new one replaced: it finishes what it runs, unless its event loop is stuck. */
  private retire(python: HostProcess): void {
    this.retiring.add(python);
    if (python.running.size === 0 || !python.responsive) this.end(python);
  }

  private end(python: HostProcess): void {
    this.retiring.delete(python);
    python.host.kill(pythonRestarting());
  }
}

/** The request as a frame: what Python needs to rebuild FastAPI's object for the endpoint, and the raw body. */
function toFrame(input: Exclude<PredictRequest, Request>): [Record<string, unknown>, Buffer] {
  if ("payload" in input) return [{ kind: "dict" }, Buffer.from(JSON.stringify(input.payload))];
  return [{ kind: "image", filename: input.filename, contentType: input.contentType }, input.bytes];
}

/** `POST /predict`'s Web Request as a frame, once its body is read. */
async function readRequest(input: Request): Promise<[Record<string, unknown>, Buffer]> {
  const headers: Array<[string, string]> = [];
  input.headers.forEach((value, name) => headers.push([name, value]));
  return [{ kind: "generic", method: input.method, url: input.url, headers }, Buffer.from(await input.arrayBuffer())];
}

function encoded(header: Record<string, unknown>, body: Buffer): EncodedPrediction {
  const { status, headers } = header as { status: number; headers: Array<[string, string]> };
  return new EncodedPrediction(status, headers, body);
}

/** A batch answer: one item per request, each an answer or the error to answer that request with. */
function splitBatchAnswer(answer: Frame, expected: number): Array<EncodedPrediction | Error> {
  const items = answer.header.items as Array<Record<string, unknown>>;
  if (!Array.isArray(items) || items.length !== expected)
    throw new Error(
      `predict_batch() returned ${Array.isArray(items) ? items.length : "no"} results for ${expected} requests`,
    );
  let offset = 0;
  return items.map((item) => {
    const length = Number(item.length ?? 0);
    const body = answer.body.subarray(offset, offset + length);
    offset += length;
    return item.ok ? encoded(item, body) : PythonHost.errorOf(item);
  });
}
