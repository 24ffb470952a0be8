import type { IncomingMessage, ServerResponse } from "node:http";
import type { RequestHandler } from "express";
import { ERRORS, HttpError } from "./errors";
import { sendError } from "./errorHandler";

/** How a prediction's body must arrive; see {@link BodyPace}. */
export interface BodyPaceLimits {
  /** The whole body within this many ms of its headers. */
  timeoutMs: number;
  /** After the first {@link PACE_GRACE_MS}, at least this many bytes per second on average. */
  minBytesPerSecond: number;
}

/** Before the rate is checked: a connection's first second (TCP slow start, a client building its body). */
export const PACE_GRACE_MS = 1000;

interface Reading {
  req: IncomingMessage;
  res: ServerResponse;
  sinceMs: number;
  bytesAtStart: number;
}

/**
 * Bounds how long a prediction's body may take to arrive: all of it within `timeoutMs`, and after
 * its first second at `minBytesPerSecond` or faster on average — else 408 and the connection is
 * closed. A client trickling bytes (one a second) is cut off after a second or two instead of
 * holding its connection and its share of the upload budget for the whole timeout.
 *
 * One sweep timer checks every body still arriving (a few times a second, only while there are
 * some); a body's progress is its socket's byte count, so nothing listens to the body stream that
 * the parser reads. Requests whose body has arrived, or whose connection is gone, drop out at the
 * next sweep.
 */
export class BodyPace {
  private readonly reading = new Set<Reading>();
  private sweeper: NodeJS.Timeout | undefined;
  private readonly sweepEveryMs: number;

  constructor(private readonly limits: BodyPaceLimits) {
    this.sweepEveryMs = Math.min(250, Math.max(20, limits.timeoutMs / 4));
  }

  /** Middleware: from here on, the request's body is under the pace. */
  watch(): RequestHandler {
    return (req, res, next) => {
      if (!req.complete) {
        const reading = { req, res, sinceMs: performance.now(), bytesAtStart: req.socket.bytesRead };
        this.reading.add(reading);
        // Out of the set as soon as the body is in, not at the next sweep: a request held here until
        // then keeps its request, response and buffers alive through the garbage collector's young
        // generation, which at thousands of requests a second made every scavenge copy megabytes.
        req.once("end", () => this.reading.delete(reading));
        this.sweeper ??= setInterval(() => this.sweep(), this.sweepEveryMs).unref();
      }
      next();
    };
  }

  /** Bodies being checked now. */
  get watched(): number {
    return this.reading.size;
  }

  private sweep(): void {
    const now = performance.now();
    for (const reading of this.reading) {
      const { req, res } = reading;
      if (req.complete || res.writableEnded || req.socket.destroyed) {
        this.reading.delete(reading);
        continue;
      }
      const elapsedMs = now - reading.sinceMs;
      const received = req.socket.bytesRead - reading.bytesAtStart;
      if (elapsedMs > this.limits.timeoutMs)
        this.refuse(
          reading,
          new HttpError(
            ERRORS.BUDGETML_BODY_TIMEOUT,
            `The request body did not arrive within ${this.limits.timeoutMs} ms`,
          ),
        );
      else if (
        elapsedMs > PACE_GRACE_MS &&
        received < (this.limits.minBytesPerSecond * (elapsedMs - PACE_GRACE_MS)) / 1000
      )
        this.refuse(
          reading,
          new HttpError(
            ERRORS.BUDGETML_BODY_TOO_SLOW,
            `The request body arrived slower than ${this.limits.minBytesPerSecond} bytes/s (${received} bytes in ${Math.round(elapsedMs)} ms)`,
          ),
        );
    }
    if (this.reading.size === 0) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  private refuse(reading: Reading, error: HttpError): void {
    this.reading.delete(reading);
    const { req, res } = reading;
    if (res.headersSent) return void req.socket.destroy();
    res.setHeader("Connection", "close");
    sendError(res, error);
    // The body parser still waits for bytes: closing the connection ends it.
    res.once("finish", () => req.socket.destroy());
  }
}
