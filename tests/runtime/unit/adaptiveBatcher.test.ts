// The adaptive batcher's decisions, in-process with Jest's fake clock (setImmediate, setTimeout and
// performance.now all move only when the test moves them).
import { AdaptiveBatcher } from "../../../runtime/batching/adaptiveBatcher";
import { BatchCost } from "../../../runtime/batching/batchCost";

beforeEach(() => jest.useFakeTimers());
afterEach(() => jest.useRealTimers());

/** A model whose batch takes `fixedMs` + `perRequestMs` × size of fake time, recording each batch. */
function model(fixedMs: number, perRequestMs = 0) {
  const batches: number[][] = [];
  const run = async (items: number[]) => {
    batches.push(items);
    await new Promise((resolve) => setTimeout(resolve, fixedMs + perRequestMs * items.length));
    return items.map((item) => item * 10);
  };
  return { batches, run };
}

describe("AdaptiveBatcher", () => {
  it("sends what arrived in one event-loop turn as one batch, each item settled with its own result", async () => {
    const { batches, run } = model(5);
    const batcher = new AdaptiveBatcher(run, { maxBatchSize: 8, maxWaitMs: 10 });
    const results = Promise.all([1, 2, 3].map((item) => batcher.submit(item)));
    await jest.advanceTimersByTimeAsync(5);
    expect(await results).toEqual([10, 20, 30]);
    expect(batches).toEqual([[1, 2, 3]]);
  });

  it("runs one batch at a time; what arrives meanwhile forms the next, never above maxBatchSize", async () => {
    const { batches, run } = model(20);
    const batcher = new AdaptiveBatcher(run, { maxBatchSize: 3, maxWaitMs: 0 });
    const first = batcher.submit(1);
    await jest.advanceTimersByTimeAsync(1); // the first batch is running
    const rest = [2, 3, 4, 5, 6].map((item) => batcher.submit(item));
    await jest.advanceTimersByTimeAsync(100);
    expect(await Promise.all([first, ...rest])).toEqual([10, 20, 30, 40, 50, 60]);
    expect(batches).toEqual([[1], [2, 3, 4], [5, 6]]);
  });

  it("does not hold a request while nothing is measured: one at a time is never slower", async () => {
    const { batches, run } = model(5);
    const batcher = new AdaptiveBatcher(run, { maxBatchSize: 8, maxWaitMs: 10_000 });
    void batcher.submit(1);
    await jest.advanceTimersByTimeAsync(0);
    expect(batches).toEqual([[1]]);
  });

  it("holds an idle model's batch for the next request when a batch's fixed cost outweighs the wait, within maxWaitMs", async () => {
    // Every batch costs 20 ms whatever its size.
    const { batches, run } = model(20);
    const batcher = new AdaptiveBatcher(run, { maxBatchSize: 64, maxWaitMs: 8 });
    const sent: Array<Promise<number>> = [];
    const arrive = async (count: number, everyMs: number) => {
      for (let i = 0; i < count; i += 1) {
        sent.push(batcher.submit(sent.length));
        await jest.advanceTimersByTimeAsync(everyMs);
      }
    };
    await arrive(30, 1); // a request a millisecond: batches of 1, 20 and 9, each 20 ms
    await jest.advanceTimersByTimeAsync(40); // all done, the model idle
    const busyBatches = batches.length;
    await arrive(6, 2); // a request every 2 ms again
    await jest.advanceTimersByTimeAsync(100);
    await Promise.all(sent);
    // The first of them was held for the next ones rather than run alone, but not past 8 ms.
    expect(batches[busyBatches].length).toBeGreaterThan(1);
    expect(batches[busyBatches].length).toBeLessThanOrEqual(5);
  });

  it("does not hold when batching saves nothing (the cost grows with the batch, none of it fixed)", async () => {
    const { batches, run } = model(0, 4);
    const batcher = new AdaptiveBatcher(run, { maxBatchSize: 64, maxWaitMs: 50 });
    const sent: Array<Promise<number>> = [];
    // Two sizes measured first: a batch of one, then two that arrived together.
    sent.push(batcher.submit(0));
    await jest.advanceTimersByTimeAsync(10);
    sent.push(batcher.submit(1), batcher.submit(2));
    await jest.advanceTimersByTimeAsync(20);
    // Now one every 10 ms: each runs (4 ms) before the next comes, alone.
    for (let i = 3; i < 8; i += 1) {
      sent.push(batcher.submit(i));
      await jest.advanceTimersByTimeAsync(10);
    }
    await Promise.all(sent);
    expect(batches.slice(2).map((batch) => batch.length)).toEqual([1, 1, 1, 1, 1]);
  });

  it("rejects only the item whose result is an Error; a thrown error or a wrong count rejects the batch", async () => {
    const batcher = new AdaptiveBatcher<number, number>(
      async (items) => {
        if (items.includes(99)) throw new Error("batch failed");
        if (items.includes(7)) return [1];
        return items.map((item) => (item === 2 ? new Error("not this one") : item));
      },
      { maxBatchSize: 8, maxWaitMs: 0 },
    );
    const mixed = [1, 2, 3].map((item) => batcher.submit(item).catch((error: Error) => error.message));
    await jest.advanceTimersByTimeAsync(1);
    expect(await Promise.all(mixed)).toEqual([1, "not this one", 3]);
    const thrown = [99, 4].map((item) => batcher.submit(item).catch((error: Error) => error.message));
    await jest.advanceTimersByTimeAsync(1);
    expect(await Promise.all(thrown)).toEqual(["batch failed", "batch failed"]);
    const short = [7, 5].map((item) => batcher.submit(item).catch((error: Error) => error.message));
    await jest.advanceTimersByTimeAsync(1);
    expect(await Promise.all(short)).toEqual([
      "predictBatch() returned 1 results for 2 requests",
      "predictBatch() returned 1 results for 2 requests",
    ]);
  });
});

describe("BatchCost", () => {
  it("fits duration = per request × size + fixed over the recent batches", () => {
    const cost = new BatchCost();
    for (const size of [1, 2, 4, 8, 4, 2]) cost.record(size, 3 * size + 10);
    expect(cost.perRequestMs).toBeCloseTo(3);
    expect(cost.fixedMs).toBeCloseTo(10);
  });

  it("counts the whole mean duration as fixed while every batch had one size, nothing before any", () => {
    const cost = new BatchCost();
    expect(cost.fixedMs).toBeUndefined();
    cost.record(1, 8);
    cost.record(1, 12);
    expect(cost.fixedMs).toBe(10);
    expect(cost.perRequestMs).toBe(0);
  });

  it("keeps only the most recent batches", () => {
    const cost = new BatchCost(4);
    for (const size of [1, 2, 3, 4]) cost.record(size, 100 * size); // no fixed part
    for (const size of [1, 2, 3, 4]) cost.record(size, size + 50); // the model changed
    expect(cost.perRequestMs).toBeCloseTo(1);
    expect(cost.fixedMs).toBeCloseTo(50);
  });
});
