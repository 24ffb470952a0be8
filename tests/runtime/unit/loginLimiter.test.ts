import { clientKey, LoginLimiter } from "../../../runtime/auth/loginLimiter";

describe("LoginLimiter", () => {
  it("refuses past the limit until the window ends, and a success starts the address afresh", () => {
    let now = 0;
    const limiter = new LoginLimiter(3, 60_000, () => now);
    expect([1, 2, 3].map(() => limiter.attempt("10.0.0.1"))).toEqual([0, 0, 0]);
    expect(limiter.attempt("10.0.0.1")).toBe(60);
    now = 59_001;
    expect(limiter.attempt("10.0.0.1")).toBe(1);
    now = 60_000;
    expect(limiter.attempt("10.0.0.1")).toBe(0);
    limiter.succeeded("10.0.0.1");
    expect(limiter.tracked).toBe(0);
  });

  it("cannot be flushed by many addresses: a locked address stays locked, memory stays bounded", () => {
    const now = 0;
    const limiter = new LoginLimiter(3, 60_000, () => now, 100);
    for (let i = 0; i < 3; i += 1) limiter.attempt("203.0.113.7");
    expect(limiter.attempt("203.0.113.7")).toBeGreaterThan(0);
    for (let i = 0; i < 10_000; i += 1) limiter.attempt(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    expect(limiter.tracked).toBeLessThanOrEqual(100);
    expect(limiter.attempt("203.0.113.7")).toBeGreaterThan(0);
  });

  it("strangers filling the table never lock out a new client: the owner's first attempt goes ahead", () => {
    const limiter = new LoginLimiter(10, 60_000, () => 0, 10_000);
    // The attack of issue #23: 10,100 failed logins, each from a /64 of its own.
    for (let i = 0; i < 10_100; i += 1)
      limiter.attempt(`2001:db8:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}::1`);
    expect(limiter.tracked).toBeLessThanOrEqual(10_000);
    expect(limiter.attempt("198.51.100.1")).toBe(0);
    // Brute force stays bounded for the newcomer as for anyone: its own failures lock it.
    for (let i = 0; i < 9; i += 1) expect(limiter.attempt("198.51.100.1")).toBe(0);
    expect(limiter.attempt("198.51.100.1")).toBeGreaterThan(0);
  });

  it("forgets clients under the limit before locked ones, and expired ones first of all", () => {
    let now = 0;
    const limiter = new LoginLimiter(2, 60_000, () => now, 3);
    limiter.attempt("10.0.0.1");
    limiter.attempt("10.0.0.1"); // locked
    limiter.attempt("10.0.0.2"); // one failure
    limiter.attempt("10.0.0.3"); // one failure
    limiter.attempt("10.0.0.4"); // full: 10.0.0.2, the oldest client under the limit, is forgotten
    expect(limiter.tracked).toBe(3);
    expect(limiter.attempt("10.0.0.1")).toBeGreaterThan(0);
    limiter.attempt("10.0.0.3"); // now locked too
    limiter.attempt("10.0.0.4"); // and this one
    // A table full of locked clients: a newcomer is let through uncounted, the locked stay locked.
    expect(limiter.attempt("10.0.0.5")).toBe(0);
    expect(limiter.tracked).toBe(3);
    expect(limiter.attempt("10.0.0.3")).toBeGreaterThan(0);
    now = 60_000; // every window over: room again
    expect(limiter.attempt("10.0.0.6")).toBe(0);
    expect(limiter.attempt("10.0.0.1")).toBe(0);
  });

  it("counts an IPv6 client by its /64 network and an IPv4-mapped one by its IPv4 address", () => {
    expect(clientKey("2001:db8:1:2:aaaa::1")).toBe("2001:db8:1:2::/64");
    expect(clientKey("2001:DB8:0001:0002:ffff:ffff:ffff:ffff")).toBe("2001:db8:1:2::/64");
    expect(clientKey("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(clientKey("::ffff:192.0.2.1")).toBe("192.0.2.1");
    expect(clientKey("192.0.2.1")).toBe("192.0.2.1");
    const limiter = new LoginLimiter(2, 60_000, () => 0);
    limiter.attempt("2001:db8:1:2::a");
    limiter.attempt("2001:db8:1:2::b");
    expect(limiter.attempt("2001:db8:1:2::c")).toBeGreaterThan(0);
  });
});
