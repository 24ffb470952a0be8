import { isIPv6 } from "node:net";

/** Decides whether a login attempt may go ahead; one per server (see sharedLoginLimiter.ts for workers). */
export interface LoginGuard {
  /**
   * Counts an attempt from `address` and returns 0 when it may go ahead, or the seconds it must wait
   * (the attempt is then not counted). Counting before the password is checked means concurrent
   * attempts cannot slip past the limit together; a success gives the client a fresh start.
   */
  attempt(address: string): Promise<number>;
  /** The attempt succeeded: the address starts afresh. */
  succeeded(address: string): void;
}

interface Attempts {
  count: number;
  resetAtMs: number;
}

/**
 * Counts login attempts per client in a fixed window; past the limit, that client is refused until
 * its window ends — before its password is checked, so a locked client learns nothing from further
 * guesses. Clients are IPv4 addresses, or IPv6 /64 networks (one subscriber's allocation, so a
 * single attacker cannot turn 2^64 addresses into 2^64 fresh counters).
 *
 * Only a client's own failures lock it: strangers failing elsewhere never refuse a correct
 * password. Memory is bounded by `maxTracked` clients. A locked client is never forgotten before
 * its window ends (flushing the table cannot unlock an attacker); a client still under the limit
 * may be — the oldest first — since forgetting it only gives back what a fresh address has
 * anyway. Only a table full of *locked* clients (`maxTracked` networks each failing
 * `maxAttempts` times within one window: a million failed logins a minute with the defaults,
 * several times what the runtime can answer) leaves new clients uncounted until space frees up.
 */
export class LoginLimiter {
  /** Clients under the limit, oldest first; and clients at it, who are refused until their window ends. */
  private readonly open = new Map<string, Attempts>();
  private readonly locked = new Map<string, Attempts>();

  constructor(
    private readonly maxAttempts: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
    private readonly maxTracked = 100_000,
  ) {}

  /** Clients held now (at most `maxTracked`). */
  get tracked(): number {
    return this.open.size + this.locked.size;
  }

  /** See {@link LoginGuard.attempt}. */
  attempt(address: string): number {
    const key = clientKey(address);
    const now = this.now();
    const locked = this.locked.get(key);
    if (locked) {
      if (locked.resetAtMs > now) return Math.ceil((locked.resetAtMs - now) / 1000);
      this.locked.delete(key);
    }
    const entry = this.open.get(key);
    if (entry && entry.resetAtMs > now) {
      entry.count += 1;
      if (entry.count >= this.maxAttempts) {
        this.open.delete(key);
        this.locked.set(key, entry);
      }
      return 0;
    }
    this.open.delete(key);
    if (this.makeRoom()) this.open.set(key, { count: 1, resetAtMs: now + this.windowMs });
    return 0;
  }

  /** See {@link LoginGuard.succeeded}. */
  succeeded(address: string): void {
    const key = clientKey(address);
    this.open.delete(key);
    this.locked.delete(key);
  }

  /** Whether a new client can be tracked, forgetting expired entries and then the oldest open one. */
  private makeRoom(): boolean {
    if (this.tracked < this.maxTracked) return true;
    // Each table is (about) in the order its windows end: expired entries are at its front.
    const now = this.now();
    for (const table of [this.open, this.locked])
      for (const [key, entry] of table) {
        if (entry.resetAtMs > now) break;
        table.delete(key);
      }
    if (this.tracked < this.maxTracked) return true;
    const oldestOpen = this.open.keys().next();
    if (oldestOpen.done) return false;
    this.open.delete(oldestOpen.value);
    return true;
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
