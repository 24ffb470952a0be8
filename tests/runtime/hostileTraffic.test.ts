import { connect, type Socket } from "node:net";
import { json, PASSWORD, startTestRuntime, USERNAME, type TestRuntime } from "../support/runtimeServer";

// The medium items of issue #23, replayed against the runtime (the sources and the shipped
// server.cjs) with default settings: every loop is bounded in count and time, all on loopback.

/** A login attempt as the proxy in front forwards it: the client's address in X-Forwarded-For. */
async function loginFrom(url: string, address: string, password: string): Promise<number> {
  const response = await fetch(`${url}/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", "x-forwarded-for": address },
    body: new URLSearchParams({ username: USERNAME, password }),
  });
  await response.arrayBuffer();
  return response.status;
}

/** Runs `task(i)` for i in [0, count) with at most `concurrency` at once. */
async function inParallel(count: number, concurrency: number, task: (i: number) => Promise<unknown>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

describe("hostile traffic", () => {
  let server: TestRuntime;
  let token: string;
  beforeAll(async () => {
    server = await startTestRuntime("runtime/echo.cjs");
    token = await server.token();
  });
  afterAll(() => server.close());

  it("10,100 failed logins from distinct IPv6 /64s do not lock the owner out; each attacker stays limited", async () => {
    await inParallel(10_100, 32, (i) =>
      loginFrom(server.url, `2001:db8:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}::1`, "wrong"),
    );
    // The owner, from an address the table has never seen, with the right password.
    expect(await loginFrom(server.url, "198.51.100.7", PASSWORD)).toBe(200);
    // An attacker's /64 still gets its 10 attempts per minute, then 429 — before its password is checked.
    const statuses: number[] = [];
    for (let i = 0; i < 10; i += 1) statuses.push(await loginFrom(server.url, "2001:db8:0:1::2", "wrong"));
    expect(statuses).toEqual([...Array(9).fill(401), 429]);
    expect(await loginFrom(server.url, "2001:db8:0:1::3", PASSWORD)).toBe(429);
  }, 120_000);

  it("40 slow uploads with one token starve no other prediction, and are cut off by the minimum rate", async () => {
    const { port } = new URL(server.url);
    const answers: string[] = [];
    const open = new Set<Socket>();
    const attackUntil = Date.now() + 3000;
    // An upload that sends its headers, then one byte a second; the attacker reopens each one cut off.
    const slowUpload = (): Promise<void> =>
      new Promise((resolve) => {
        const socket = connect(Number(port), "127.0.0.1");
        open.add(socket);
        let received = "";
        socket.on("data", (chunk) => (received += chunk));
        socket.on("error", () => {});
        const drip = setInterval(() => socket.write(" "), 1000);
        socket.once("connect", () =>
          socket.write(
            `POST /predict_dict HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{`,
          ),
        );
        socket.once("close", () => {
          clearInterval(drip);
          open.delete(socket);
          answers.push(received);
          resolve(Date.now() < attackUntil ? slowUpload() : undefined);
        });
      });
    const attack = Promise.all(Array.from({ length: 40 }, slowUpload));
    await new Promise((resolve) => setTimeout(resolve, 200)); // the uploads are in
    const started = Date.now();
    const predictions: number[] = [];
    while (Date.now() - started < 2500) {
      const response = await fetch(`${server.url}/predict_dict`, {
        ...json(token, { payload: { n: predictions.length } }),
        signal: AbortSignal.timeout(2000),
      });
      predictions.push(response.status);
      await response.arrayBuffer();
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(predictions.length).toBeGreaterThan(5);
    expect(predictions.every((status) => status === 200)).toBe(true);
    // No drip outlasts the minimum rate (1 KiB/s after the first second): each is answered 408.
    await Promise.race([attack, new Promise((resolve) => setTimeout(resolve, 10_000))]);
    for (const socket of open) socket.destroy();
    expect(answers.length).toBeGreaterThanOrEqual(40);
    for (const answer of answers) expect(answer).toMatch(/^HTTP\/1\.1 408 [\s\S]*arrived slower than 1024 bytes\/s/);
  }, 30_000);

  it("8 MB of nested JSON is refused with 400 before parsing; the worker keeps answering", async () => {
    const depth = 1_600_000;
    const body = `{"payload":${'{"a":'.repeat(depth)}1${"}".repeat(depth)}}`;
    const health = (async () => {
      const slowest: number[] = [];
      for (let i = 0; i < 10; i += 1) {
        const started = performance.now();
        expect((await fetch(`${server.url}/`)).status).toBe(200);
        slowest.push(performance.now() - started);
      }
      return slowest;
    })();
    const response = await fetch(`${server.url}/predict_dict`, { ...json(token, {}), body });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: "JSON nested deeper than 64 levels; flatten the payload" });
    await health;
    const keys = Object.fromEntries(Array.from({ length: 100_001 }, (_, i) => [`k${i}`, 0]));
    const wide = await fetch(`${server.url}/predict_dict`, json(token, { payload: keys }));
    expect(wide.status).toBe(400);
    expect(await wide.json()).toMatchObject({ error: "JSON with more than 100000 object keys; send fewer" });
    expect((await fetch(`${server.url}/predict_dict`, json(token, { payload: { still: "up" } }))).status).toBe(200);
  }, 30_000);
});
