// Adaptive batching's settings as `budgetml serve` reads them (flags over environment), in-process.
import { readServeConfig, type ServeFlags } from "../../../runtime/cli/config";

const ENV = { BUDGET_USERNAME: "u", BUDGET_PWD: "p", BUDGET_TOKEN: "k".repeat(32), BUDGET_PREDICTOR_PATH: "p.ts" };
const read = (env: Record<string, string> = {}, flags: ServeFlags = {}) => readServeConfig({ ...ENV, ...env }, flags);

describe("batching settings", () => {
  it("are off by default, with the usual 4 predictions in flight", () => {
    const { app } = read();
    expect(app.batching).toBeUndefined();
    expect(app.maxInFlight).toBe(4);
  });

  it("turn on with a batch size above 1; the wait defaults to 10 ms and the slots to two batches", () => {
    expect(read({ BUDGET_MAX_BATCH_SIZE: "16" }).app).toMatchObject({
      batching: { maxBatchSize: 16, maxWaitMs: 10 },
      maxInFlight: 32,
    });
    expect(
      read({ BUDGET_MAX_BATCH_SIZE: "16" }, { "max-batch-size": "8", "max-batch-wait-ms": "0" }).app,
    ).toMatchObject({
      batching: { maxBatchSize: 8, maxWaitMs: 0 },
      maxInFlight: 16,
    });
    expect(read({ BUDGET_MAX_BATCH_SIZE: "8", BUDGET_MAX_IN_FLIGHT: "8" }).app.maxInFlight).toBe(8);
  });

  it.each([
    [{}, { "max-batch-size": "0" }, '--max-batch-size must be a whole number from 1 to 4096, got "0"'],
    [{ BUDGET_MAX_BATCH_SIZE: "2.5" }, {}, 'BUDGET_MAX_BATCH_SIZE must be a whole number from 1 to 4096, got "2.5"'],
    [
      {},
      { "max-batch-size": "4", "max-batch-wait-ms": "-1" },
      '--max-batch-wait-ms must be a whole number from 0 to 60000, got "-1"',
    ],
    [
      {},
      { "max-batch-wait-ms": "5" },
      "--max-batch-wait-ms needs a batch size above 1 (--max-batch-size): batching is off",
    ],
    [
      { BUDGET_MAX_BATCH_WAIT_MS: "5" },
      {},
      "BUDGET_MAX_BATCH_WAIT_MS needs a batch size above 1 (--max-batch-size): batching is off",
    ],
    [
      { BUDGET_MAX_IN_FLIGHT: "8" },
      { "max-batch-size": "32" },
      "BUDGET_MAX_IN_FLIGHT (8) is below the batch size (32): no batch could fill; raise it or leave it unset (twice the batch size)",
    ],
  ])("refuses %j %j: %s", (env, flags, message) => {
    expect(() => read(env, flags)).toThrow(message);
  });
});
