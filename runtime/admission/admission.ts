import { ERRORS, HttpError } from "../http/errors";

/** Bounds on admission; see {@link Admission}. */
export interface AdmissionLimits {
  /** Predictions running at once. */
  maxInFlight: number;
  /** Predictions waiting for a slot, at most. */
  maxQueued: number;
  /**
   * The longest a queued prediction may expect to wait for its slot, in milliseconds, counted from
   * when it arrived: past it the request is refused (at once, or as soon as the queue learns it
   * cannot make it). Infinity turns the bound off.
   */
  maxQueueWaitMs: number;
}

/** A request waiting for a slot. The queue calls exactly one of `granted` or `refused`, once. */
export interface Waiter {
  /** The request holds a slot now; it must give it back with {@link Admission.release}. */
  granted(): void;
  /** The request will not get a slot (503: the queue learnt it would wait too long). */
  refused(error: HttpError): void;
}

interface Queued {
  waiter: Waiter;
  sinceMs: number;
}

// Weight of the newest hold time in the running average: recent enough to follow a model whose
// speed changes with its inputs, smooth enough that one outlier does not shed a burst.
const SMOOTHING = 0.2;

/**
 * Backpressure: at most `maxInFlight` predictions hold a slot at once; others wait in a queue that
 * is bounded twice — by length and by the wait a request can expect (its place in the queue
 * divided by the slots, times the average time a slot is held, plus the time it has waited
 * already). Beyond either bound the request is refused with 503 and `Retry-After`, so clients
 * retry instead of piling up until every one of them times out.
 *
 * A slot is taken synchronously when one is free: the common case costs a comparison and an
 * increment, no promise, no timer, no listener. A queued request that is abandoned (its client went
 * away) must {@link leave} the queue: a slot is only ever handed to a request that is still there.
 */
export class Admission {
  private running = 0;
  private readonly waiting = new Map<Waiter, Queued>();
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
    return this.waitAt(this.waiting.size);
  }

  /** Takes a free slot, if there is one: true when the caller now holds it. */
  tryAcquire(): boolean {
    if (this.running >= this.limits.maxInFlight) return false;
    this.running += 1;
    return true;
  }

  /**
   * The 503 a request arriving now would get, or undefined when it may go ahead (a free slot, or
   * room in the queue within the wait bound). Takes nothing: used to refuse before a body is read.
   */
  refusalNow(): HttpError | undefined {
    if (this.running < this.limits.maxInFlight) return undefined;
    const waitMs = this.expectedWaitMs;
    if (this.waiting.size >= this.limits.maxQueued || waitMs > this.limits.maxQueueWaitMs)
      return this.overloaded(waitMs);
    return undefined;
  }

  /**
   * A slot for `waiter`: granted at once when one is free (`granted` is called before this
   * returns), queued otherwise, or refused at once (`refused`) when the queue is full or too slow.
   */
  acquire(waiter: Waiter): void {
    if (this.tryAcquire()) return waiter.granted();
    const refusal = this.refusalNow();
    if (refusal) return waiter.refused(refusal);
    this.waiting.set(waiter, { waiter, sinceMs: performance.now() });
  }

  /** Refuses every queued request with `error` (its slots will not come: see the server's drain). */
  refuseWaiting(error: () => HttpError): void {
    for (const { waiter } of [...this.waiting.values()]) {
      this.waiting.delete(waiter);
      waiter.refused(error());
    }
  }

  /** Takes a queued request out of the queue (its client went away); false if it was not queued. */
  leave(waiter: Waiter): boolean {
    return this.waiting.delete(waiter);
  }

  /**
   * Gives back a slot; `heldMs`, how long a prediction held it, feeds the average hold time (a slot
   * given back unused passes none). The slot passes straight to the longest waiter still queued.
   */
  release(heldMs?: number): void {
    if (heldMs !== undefined)
      this.averageHoldMs =
        this.averageHoldMs === undefined ? heldMs : this.averageHoldMs + SMOOTHING * (heldMs - this.averageHoldMs);
    if (this.waiting.size > 0 && this.averageHoldMs !== undefined) this.shedHopeless();
    // A Map iterates in insertion order: the first entry has waited longest.
    const next = this.waiting.values().next();
    if (next.done) {
      this.running -= 1;
      return;
    }
    this.waiting.delete(next.value.waiter);
    next.value.waiter.granted();
  }

  /** Expected wait, in ms, of the request at `position` in the queue (0 = next to get a slot). */
  private waitAt(position: number): number {
    return ((position + 1) / this.limits.maxInFlight) * (this.averageHoldMs as number);
  }

  /**
   * Refuses the waiters who, by what is known now, will not get their slot within the wait bound
   * counted from their arrival. Until the first prediction finishes nothing is known, so a cold
   * burst queues up to `maxQueued`; this sends back the part of it that would wait too long as soon
   * as the model's speed is measured, instead of letting it wait and answering late.
   */
  private shedHopeless(): void {
    const now = performance.now();
    const oldest = this.waiting.values().next().value as Queued;
    // The oldest waiter has waited longest and the newest expects the longest wait: if even their
    // sum is within the bound, every waiter is (the common case under load, checked in O(1)).
    if (now - oldest.sinceMs + this.waitAt(this.waiting.size - 2) <= this.limits.maxQueueWaitMs) return;
    let position = -1; // after this release hands its slot on, the first waiter expects no wait
    for (const { waiter, sinceMs } of [...this.waiting.values()]) {
      const waitMs = position < 0 ? 0 : this.waitAt(position);
      if (now - sinceMs + waitMs > this.limits.maxQueueWaitMs) {
        this.waiting.delete(waiter);
        waiter.refused(this.overloaded(waitMs));
      } else position += 1;
    }
  }

  private overloaded(waitMs: number): HttpError {
    this.onRejected();
    // Tell the client to come back when the queue should have room, in whole seconds.
    const retryAfter = Math.max(1, Math.ceil(waitMs / 1000));
    return new HttpError(
      ERRORS.BUDGETML_OVERLOADED,
      "Server busy: too many predictions in progress; retry shortly",
      { "Retry-After": String(retryAfter) },
      { status: "overloaded" },
    );
  }
}
