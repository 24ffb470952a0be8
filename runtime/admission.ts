import { HttpError } from "./errors";

/**
 * Backpressure: at most `maxInFlight` predictions run at once and at most `maxQueued` wait for a
 * slot; anything beyond is refused at once with 503 and `Retry-After`, so a slow model makes clients
 * retry instead of letting requests pile up until every one of them times out.
 */
export class Admission {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    readonly maxInFlight: number,
    readonly maxQueued: number,
    private readonly onRejected: () => void = () => {},
  ) {}

  get inFlight(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Resolves with a release function once a slot is free; throws a 503 when the queue is full. */
  async acquire(): Promise<() => void> {
    if (this.running < this.maxInFlight) {
      this.running += 1;
      return this.releaser();
    }
    if (this.waiting.length >= this.maxQueued) {
      this.onRejected();
      throw new HttpError(503, "Server busy: too many predictions in progress; retry shortly", { "Retry-After": "1" }, { status: "overloaded" });
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
    return this.releaser();
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next(); // the slot passes straight to the next waiter
      else this.running -= 1;
    };
  }
}
