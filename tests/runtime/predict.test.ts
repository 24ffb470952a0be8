import { request } from "node:http";
import { startInProcessRuntime, type InProcessRuntime } from "../support/inProcessRuntime";
import { json } from "../support/runtimeServer";
import { waitFor } from "../support/waitFor";

const upload = (token: string, field: string, bytes: Uint8Array<ArrayBuffer>, filename = "cat.png"): RequestInit => {
  const form = new FormData();
  form.append(field, new Blob([bytes], { type: "image/png" }), filename);
  return { method: "POST", headers: { authorization: `Bearer ${token}` }, body: form };
};

describe("predict endpoints over real HTTP", () => {
  let server: InProcessRuntime;
  let token: string;
  beforeAll(async () => {
    server = await startInProcessRuntime("runtime/echo.cjs", {
      env: { BUDGET_MAX_BODY_BYTES: "1024", BUDGET_MAX_FILE_BYTES: "2048", BUDGET_PREDICT_TIMEOUT_MS: "200" },
    });
    token = await server.token();
  });
  afterAll(() => server.close());

  it("called load() once before serving, and the health check says ready", async () => {
    const response = await fetch(`${server.url}/`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      status: "ready",
      predictor: expect.stringMatching(/echo\.cjs:Predictor$/),
      version: expect.any(String),
    });
    const loads = await fetch(`${server.url}/predict_dict`, json(token, { payload: { action: "loads" } }));
    expect(await loads.json()).toEqual({ loads: 1 });
  });

  it("/predict hands the predictor the request itself, raw body readable", async () => {
    const response = await fetch(`${server.url}/predict/`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "text/csv" },
      body: "a,b\n1,2",
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ method: "POST", contentType: "text/csv", body: "a,b\n1,2" });
  });

  it("/predict_dict/ (seed's trailing slash) hands over the payload", async () => {
    const response = await fetch(`${server.url}/predict_dict/`, json(token, { payload: { text: "hi", n: [1, 2] } }));
    expect(await response.json()).toEqual({ got: { text: "hi", n: [1, 2] } });
  });

  it("treats an absent payload as {}", async () => {
    const response = await fetch(`${server.url}/predict_dict`, json(token, {}));
    expect(await response.json()).toEqual({ got: {} });
  });

  it.each(["request", "file"])("/predict_image takes the upload in field %s", async (field) => {
    const response = await fetch(`${server.url}/predict_image`, upload(token, field, new Uint8Array([7, 8, 9])));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ filename: "cat.png", contentType: "image/png", size: 3, first: 7 });
  });

  it("sends a Web Response back with its status, headers and bytes", async () => {
    const response = await fetch(`${server.url}/predict_dict`, json(token, { payload: { action: "image" } }));
    expect(response.status).toBe(201);
    expect(response.headers.get("content-type")).toBe("image/png");
    expect(response.headers.get("x-model")).toBe("echo");
    expect([...new Uint8Array(await response.arrayBuffer())]).toEqual([137, 80, 78, 71]);
  });

  it("sends Buffers as octet-stream and strings as text", async () => {
    const bytes = await fetch(`${server.url}/predict_dict`, json(token, { payload: { action: "bytes" } }));
    expect(bytes.headers.get("content-type")).toMatch(/^application\/octet-stream/);
    expect(await bytes.text()).toBe("raw-bytes");
    const text = await fetch(`${server.url}/predict_dict`, json(token, { payload: { action: "text" } }));
    expect(text.headers.get("content-type")).toMatch(/^text\/plain/);
    expect(await text.text()).toBe("plain words");
  });

  const bad: Array<[string, () => [string, RequestInit], number, RegExp, string]> = [
    [
      "malformed JSON",
      () => ["/predict_dict", { ...json(token, {}), body: '{"payload":' }],
      400,
      /Malformed JSON/,
      "BUDGETML_JSON_MALFORMED",
    ],
    [
      "a non-object payload",
      () => ["/predict_dict", json(token, { payload: [1] })],
      422,
      /"payload" must be a JSON object, got an array/,
      "BUDGETML_PAYLOAD_INVALID",
    ],
    [
      "a JSON array body",
      () => ["/predict_dict", json(token, [1])],
      422,
      /must be a JSON object/,
      "BUDGETML_PAYLOAD_INVALID",
    ],
    [
      "a form body on /predict_dict",
      () => [
        "/predict_dict",
        { method: "POST", headers: { authorization: `Bearer ${token}` }, body: new URLSearchParams({ a: "1" }) },
      ],
      415,
      /Expected a JSON body/,
      "BUDGETML_CONTENT_TYPE_UNSUPPORTED",
    ],
    [
      "JSON over the body limit",
      () => ["/predict_dict", json(token, { payload: { text: "x".repeat(2000) } })],
      413,
      /limit is 1024 bytes/,
      "BUDGETML_BODY_TOO_LARGE",
    ],
    [
      "a raw body over the limit",
      () => ["/predict", { method: "POST", headers: { authorization: `Bearer ${token}` }, body: "x".repeat(2000) }],
      413,
      /limit is 1024 bytes/,
      "BUDGETML_BODY_TOO_LARGE",
    ],
    [
      "JSON on /predict_image",
      () => ["/predict_image", json(token, {})],
      415,
      /multipart\/form-data/,
      "BUDGETML_CONTENT_TYPE_UNSUPPORTED",
    ],
    [
      "no file",
      () => [
        "/predict_image",
        (() => {
          const f = new FormData();
          f.append("note", "x");
          return { method: "POST", headers: { authorization: `Bearer ${token}` }, body: f };
        })(),
      ],
      422,
      /Missing file/,
      "BUDGETML_FILE_MISSING",
    ],
    [
      "a file in another field",
      () => ["/predict_image", upload(token, "image", new Uint8Array([1]))],
      422,
      /Unexpected file field "image"/,
      "BUDGETML_FILE_FIELD_UNEXPECTED",
    ],
    [
      "a file over the limit",
      () => ["/predict_image", upload(token, "request", new Uint8Array(4096))],
      413,
      /limit is 2048 bytes/,
      "BUDGETML_FILE_TOO_LARGE",
    ],
    [
      "a truncated multipart body",
      () => [
        "/predict_image",
        {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "multipart/form-data; boundary=XYZ" },
          body: '--XYZ\r\nContent-Disposition: form-data; name="request"; filename="a"\r\n\r\nabc',
        },
      ],
      400,
      /Malformed/,
      "BUDGETML_UPLOAD_MALFORMED",
    ],
    [
      "a predictor that refuses its input with a 4xx status",
      () => ["/predict_dict", json(token, { payload: { action: "refuse" } })],
      422,
      /^text is required$/,
      "BUDGETML_PREDICTOR_REJECTED",
    ],
    [
      "a predictor that throws an error with a status that is not a 4xx",
      () => ["/predict_dict", json(token, { payload: { action: "throw503" } })],
      500,
      /^Internal error: the details are in the server's log under this request id$/,
      "BUDGETML_INTERNAL",
    ],
    [
      "a predictor that throws",
      () => ["/predict_dict", json(token, { payload: { action: "throw" } })],
      500,
      /^Internal error: the details are in the server's log under this request id$/,
      "BUDGETML_INTERNAL",
    ],
    [
      "a value JSON cannot carry",
      () => ["/predict_dict", json(token, { payload: { action: "bigint" } })],
      500,
      /^Internal error: the details are in the server's log under this request id$/,
      "BUDGETML_INTERNAL",
    ],
    [
      "a predictor slower than the timeout",
      () => ["/predict_dict", json(token, { payload: { action: "slow" } })],
      504,
      /did not finish within 200 ms/,
      "BUDGETML_PREDICT_TIMEOUT",
    ],
  ];
  it.each(bad)(
    "answers %s with a clear JSON error and keeps serving",
    async (_name, request, status, message, code) => {
      const [path, init] = request();
      const response = await fetch(`${server.url}${path}`, init);
      expect(response.status).toBe(status);
      const body = (await response.json()) as { error: string; code: string; requestId: string };
      expect(body.error).toMatch(message);
      expect(body.code).toBe(code);
      expect(body.requestId).toBe(response.headers.get("x-request-id"));
      const after = await fetch(`${server.url}/predict_dict`, json(token, { payload: { still: "up" } }));
      expect(await after.json()).toEqual({ got: { still: "up" } });
    },
  );

  it("keeps a 500's internal text out of the answer and puts it in the log under the request id", async () => {
    for (const [action, logged] of [
      ["throw", "model exploded"],
      ["bigint", "cannot be sent as JSON"],
    ]) {
      const response = await fetch(`${server.url}/predict_dict`, json(token, { payload: { action } }));
      expect(response.status).toBe(500);
      const text = await response.text();
      expect(text).not.toContain(logged);
      const { requestId } = JSON.parse(text) as { requestId: string };
      await waitFor(() => server.logLines.find((line) => line.includes(requestId) && line.includes(logged)), {
        what: `the log line of ${action} with its request id`,
      });
    }
  });

  it("answers 405 for a wrong method and 404 for an unknown path, in JSON", async () => {
    const get = await fetch(`${server.url}/predict_dict`);
    expect(get.status).toBe(405);
    expect(get.headers.get("allow")).toBe("POST");
    expect(await get.json()).toMatchObject({ code: "BUDGETML_METHOD_NOT_ALLOWED" });
    const missing = await fetch(`${server.url}/nope`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({
      error: expect.stringMatching(/No route GET \/nope/),
      code: "BUDGETML_NOT_FOUND",
    });
  });

  it("keeps a sane client request id and replaces an unsafe one", async () => {
    const kept = await fetch(`${server.url}/`, { headers: { "x-request-id": "trace-123" } });
    expect(kept.headers.get("x-request-id")).toBe("trace-123");
    const replaced = await fetch(`${server.url}/`, { headers: { "x-request-id": "bad id\twith tab" } });
    expect(replaced.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe("/metrics", () => {
  it("counts requests per route and status (behind the token)", async () => {
    // A runtime of its own: the counts are exactly this test's requests.
    const server = await startInProcessRuntime("runtime/echo.cjs", { env: { BUDGET_PREDICT_TIMEOUT_MS: "200" } });
    try {
      const token = await server.token();
      expect((await fetch(`${server.url}/predict_dict`, json(token, { payload: {} }))).status).toBe(200);
      expect((await fetch(`${server.url}/predict_dict`, json(token, { payload: { action: "slow" } }))).status).toBe(
        504,
      );
      expect((await fetch(`${server.url}/metrics`)).status).toBe(401);
      const metrics = await (
        await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${token}` } })
      ).text();
      expect(metrics).toMatch(
        /budgetml_http_requests_total\{route="\/predict_dict",method="POST",status="200"\} [1-9]/,
      );
      expect(metrics).toMatch(/budgetml_http_requests_total\{route="\/predict_dict",method="POST",status="504"\} 1/);
      expect(metrics).toMatch(/budgetml_predictor_load_seconds \d/);
    } finally {
      await server.close();
    }
  });
});

describe("health states", () => {
  it("reports load_failed (the reason only in the log and to callers with a token) and answers predictions with 503", async () => {
    const server = await startInProcessRuntime("runtime/loadFails.cjs");
    try {
      const health = await fetch(`${server.url}/`);
      expect(health.status).toBe(503);
      // Unauthenticated: the state only; the reason goes to the log (and to callers with a token).
      expect(await health.json()).toEqual({
        status: "load_failed",
        predictor: expect.any(String),
        version: expect.any(String),
      });
      expect(server.logLines.join("\n")).toMatch(/predictor failed to load: weights.bin not found/);
      const response = await fetch(`${server.url}/predict_dict`, json(await server.token(), {}));
      expect(response.status).toBe(503);
      expect(await response.json()).toMatchObject({
        status: "load_failed",
        code: "BUDGETML_PREDICTOR_LOAD_FAILED",
        error: expect.stringContaining("weights.bin not found"),
      });
    } finally {
      await server.close();
    }
  });
});

describe("backpressure", () => {
  it("runs at most maxInFlight, queues maxQueued, refuses the rest at once with 503 + Retry-After", async () => {
    const server = await startInProcessRuntime("runtime/busy.cjs", {
      env: { BUSY_PREDICT_MS: "150", BUDGET_MAX_IN_FLIGHT: "2", BUDGET_MAX_QUEUED: "2" },
    });
    try {
      const token = await server.token();
      const started = Date.now();
      const responses = await Promise.all(
        Array.from({ length: 8 }, () => fetch(`${server.url}/predict_dict`, json(token, {}))),
      );
      const statuses = responses.map((r) => r.status).sort();
      expect(statuses).toEqual([200, 200, 200, 200, 503, 503, 503, 503]);
      const refused = responses.find((r) => r.status === 503)!;
      expect(refused.headers.get("retry-after")).toBe("1");
      expect(await refused.json()).toMatchObject({ status: "overloaded", code: "BUDGETML_OVERLOADED" });
      const peaks = await Promise.all(
        responses.filter((r) => r.status === 200).map(async (r) => ((await r.json()) as { peak: number }).peak),
      );
      expect(Math.max(...peaks)).toBe(2);
      expect(Date.now() - started).toBeGreaterThanOrEqual(290); // two waves of 150 ms: the queue was served, not dropped
      const health = await fetch(`${server.url}/`);
      expect(health.status).toBe(200);
      const metrics = await (
        await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${token}` } })
      ).text();
      expect(metrics).toMatch(/budgetml_predictions_rejected_total\{reason="overloaded"\} 4/);
    } finally {
      await server.close();
    }
  });

  it("keeps a timed-out prediction's slot until predict() really returns", async () => {
    // The model runs 1.5 s against a 1 s limit: answered 504 at 1 s, the slot held until 1.5 s
    // (well before the worker would count as wedged: every prediction overdue for a further second).
    const server = await startInProcessRuntime("runtime/busy.cjs", {
      env: {
        BUSY_PREDICT_MS: "1500",
        BUDGET_MAX_IN_FLIGHT: "1",
        BUDGET_MAX_QUEUED: "0",
        BUDGET_PREDICT_TIMEOUT_MS: "1000",
      },
    });
    try {
      const token = await server.token();
      expect((await fetch(`${server.url}/predict_dict`, json(token, {}))).status).toBe(504);
      // The model is still busy: a new request must not start a second copy of it.
      const busy = await fetch(`${server.url}/predict_dict`, json(token, {}));
      expect(busy.status).toBe(503);
      expect(await busy.json()).toMatchObject({ code: "BUDGETML_OVERLOADED" });
      await waitFor(async () => (await server.metric("budgetml_predictions_in_flight")) === 0, {
        what: "the slot to be released when predict() returns",
      });
      // The slot is free again: the next request is admitted (and, the model being slower than the limit, times out).
      expect((await fetch(`${server.url}/predict_dict`, json(token, {}))).status).toBe(504);
      expect(server.wedged).toEqual([]); // a serve process would have recycled itself
    } finally {
      await server.close();
    }
  });
});

describe("the request a /predict predictor sees", () => {
  it("has the client's path and query on a fixed origin: the Host header does not rewrite request.url", async () => {
    const server = await startInProcessRuntime("runtime/requestUrl.cjs");
    try {
      const token = await server.token();
      const answer = await new Promise<string>((resolve, reject) => {
        const req = request(
          `${server.url}/predict?q=1`,
          { method: "POST", headers: { host: "attacker.example", authorization: `Bearer ${token}` } },
          (res) => {
            let body = "";
            res.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
            res.on("end", () => resolve(body));
          },
        );
        req.on("error", reject);
        req.end("x");
      });
      expect(JSON.parse(answer)).toEqual({ url: "http://localhost/predict?q=1", host: "attacker.example" });
    } finally {
      await server.close();
    }
  });
});
