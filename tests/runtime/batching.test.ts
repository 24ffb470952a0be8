// Adaptive batching over HTTP, for a TypeScript predictor and a Python one (predictBatch /
// predict_batch): the TypeScript one in this process, the Python one in a `serve` process of the
// shipped bundle (its Python host is a process of its own either way).
import { join } from "node:path";
import { startInProcessRuntime } from "../support/inProcessRuntime";
import { json, startTestRuntime, type RuntimeUnderTest } from "../support/runtimeServer";
import { waitFor } from "../support/waitFor";

const PREDICTORS = {
  TypeScript: "runtime/batching.cjs",
  Python: join(__dirname, "..", "python", "fixtures", "batching.py"),
};

type Answer = {
  status: number;
  body: { got?: Record<string, unknown>; batch?: number; error?: string; requestId?: string };
};

describe.each(Object.entries(PREDICTORS))("adaptive batching, %s predictor", (_language, predictor) => {
  let runtime: RuntimeUnderTest;
  let token: string;
  beforeAll(async () => {
    const start = predictor.endsWith(".py") ? startTestRuntime : startInProcessRuntime;
    runtime = await start(predictor, { env: { BUDGET_MAX_BATCH_SIZE: "8" } });
    token = await runtime.token();
  }, 60_000);
  afterAll(() => runtime?.close());

  const inLog = (requestId: string | undefined, why: RegExp) =>
    waitFor(() => runtime.logLines.find((line) => line.includes(`${requestId}`) && why.test(line)), {
      what: `${why} in the log under request ${requestId}`,
    });
  const predict = async (payload: Record<string, unknown>): Promise<Answer> => {
    const response = await fetch(`${runtime.url}/predict_dict`, json(token, { payload }));
    return { status: response.status, body: (await response.json()) as Answer["body"] };
  };

  it("groups concurrent requests into batches of at most 8, each answered with its own result", async () => {
    const answers = await Promise.all(Array.from({ length: 24 }, (_, i) => predict({ i })));
    expect(answers.map((a) => a.status)).toEqual(Array(24).fill(200));
    expect(answers.map((a) => a.body.got)).toEqual(Array.from({ length: 24 }, (_, i) => ({ i })));
    const sizes = answers.map((a) => a.body.batch as number);
    expect(Math.max(...sizes)).toBeGreaterThan(1); // predictBatch ran, with several requests at once
    expect(Math.max(...sizes)).toBeLessThanOrEqual(8);
    const [batches, requests] = await runtime.metrics("budgetml_batch_size_count", "budgetml_batch_size_sum");
    expect(requests).toBe(24);
    expect(batches).toBeLessThan(24);
  });

  it("answers a failed request alone: 500 and 422 for those, 200 for the rest of their batch", async () => {
    const answers = await Promise.all([
      predict({ fail: "this one" }),
      predict({ reject: true }),
      ...Array.from({ length: 6 }, (_, i) => predict({ i })),
    ]);
    expect(answers[0].status).toBe(500); // its reason in the log under its request id, as for any 500
    expect(answers[0].body).toMatchObject({ code: "BUDGETML_INTERNAL" });
    await inLog(answers[0].body.requestId, /cannot score this one/);
    expect(answers[1]).toEqual({
      status: 422,
      body: expect.objectContaining({ error: "field 'x' is required", code: "BUDGETML_PREDICTOR_REJECTED" }),
    });
    expect(answers.slice(2).map((a) => a.status)).toEqual(Array(6).fill(200));
  });

  it("fails the requests of a batch whose predictBatch throws with its error, and keeps serving", async () => {
    const answers = await Promise.all([predict({ explode: true }), predict({ i: 1 }), predict({ i: 2 })]);
    expect(answers[0].status).toBe(500);
    await inLog(answers[0].body.requestId, /the whole batch exploded/);
    // The others were in its batch (the same error) or in another (answered).
    for (const answer of answers.slice(1)) {
      if (answer.status !== 200) await inLog(answer.body.requestId, /the whole batch exploded/);
    }
    expect((await predict({ after: true })).status).toBe(200);
  });
});

describe("adaptive batching, off and misconfigured", () => {
  it("is off by default: predict() answers, predictBatch() is never called", async () => {
    const runtime = await startInProcessRuntime(PREDICTORS.TypeScript);
    try {
      const token = await runtime.token();
      const answers = await Promise.all(
        Array.from({ length: 8 }, async (_, i) => {
          const response = await fetch(`${runtime.url}/predict_dict`, json(token, { payload: { i } }));
          return ((await response.json()) as { batch: number }).batch;
        }),
      );
      expect(answers).toEqual(Array(8).fill(0));
      expect(await runtime.metric("budgetml_batch_size_count")).toBe(0);
    } finally {
      await runtime.close();
    }
  });

  it("reports load_failed when batching is asked of a predictor without predictBatch", async () => {
    const runtime = await startInProcessRuntime("runtime/echo.cjs", { env: { BUDGET_MAX_BATCH_SIZE: "4" } });
    try {
      const health = await fetch(`${runtime.url}/`);
      expect(await health.json()).toMatchObject({ status: "load_failed" });
      await waitFor(
        () =>
          runtime.logLines.find((line) =>
            /batching is on \(maxBatchSize 4\) but the predictor has no predictBatch\(\) method/.test(line),
          ),
        { what: "the reason in the log" },
      );
    } finally {
      await runtime.close();
    }
  });
});
