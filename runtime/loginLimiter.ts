/**
 * Counts failed logins per client address in a fixed window; past the limit, logins from that
 * address are refused until the window ends. Bounded: the oldest addresses are forgotten first.
 */
export class LoginLimiter {
  private readonly failures = new Map<string, { count: number; resetAtMs: number }>();

  constructor(
    private readonly maxFailures: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
    private readonly maxTracked = 10_000,
  ) {}

  /** Seconds the address must wait, or 0 when it may try. */
  retryAfterSeconds(address: string): number {
    const entry = this.failures.get(address);
    if (!entry) return 0;
    const remainingMs = entry.resetAtMs - this.now();
    if (remainingMs <= 0) {
      this.failures.delete(address);
      return 0;
    }
    return entry.count >= this.maxFailures ? Math.ceil(remainingMs / 1000) : 0;
  }

  recordFailure(address: string): void {
    const entry = this.failures.get(address);
    if (entry && entry.resetAtMs > this.now()) {
      entry.count += 1;
      return;
    }
    if (this.failures.size >= this.maxTracked) this.failures.delete(this.failures.keys().next().value as string);
    this.failures.set(address, { count: 1, resetAtMs: this.now() + this.windowMs });
  }

  recordSuccess(address: string): void {
    this.failures.delete(address);
  }
}
