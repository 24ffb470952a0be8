import type { ServerResponse } from "node:http";
import type { RequestHandler } from "express";
import type { Admission } from "./admission";
import { HttpError } from "../http/errors";
import type { Health } from "../health";
import type { RuntimeMetrics } from "../metrics";
import type { Predictor, PredictRequest } from "../predictor/predictor";
import { contextOf } from "../http/requestContext";

/**
 * Everything between an authenticated request and the predictor: refuse unless ready, admit
 * within the backpressure bounds (before the body is read), and run `predict` under the timeout.
 */
export class PredictionGate {
  private predictor: Predictor | undefined;

  constructor(
    private readonly health: Health,
    private readonly admission: Admission,
    private readonly metrics: RuntimeMetrics,
    private readonly timeoutMs: number,
  ) {}

  /** Makes the loaded predictor available; called once `load()` has succeeded. */
  serve(predictor: Predictor): void {
    this.predictor = predictor;
  }

  /**
   * Middleware: 503 with the health state unless ready; otherwise waits for a slot. A client that
   * goes away while queued leaves the queue; one that goes away before its prediction starts (while
   * its body is read) frees its slot at once; a running prediction frees it when `predict` settles.
   */
  admit(): RequestHandler {
    return async (_req, res, next) => {
      const gone = new AbortController();
      let release: (() => void) | undefined;
      let handedOver = false;
      // Listening before waiting: a request that closes while queued must be seen leaving.
      res.once("close", () => {
        gone.abort();
        if (release && !handedOver) this.done(release);
      });
      try {
        this.refuseUnlessReady();
        const granted = await this.admission.acquire(gone.signal);
        this.refuseUnlessReady(granted);
        if (gone.signal.aborted) return granted(); // closed just as the slot came: pass it on
        this.metrics.inFlight.inc();
        release = granted;
        contextOf(res).handOver = () => {
          handedOver = true;
          return granted;
        };
        next();
      } catch (error) {
        next(error);
      }
    };
  }

  /** Runs the prediction; the slot is held until `predict` settles, not just until we answer. */
  async predict(res: ServerResponse, input: PredictRequest): Promise<unknown> {
    const release = (contextOf(res).handOver as () => () => void)();
    const predictor = this.predictor as Predictor;
    const running = Promise.resolve().then(() => predictor.predict(input));
    running.then(
      () => this.done(release),
      () => this.done(release),
    );
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () => reject(new HttpError(504, `predict() did not finish within ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
    });
    try {
      return await Promise.race([running, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private done(release: () => void): void {
    this.metrics.inFlight.dec();
    release();
  }

  private refuseUnlessReady(release?: () => void): void {
    if (this.health.admitsPredictions) return;
    const { state, reason } = this.health;
    release?.();
    this.metrics.rejected.inc({ reason: "not_ready" });
    const message =
      state === "load_failed"
        ? `The predictor failed to load: ${reason}`
        : state === "draining"
          ? "The server is shutting down; retry shortly"
          : "The predictor is still loading; retry shortly";
    throw new HttpError(503, message, state === "load_failed" ? {} : { "Retry-After": "2" }, { status: state });
  }
}
