import { BatchCost } from "./batchCost";

/** Bounds on the batches an {@link AdaptiveBatcher} forms. */
export interface BatchLimits {
  /** The most requests in one batch. */
  maxBatchSize: number;
  /** The longest the oldest waiting request is held back for others to join it while the model is idle. */
  maxWaitMs: number;
}

interface Waiting<I, O> {
  item: I;
  arrivedAt: number;
  resolve(result: O): void;
  reject(error: unknown): void;
}

// Weight of the newest gap in the running average of the time between arrivals.
const SMOOTHING = 0.1;

/**
 * Groups items submitted one by one into batches for a function that takes many at once, one batch
 * running at a time, and settles each item's promise with its own result or error.
 *
 * How it decides, after Triton's dynamic batcher and BentoML's adaptive dispatcher:
 * - while a batch runs, new items queue; when it ends, the next batch takes what queued, up to
 *   `maxBatchSize`, in arrival order (Triton: a batch forms when a model instance is free) — under
 *   load, batches grow by themselves and nobody waits on purpose;
 * - when the model is idle, a batch is sent at the end of the current event-loop turn (so every
 *   request already read joins it), unless waiting for the next request pays: the next arrival is
 *   expected sooner (the running average gap) than the batch cost it would save (the fixed part of a
 *   batch's duration, see {@link BatchCost}) divided among the requests already waiting — each of
 *   them waits that gap (BentoML waits while `n × (wait + tick) ≤ average wait`). It never holds
 *   the oldest request longer than `maxWaitMs` (Triton's `max_queue_delay_microseconds`).
 * - until a batch has been measured it does not wait at all, so one request at a time is never slower.
 */
export class AdaptiveBatcher<I, O> {
  private queue: Array<Waiting<I, O>> = [];
  private running = false;
  private decision: NodeJS.Immediate | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly cost = new BatchCost();
  private lastArrival: number | undefined;
  private averageGapMs: number | undefined;

  /**
   * @param run takes a batch, returns one result (or Error) per item, in order
   * @param observe told each batch's size and duration once it ends (for metrics)
   */
  constructor(
    private readonly run: (items: I[]) => Promise<ArrayLike<O | Error>> | ArrayLike<O | Error>,
    readonly limits: BatchLimits,
    private readonly observe: (size: number, durationMs: number) => void = () => {},
  ) {}

  /** Requests waiting for a batch. */
  get waiting(): number {
    return this.queue.length;
  }

  /** Resolves with this item's result, or rejects with its error (or the whole batch's). */
  submit(item: I): Promise<O> {
    const now = performance.now();
    if (this.lastArrival !== undefined) {
      const gap = now - this.lastArrival;
      this.averageGapMs =
        this.averageGapMs === undefined ? gap : this.averageGapMs + SMOOTHING * (gap - this.averageGapMs);
    }
    this.lastArrival = now;
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, arrivedAt: now, resolve, reject });
      this.decideAtTurnEnd();
    });
  }

  private decideAtTurnEnd(): void {
    if (this.running || this.decision) return;
    this.decision = setImmediate(() => {
      this.decision = undefined;
      this.decide();
    });
  }

  private decide(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.running || this.queue.length === 0) return;
    const holdMs = this.holdMs(performance.now());
    if (holdMs <= 0) return this.dispatch();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.decide();
    }, holdMs);
  }

  /** How much longer to hold the waiting requests for another to join; 0 to send them now. */
  private holdMs(now: number): number {
    const waiting = this.queue.length;
    if (waiting >= this.limits.maxBatchSize) return 0;
    const left = this.limits.maxWaitMs - (now - this.queue[0].arrivedAt);
    const saved = this.cost.fixedMs;
    if (left <= 0 || saved === undefined || this.averageGapMs === undefined || this.lastArrival === undefined) return 0;
    // A quiet spell longer than the average says the next request is further off than that.
    const expectedGapMs = Math.max(this.averageGapMs, now - this.lastArrival);
    if (waiting * expectedGapMs > saved) return 0;
    return Math.min(left, Math.max(1, expectedGapMs));
  }

  private dispatch(): void {
    const batch = this.queue.splice(0, this.limits.maxBatchSize);
    this.running = true;
    const started = performance.now();
    const done = () => {
      const durationMs = performance.now() - started;
      this.cost.record(batch.length, durationMs);
      this.running = false;
      this.observe(batch.length, durationMs);
      if (this.queue.length > 0) this.decideAtTurnEnd();
    };
    Promise.resolve()
      .then(() => this.run(batch.map((waiting) => waiting.item)))
      .then(
        (results) => {
          done();
          if (results?.length !== batch.length) {
            const error = new Error(
              `predictBatch() returned ${results?.length ?? "no"} results for ${batch.length} requests`,
            );
            for (const waiting of batch) waiting.reject(error);
            return;
          }
          batch.forEach((waiting, i) => {
            const result = results[i];
            if (result instanceof Error) waiting.reject(result);
            else waiting.resolve(result);
          });
        },
        (error: unknown) => {
          done();
          for (const waiting of batch) waiting.reject(error);
        },
      );
  }
}
