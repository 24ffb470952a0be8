import type { ServerResponse } from "node:http";
import type { RequestHandler } from "express";
import type { Admission } from "../admission";
import { HttpError } from "../errors";
import type { Health } from "../health";
import type { RuntimeMetrics } from "../metrics";
import type { Predictor, PredictRequest } from "../predictor";
import { contextOf } from "../requestContext";

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

  /** Middleware: 503 with the health state unless ready; otherwise waits for a slot. */
  admit(): RequestHandler {
    return async (_req, res, next) => {
      try {
        this.refuseUnlessReady();
        const release = await this.admission.acquire();
        this.refuseUnlessReady(release);
        this.metrics.inFlight.inc();
        let handedOver = false;
        contextOf(res).handOver = () => {
          handedOver = true;
          return release;
        };
        res.on("close", () => {
          // A request that never reached predict() (bad body, client gone) frees its slot here;
          // one that did frees it when predict() settles, even after a 504.
          if (!handedOver) this.done(release);
        });
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
    running.then(() => this.done(release), () => this.done(release));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new HttpError(504, `predict() did not finish within ${this.timeoutMs} ms`)), this.timeoutMs);
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
      state === "load_failed" ? `The predictor failed to load: ${reason}`
      : state === "draining" ? "The server is shutting down; retry shortly"
      : "The predictor is still loading; retry shortly";
    throw new HttpError(503, message, state === "load_failed" ? {} : { "Retry-After": "2" }, { status: state });
  }
}
