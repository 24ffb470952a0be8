import { request } from "node:http";
import { startTestRuntime } from "../support/runtimeServer";
import { waitFor } from "../support/waitFor";

/** A prediction on a connection of its own (the cluster hands each new connection to the next worker). */
function predict(url: string, token: string, payload: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/predict_dict`,
      {
        method: "POST",
        agent: false,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    req.end(JSON.stringify({ payload }));
  });
}

describe("a TypeScript predict() that never settles", () => {
  it("gets 504, and once every running prediction in its worker hangs the worker is replaced: the endpoint keeps serving", async () => {
    const server = await startTestRuntime("runtime/hangs.cjs", {
      workers: 2,
      env: { BUDGET_PREDICT_TIMEOUT_MS: "300", BUDGET_MAX_IN_FLIGHT: "1" },
    });
    try {
      const token = await server.token();
      await waitFor(() => server.logLines.filter((line) => line.includes("predictor loaded")).length >= 2, {
        what: "both workers to load",
      });
      const hung = await predict(server.url, token, { hang: true });
      expect(hung.status).toBe(504);
      expect(JSON.parse(hung.body)).toMatchObject({ code: "BUDGETML_PREDICT_TIMEOUT" });
      await waitFor(() => server.logLines.find((line) => line.includes("starting its replacement")), {
        what: "the primary to replace the wedged worker",
      });
      await waitFor(() => server.logLines.filter((line) => line.includes("predictor loaded")).length >= 3, {
        what: "the replacement to load",
      });
      // Every slot of every worker is usable again: no prediction waits behind the hung one.
      for (let i = 0; i < 6; i += 1) expect((await predict(server.url, token, {})).status).toBe(200);
      expect(server.logLines.filter((line) => /worker died/.test(line))).toEqual([]);
    } finally {
      await server.close();
    }
  });

  it("with one worker, the process drains what it can and exits 75 for its supervisor to start it again", async () => {
    const server = await startTestRuntime("runtime/hangs.cjs", {
      env: { BUDGET_PREDICT_TIMEOUT_MS: "300", BUDGET_MAX_IN_FLIGHT: "1", BUDGET_MAX_QUEUE_WAIT_MS: "60000" },
    });
    try {
      const token = await server.token();
      const hung = predict(server.url, token, { hang: true });
      await waitFor(async () => (await server.metric("budgetml_predictions_in_flight")) === 1, { what: "the hang" });
      // Queued behind the hung slot: its turn would never come, so it is answered, not left hanging.
      const queued = predict(server.url, token, {});
      expect((await hung).status).toBe(504);
      const behind = await queued;
      expect(behind.status).toBe(503);
      expect(JSON.parse(behind.body)).toMatchObject({ status: "draining", code: "BUDGETML_SHUTTING_DOWN" });
      expect(await server.exited).toEqual({ code: 75, signal: null });
      expect(server.logLines.join("\n")).toMatch(
        /every running prediction outlived its timeout; recycling this worker/,
      );
    } finally {
      await server.close();
    }
  });
});
