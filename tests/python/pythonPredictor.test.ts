import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { json, login } from "../support/runtimeServer";
import { removeRuntimeBundle, startPythonRuntime, type PythonRuntime, type RuntimeKind } from "./pythonRuntime";

const FIXTURES = join(__dirname, "fixtures");
const ALL_ENDPOINTS = join(FIXTURES, "allEndpoints.py");

afterAll(() => removeRuntimeBundle());

const dict = async (runtime: PythonRuntime, token: string, payload: unknown) => fetch(`${runtime.url}/predict_dict`, json(token, { payload }));

/** The same behaviour from source and from the runtime bundle the VM runs. */
describe.each<RuntimeKind>(["source", "bundle"])("a Python predictor served by the runtime (%s)", (kind) => {
  let runtime: PythonRuntime;
  let token: string;
  beforeAll(async () => {
    runtime = await startPythonRuntime(kind, ALL_ENDPOINTS);
    token = await login(runtime.url);
  }, 60_000);
  afterAll(() => runtime?.close());

  it("loads the class, calls load(), and reports ready with the file and class", async () => {
    const health = await fetch(`${runtime.url}/`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: "ready", predictor: "allEndpoints.py:Predictor" });
  });

  it("/predict_dict: predict gets an object with .payload; a dict comes back as JSON", async () => {
    const response = await dict(runtime, token, { text: "naïve ☃", n: [1, 2.5, null] });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(await response.json()).toEqual({ payload: { text: "naïve ☃", n: [1, 2.5, null] } });
  });

  it("/predict_image: predict gets an upload with .filename, .content_type, .file and await read(); bytes arrive intact", async () => {
    const bytes = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7) % 256));
    const form = new FormData();
    form.append("request", new Blob([bytes], { type: "image/png" }), "cat.png");
    const response = await fetch(`${runtime.url}/predict_image`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body: form });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ filename: "cat.png", content_type: "image/png", size: 70_000, first: [0, 7, 14, 21], file_matches: true });
  });

  it("/predict: predict gets the request with .method, .headers, .query_params, await body() and await json()", async () => {
    const response = await fetch(`${runtime.url}/predict?threshold=0.5&tag=a&tag=b`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "x-test": "yes" },
      body: JSON.stringify({ rows: [[1, 2]] }),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ method: "POST", path: "predict", query: { threshold: "0.5", tag: "b" }, tags: ["a", "b"], header: "yes", json: { rows: [[1, 2]] } });
  });

  it("sends bytes as octet-stream, unchanged, and a str as a JSON string", async () => {
    const binary = await dict(runtime, token, { action: "bytes" });
    expect(binary.headers.get("content-type")).toBe("application/octet-stream");
    expect(Buffer.from(await binary.arrayBuffer())).toEqual(Buffer.from(Array.from({ length: 256 }, (_, i) => i)));
    const text = await dict(runtime, token, { action: "text" });
    expect(await text.json()).toBe("a string is JSON too");
  });

  it("sends a Response-like object with its status, headers and media type, with our own Content-Length", async () => {
    const response = await dict(runtime, token, { action: "response" });
    expect(response.status).toBe(201);
    expect(response.headers.get("content-type")).toBe("text/html");
    expect(response.headers.get("x-model")).toBe("v1");
    expect(response.headers.get("content-length")).toBe("9");
    expect(await response.text()).toBe("<b>hi</b>");
  });

  it("answers 500 with the request id when predict raises; the traceback is in the log only, and the server keeps serving", async () => {
    const response = await dict(runtime, token, { action: "raise" });
    expect(response.status).toBe(500);
    const body = (await response.json()) as { error: string; requestId: string };
    expect(body.error).toContain("ValueError: cannot score this input");
    expect(body.requestId).toBe(response.headers.get("x-request-id"));
    expect(JSON.stringify(body)).not.toMatch(/Traceback|allEndpoints\.py/);
    const logged = await runtime.waitForLog(new RegExp(body.requestId + ".*Traceback"));
    expect(logged).toContain('raise ValueError(\\"cannot score this input\\")');
    expect((await dict(runtime, token, { ok: 1 })).status).toBe(200);
  });

  it("answers 500 when predict returns something that is not JSON", async () => {
    const response = await dict(runtime, token, { action: "not_json" });
    expect(response.status).toBe(500);
    expect(((await response.json()) as { error: string }).error).toMatch(/cannot be sent as JSON: object is not JSON serializable/);
  });

  it("runs async predictions concurrently in one Python process", async () => {
    const answers = await Promise.all([1, 2, 3].map(() => dict(runtime, token, { action: "together", count: 3 })));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
  });

  it("logs what the predictor prints", async () => {
    expect((await dict(runtime, token, { action: "print" })).status).toBe(200);
    expect(await runtime.waitForLog(/hello from predict/)).toMatch(/"python":"stderr"/);
  });

  it("restarts a Python process that dies: its in-flight prediction gets 500, then a new process serves", async () => {
    const before = ((await (await dict(runtime, token, { action: "pid" })).json()) as { pid: number }).pid;
    const dying = await dict(runtime, token, { action: "die" });
    expect(dying.status).toBe(500);
    expect(((await dying.json()) as { error: string }).error).toMatch(/Python predictor process exited \(SIGKILL\) during this prediction/);
    await runtime.waitForLog(/the Python predictor is serving again/);
    const after = await dict(runtime, token, { action: "pid" });
    expect(after.status).toBe(200);
    expect(((await after.json()) as { pid: number }).pid).not.toBe(before);
  });
});

