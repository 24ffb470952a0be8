import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { setImmediate as nextTurn } from "node:timers/promises";
import { turnBatched, type FlushableStream } from "../../contracts/turnBatchedStream";

/** A sink that records each write it receives, as pino's destination would receive them. */
function recordingSink() {
  const writes: string[] = [];
  let flushedSync = 0;
  const sink: FlushableStream = {
    write: (chunk: string) => void writes.push(chunk),
    flush: (cb) => cb?.(),
    flushSync: () => void (flushedSync += 1),
  };
  return { sink, writes, flushedSync: () => flushedSync };
}

describe("the log stream batched per event-loop turn", () => {
  it("hands the lines of one turn on as one write, after the turn", async () => {
    const { sink, writes } = recordingSink();
    const stream = turnBatched(sink);
    stream.write("a\n");
    stream.write("b\n");
    stream.write("c\n");
    expect(writes).toEqual([]);
    await nextTurn();
    expect(writes).toEqual(["a\nb\nc\n"]);
  });

  it("writes each turn's lines in a write of their own, in order", async () => {
    const { sink, writes } = recordingSink();
    const stream = turnBatched(sink);
    stream.write("first\n");
    await nextTurn();
    stream.write("second\n");
    await nextTurn();
    await nextTurn();
    expect(writes).toEqual(["first\n", "second\n"]);
  });

  it("hands what it holds on at pino's flush(cb), before calling back", async () => {
    const { sink, writes } = recordingSink();
    const stream = turnBatched(sink) as FlushableStream;
    stream.write("pending\n");
    const calledBack = await new Promise<boolean>((resolve) => stream.flush?.(() => resolve(true)));
    expect(calledBack).toBe(true);
    expect(writes).toEqual(["pending\n"]);
    await nextTurn();
    expect(writes).toEqual(["pending\n"]); // nothing written twice
  });

  it("loses no line when the process exits in the turn that wrote it", () => {
    const script = join(__dirname, "../fixtures/logging/logThenExit.ts");
    const out = execFileSync(process.execPath, [join(__dirname, "../../scripts/runTs.cjs"), script, "500"], {
      encoding: "utf8",
    });
    const numbers = out
      .trim()
      .split("\n")
      .map((line) => (JSON.parse(line) as { i: number }).i);
    expect(numbers).toEqual([...Array(500).keys()]);
  });
});
