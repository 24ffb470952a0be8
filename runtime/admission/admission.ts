import { HttpError } from "../http/errors";

/** Bounds on admission; see {@link Admission}. */
export interface AdmissionLimits {
  /** Predictions running at once. */
  maxInFlight: number;
  /** Predictions waiting for a slot, at most. */
  maxQueued: number;
  /**
   * The longest a newly queued prediction should expect to wait for a slot, in milliseconds:
   * past it the request is refused at once. Infinity turns the bound off.
   */
  maxQueueWaitMs: number;
}

/** The client went away while waiting for a slot; nobody reads this answer. */
export class Abandoned extends HttpError {
  constructor() {
    super(499, "The client closed the request while it waited for a slot");
  }
}

interface Waiter {
  grant: () => void;
  leave: (why: HttpError) => void;
}

// Weight of the newest hold time in the running average: recent enough to follow a model whose
// speed changes with its inputs, smooth enough that one outlier does not shed a burst.
const SMOOTHING = 0.2;

/**
 * Backpressure: at most `maxInFlight` predictions hold a slot at once; others wait in a queue that
 * is bounded twice — by length and by the wait a newcomer can expect (its place in the queue
 * divided by the slots, times the average time a slot is held). Beyond either bound the request is
 * refused at once with 503 and `Retry-After`, so clients retry instead of piling up until every
 * one of them times out.
 *
 * A waiter whose client goes away (its `AbortSignal` fires) leaves the queue at once: a slot is
 * only ever handed to a request that is still there, so abandoned requests cannot hold slots.
 */
export class Admission {
  private running = 0;
  private readonly waiting = new Set<Waiter>();
  private averageHoldMs: number | undefined;

  constructor(
    readonly limits: AdmissionLimits,
    private readonly onRejected: () => void = () => {},
  ) {}

  get inFlight(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiting.size;
  }

  /** The wait a request queued now should expect, in ms; 0 while a slot is free or nothing is measured yet. */
  get expectedWaitMs(): number {
    if (this.running < this.limits.maxInFlight || this.averageHoldMs === undefined) return 0;
    return ((this.waiting.size + 1) / this.limits.maxInFlight) * this.averageHoldMs;
  }

  /**
   * Resolves with a release function once this request holds a slot. Throws a 503 when the queue
   * is full or too slow, and {@link Abandoned} when `abandoned` fires while waiting.
   */
  async acquire(abandoned?: AbortSignal): Promise<() => void> {
    if (abandoned?.aborted) throw new Abandoned();
    if (this.running < this.limits.maxInFlight) {
      this.running += 1;
      return this.releaser();
    }
    const waitMs = this.expectedWaitMs;
    if (this.waiting.size >= this.limits.maxQueued || waitMs > this.limits.maxQueueWaitMs)
      throw this.overloaded(waitMs);
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => waiter.leave(new Abandoned());
      const waiter: Waiter = {
        grant: () => {
          abandoned?.removeEventListener("abort", onAbort);
          resolve();
        },
        leave: (why) => {
          abandoned?.removeEventListener("abort", onAbort);
          this.waiting.delete(waiter);
          reject(why);
        },
      };
      this.waiting.add(waiter);
      abandoned?.addEventListener("abort", onAbort, { once: true });
    });
    return this.releaser();
  }

  /**
   * Refuses the newest waiters whose expected wait, by what is known now, passes the bound. Until
   * the first prediction finishes nothing is known, so a cold burst queues up to `maxQueued`; this
   * sends back the part of it that would wait too long as soon as the model's speed is measured.
   */
  private shedQueueTail(): void {
    const averageMs = this.averageHoldMs as number;
    if (((this.waiting.size - 1) / this.limits.maxInFlight) * averageMs <= this.limits.maxQueueWaitMs) return;
    const waiters = [...this.waiting];
    // After this release hands its slot on, waiter i (from 0) expects (i / slots) × average.
    for (
      let i = waiters.length - 1;
      i >= 0 && (i / this.limits.maxInFlight) * averageMs > this.limits.maxQueueWaitMs;
      i -= 1
    ) {
      waiters[i].leave(this.overloaded((i / this.limits.maxInFlight) * averageMs));
    }
  }

  private overloaded(waitMs: number): HttpError {
    this.onRejected();
    // Tell the client to come back when the queue should have room, in whole seconds.
    const retryAfter = Math.max(1, Math.ceil(waitMs / 1000));
    return new HttpError(
      503,
      "Server busy: too many predictions in progress; retry shortly",
      { "Retry-After": String(retryAfter) },
      { status: "overloaded" },
    );
  }

  private releaser(): () => void {
    const heldSince = performance.now();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const heldMs = performance.now() - heldSince;
      this.averageHoldMs =
        this.averageHoldMs === undefined ? heldMs : this.averageHoldMs + SMOOTHING * (heldMs - this.averageHoldMs);
      this.shedQueueTail();
      // The slot passes straight to the longest waiter (a Set iterates in insertion order).
      const next = this.waiting.values().next();
      if (next.done) {
        this.running -= 1;
        return;
      }
      this.waiting.delete(next.value);
      next.value.grant();
    };
  }
}