describe("Python predictors: plain def predict, load failures", () => {
  const started: PythonRuntime[] = [];
  afterAll(() => Promise.all(started.map((r) => r.close())));
  const start = async (...args: Parameters<typeof startPythonRuntime>) => {
    const runtime = await startPythonRuntime(...args);
    started.push(runtime);
    return runtime;
  };

  it("runs a plain def predict in threads, several at once, with the class named by the entrypoint", async () => {
    const runtime = await start("source", join(FIXTURES, "syncThreads.py"), { entrypoint: "Model" });
    const token = await login(runtime.url);
    const answers = await Promise.all([1, 2, 3].map(() => dict(runtime, token, {})));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    const threads = await Promise.all(answers.map(async (a) => ((await a.json()) as { thread: string }).thread));
    expect(new Set(threads).size).toBe(3);
  });

  const loadFailed = async (runtime: PythonRuntime) => {
    const health = await fetch(`${runtime.url}/`);
    expect(health.status).toBe(503);
    const body = (await health.json()) as { status: string; reason: string };
    expect(body.status).toBe("load_failed");
    return body.reason;
  };

  it.each<RuntimeKind>(["source", "bundle"])("reports load_failed with the reason when load() raises, the traceback in the log (%s)", async (kind) => {
    const runtime = await start(kind, join(FIXTURES, "loadFails.py"));
    expect(await loadFailed(runtime)).toBe("RuntimeError: weights.bin is missing");
    expect(await runtime.waitForLog(/predictor failed to load/)).toMatch(/Traceback.*line 3, in load/);
    const refused = await dict(runtime, await login(runtime.url), {});
    expect(refused.status).toBe(503);
  }, 60_000);

  it("reports load_failed when the class is not there, naming the classes that are", async () => {
    const runtime = await start("source", ALL_ENDPOINTS, { entrypoint: "Nope" });
    expect(await loadFailed(runtime)).toBe('LookupError: no class "Nope" in allEndpoints.py (classes: Response, Predictor)');
  });

  it("reports load_failed when Python exits during load(), with what it printed", async () => {
    const runtime = await start("source", join(FIXTURES, "diesOnLoad.py"));
    expect(await loadFailed(runtime)).toBe("the Python process exited (code 3) before the predictor loaded: about to exit");
  });

  it("reports load_failed when the interpreter does not exist", async () => {
    const runtime = await start("source", ALL_ENDPOINTS, { env: { BUDGET_PYTHON: "/nonexistent/python3" } });
    expect(await loadFailed(runtime)).toBe('cannot start Python: "/nonexistent/python3" not found (set BUDGET_PYTHON to an interpreter)');
  });
});

describe("Python predictors in the runtime bundle's worker processes", () => {
  it("gives each worker its own Python process, and drains in-flight predictions when the whole process group gets SIGTERM", async () => {
    const runtime = await startPythonRuntime("bundle", ALL_ENDPOINTS, { workers: 2 });
    try {
      const token = await login(runtime.url);
      // A fresh connection per request: the cluster primary hands connections to workers in turn.
      const pids = new Set<number>();
      for (let i = 0; i < 6; i += 1) pids.add(((await postFresh(runtime.url, token, { action: "pid" })) as { pid: number }).pid);
      expect(pids.size).toBe(2);

      const slow = dict(runtime, token, { action: "sleep", seconds: 1 });
      await runtime.waitForLog(/sleeping 1 s/);
      const group = runtime.group as NonNullable<PythonRuntime["group"]>;
      process.kill(-group.pid, "SIGTERM"); // systemd's stop: every process in the unit's group
      const answer = await slow;
      expect(answer.status).toBe(200);
      expect(await answer.json()).toEqual({ slept: 1 });
      expect(await group.exited).toBe(0);
    } finally {
      await runtime.close();
    }
  }, 60_000);
});

/** POST /predict_dict on a connection of its own. */
function postFresh(url: string, token: string, payload: unknown): Promise<unknown> {
  const body = JSON.stringify({ payload });
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}/predict_dict`, { method: "POST", agent: false, headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "content-length": Buffer.byteLength(body) } }, (res) => {
      let text = "";
      res.setEncoding("utf8").on("data", (chunk: string) => (text += chunk)).on("end", () => resolve(JSON.parse(text)));
    });
    req.on("error", reject);
    req.end(body);
  });
}
