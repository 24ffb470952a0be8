import { request } from "node:http";
import { json, PASSWORD, startTestRuntime, USERNAME, type TestRuntime } from "../support/runtimeServer";

/** A raw request with `headers` in this order (fetch would reorder and merge them); resolves with the status. */
function send(url: string, path: string, headers: Array<[string, string]>, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const raw = [["host", "localhost"], ...headers].flat(); // raw headers: Node adds no Host of its own
    const req = request(`${url}${path}`, { method: "POST", agent: false, headers: raw }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("requests that try the edges of the API", () => {
  let server: TestRuntime;
  let token: string;
  beforeAll(async () => {
    server = await startTestRuntime("runtime/echo.cjs");
    token = await server.token();
  });
  afterAll(() => server.close());

  // RFC 6750 §2.3 lets a token ride in the query; URLs land in logs and Referer headers, so not here.
  it.each([
    ["GET", "/metrics?access_token=TOKEN", undefined],
    ["POST", "/predict_dict?access_token=TOKEN", '{"payload":{}}'],
    ["POST", "/predict?access_token=TOKEN", "x"],
  ])("refuses a valid token in the URL: %s %s", async (method, path, body) => {
    const response = await fetch(`${server.url}${path.replace("TOKEN", token)}`, {
      method,
      body,
      headers: { "content-type": "application/json" },
    });
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toBe("Bearer");
    expect(((await response.json()) as { error: string }).error).toMatch(/Tokens in the URL are not accepted/);
  });

  it("refuses a valid token in a form body", async () => {
    const response = await fetch(`${server.url}/predict`, {
      method: "POST",
      body: new URLSearchParams({ access_token: token }),
    });
    expect(response.status).toBe(401);
  });

  it.each([
    ["a lower-case scheme", (t: string) => `bearer ${t}`, 200],
    ["no scheme", (t: string) => t, 401],
    ["two spaces", (t: string) => `Bearer  ${t}`, 401],
    ["a forged signature", (t: string) => `Bearer ${t.slice(0, -4)}AAAA`, 401],
    ["Basic credentials", () => `Basic ${Buffer.from("budget:x").toString("base64")}`, 401],
  ])("reads the Authorization header strictly: %s", async (_name, header, status) => {
    const response = await fetch(`${server.url}/predict_dict`, {
      method: "POST",
      headers: { authorization: header(token), "content-type": "application/json" },
      body: "{}",
    });
    expect(response.status).toBe(status);
  });

  it.each([
    ["POST", "/PREDICT_DICT"],
    ["POST", "/Predict"],
    ["GET", "/METRICS"],
    ["GET", "/DOCS"],
  ])(
    "matches paths with their case, on the predict lane and in Express alike: %s %s is no route",
    async (method, path) => {
      const response = await fetch(`${server.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: method === "POST" ? "{}" : undefined,
      });
      expect(response.status).toBe(404);
      expect(((await response.json()) as { error: string }).error).toBe(
        `No route ${method} ${path}; the API is described at /docs`,
      );
    },
  );

  it("says 405 only when another method would work, and names it truly", async () => {
    const response = await fetch(`${server.url}/predict_dict/`, { method: "GET" });
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("POST");
    expect(((await response.json()) as { error: string }).error).toBe("GET is not allowed on /predict_dict/; use POST");
    expect((await fetch(`${server.url}/predict_dict/`, json(token, { payload: { a: 1 } }))).status).toBe(200);
  });

  it("reads every header within the size limit: 1,000 junk headers hide neither X-Forwarded-For nor Authorization", async () => {
    const junk = Array.from({ length: 1000 }, (_, i): [string, string] => [`x-junk-${i}`, "1"]);
    const login = (password: string, from?: string) =>
      send(
        server.url,
        "/token",
        [
          ...junk,
          ...(from ? [["x-forwarded-for", from] as [string, string]] : []),
          ["content-type", "application/x-www-form-urlencoded"],
        ],
        new URLSearchParams({ username: USERNAME, password }).toString(),
      );
    // Ten failures counted against the address the proxy names, not against the proxy itself...
    for (let i = 0; i < 10; i += 1) expect(await login("wrong", "203.0.113.50")).toBe(401);
    expect(await login("wrong", "203.0.113.50")).toBe(429);
    // ...so the proxy's own address (every other client behind it) is not locked.
    expect(await login(PASSWORD)).toBe(200);
    const predicted = await send(
      server.url,
      "/predict_dict",
      [...junk, ["authorization", `Bearer ${token}`], ["content-type", "application/json"]],
      '{"payload":{}}',
    );
    expect(predicted).toBe(200);
  });
});

describe("GET / for anyone", () => {
  it("answers the state only, never the reason load() failed", async () => {
    const server = await startTestRuntime("runtime/loadFails.cjs");
    try {
      const response = await fetch(`${server.url}/`);
      expect(response.status).toBe(503);
      const text = await response.text();
      expect(JSON.parse(text)).toEqual({
        status: "load_failed",
        predictor: expect.any(String),
        version: expect.any(String),
      });
      expect(text).not.toMatch(/weights|not found/);
      expect(server.logLines.some((line) => line.includes("weights.bin not found"))).toBe(true);
    } finally {
      await server.close();
    }
  });
});
