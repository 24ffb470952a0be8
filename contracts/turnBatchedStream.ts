import type { DestinationStream } from "pino";

/** What {@link turnBatched} writes to: pino's `SonicBoom` destination has both calls. */
export interface FlushableStream extends DestinationStream {
  flush?(cb?: (error?: Error) => void): void;
  flushSync(): void;
}

const live = new Set<WeakRef<TurnBatchedStream>>();

/**
 * A log destination that gathers the lines written during one turn of the event loop and hands
 * them to `target` as one write, right after that turn's I/O (`setImmediate`). A busy runtime
 * finishes many requests per turn and logs a line for each: one write per turn instead of one per
 * line saves the write's system call and its round trip through libuv's thread pool. No line
 * waits longer than the turn it was written in, and lines still gathered when the process exits
 * are written synchronously then.
 */
class TurnBatchedStream implements DestinationStream {
  private pending = "";
  private readonly self = new WeakRef(this);

  constructor(private readonly target: FlushableStream) {}

  write(line: string): void {
    if (this.pending === "") {
      live.add(this.self);
      setImmediate(this.handOn);
    }
    this.pending += line;
  }

  /** pino's `logger.flush(cb)`: the gathered lines go to `target` now, and `cb` is called once it has flushed them. */
  flush(cb?: (error?: Error) => void): void {
    this.handOn();
    if (this.target.flush) this.target.flush(cb);
    else cb?.();
  }

  /** At exit: the gathered lines are written before the process ends. */
  flushSync(): void {
    this.handOn();
    this.target.flushSync();
  }

  private readonly handOn = (): void => {
    live.delete(this.self);
    if (this.pending === "") return;
    const batch = this.pending;
    this.pending = "";
    this.target.write(batch);
  };
}

process.once("exit", () => {
  for (const ref of live) {
    try {
      ref.deref()?.flushSync();
    } catch {
      // The stream is closed or its reader gone: nothing more can be written at exit.
    }
  }
});

/** `target`, written once per event-loop turn; see {@link TurnBatchedStream}. */
export function turnBatched(target: FlushableStream): DestinationStream {
  return new TurnBatchedStream(target);
}
