import { isIPv6 } from "node:net";

/** Decides whether a login attempt may go ahead; one per server (see sharedLoginLimiter.ts for workers). */
export interface LoginGuard {
  /**
   * Counts an attempt from `address` and returns 0 when it may go ahead, or the seconds it must wait
   * (the attempt is then not counted). Counting before the password is checked means concurrent
   * attempts cannot slip past the limit together.
   */
  attempt(address: string): Promise<number>;
  /** The attempt succeeded: the address starts afresh. */
  succeeded(address: string): void;
}

/** Where attempts are counted once the table is full: together, under one shared key. */
const OVERFLOW = "overflow";

/**
 * Counts login attempts per client in a fixed window; past the limit, that client is refused until
 * its window ends. Clients are IPv4 addresses, or IPv6 /64 networks (one subscriber's allocation,
 * so a single attacker cannot turn 2^64 addresses into 2^64 fresh counters).
 *
 * Memory is bounded by `maxTracked` entries, and no entry is ever dropped before its window ends:
 * an attacker with many addresses cannot flush the table to unlock one. When the table is full,
 * new clients share one overflow counter with the same limit — during such an attack, logins from
 * new addresses are refused for a window, and every locked client stays locked.
 */
export class LoginLimiter {
  private readonly attempts = new Map<string, { count: number; resetAtMs: number }>();

  constructor(
    private readonly maxAttempts: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
    private readonly maxTracked = 10_000,
  ) {}

  /** Entries held now (at most `maxTracked` + the overflow entry). */
  get tracked(): number {
    return this.attempts.size;
  }

  /** See {@link LoginGuard.attempt}. */
  attempt(address: string): number {
    const key = this.keyFor(address);
    const now = this.now();
    const entry = this.attempts.get(key);
    if (!entry || entry.resetAtMs <= now) {
      this.attempts.set(key, { count: 1, resetAtMs: now + this.windowMs });
      return 0;
    }
    if (entry.count >= this.maxAttempts) return Math.ceil((entry.resetAtMs - now) / 1000);
    entry.count += 1;
    return 0;
  }

  /** See {@link LoginGuard.succeeded}; the shared overflow counter is left as it is. */
  succeeded(address: string): void {
    const key = clientKey(address);
    if (this.attempts.has(key)) this.attempts.delete(key);
  }

  private keyFor(address: string): string {
    const key = clientKey(address);
    if (this.attempts.has(key)) return key;
    if (this.attempts.size < this.maxTracked) return key;
    this.forgetExpired();
    return this.attempts.size < this.maxTracked ? key : OVERFLOW;
  }

  private forgetExpired(): void {
    const now = this.now();
    for (const [key, entry] of this.attempts) if (entry.resetAtMs <= now) this.attempts.delete(key);
  }
}

/** An IPv4 address as is; an IPv6 address as its /64 network. */
export function clientKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1];
  if (!isIPv6(address)) return address;
  const [head, tail = ""] = address.toLowerCase().split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups = address.includes("::")
    ? [...left, ...Array(8 - left.length - right.length).fill("0"), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((group) => group.replace(/^0+(?=.)/, ""))
    .join(":")}::/64`;
}

/** A {@link LoginGuard} over a limiter in this process (one worker, or the cluster's primary). */
export function localLoginGuard(limiter: LoginLimiter): LoginGuard {
  return {
    attempt: async (address) => limiter.attempt(address),
    succeeded: (address) => limiter.succeeded(address),
  };
}
