import { startInProcessRuntime } from "../support/inProcessRuntime";
import { json } from "../support/runtimeServer";

describe("admission bounds the wait, not only the count", () => {
  it("refuses with 503 + Retry-After once the expected queue wait passes BUDGET_MAX_QUEUE_WAIT_MS", async () => {
    // A 1 s model, one at a time, room for 64 in the queue, but at most 2.5 s of expected wait.
    const server = await startInProcessRuntime("runtime/busy.cjs", {
      env: {
        BUSY_PREDICT_MS: "1000",
        BUDGET_MAX_IN_FLIGHT: "1",
        BUDGET_MAX_QUEUED: "64",
        BUDGET_MAX_QUEUE_WAIT_MS: "2500",
      },
    });
    try {
      const token = await server.token();
      expect((await fetch(`${server.url}/predict_dict`, json(token, {}))).status).toBe(200); // the runtime learns the model's speed
      const responses = await Promise.all(
        Array.from({ length: 10 }, () => fetch(`${server.url}/predict_dict`, json(token, {}))),
      );
      // One runs; the 1st and 2nd in the queue expect 1 s and 2 s; the 3rd would expect 3 s.
      expect(responses.map((r) => r.status).sort()).toEqual([200, 200, 200, 503, 503, 503, 503, 503, 503, 503]);
      const refused = responses.find((r) => r.status === 503)!;
      expect(await refused.json()).toMatchObject({ status: "overloaded", code: "BUDGETML_OVERLOADED" });
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(3);
      expect(await server.metric('budgetml_predictions_rejected_total{reason="overloaded"}')).toBe(7);
    } finally {
      await server.close();
    }
  });
});
