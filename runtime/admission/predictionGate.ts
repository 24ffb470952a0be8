import type { ServerResponse } from "node:http";
import type { RequestHandler } from "express";
import type { Admission, Waiter } from "./admission";
import { asPredictorError, ERRORS, HttpError } from "../http/errors";
import type { Health } from "../health";
import type { RuntimeMetrics } from "../metrics";
import type { Predictor, PredictRequest } from "../predictor/predictor";

/** How a prediction ended: with an error (first argument) or with the predictor's result. */
export type PredictionDone = (error: unknown, result?: unknown) => void;

/** The client went away while waiting for a slot; nobody reads this answer. */
export class Abandoned extends HttpError {
  constructor() {
    super(ERRORS.BUDGETML_CLIENT_CLOSED, "The client closed the request while it waited for a slot");
  }
}

/**
 * How long every running prediction must have stayed past its timeout before the process is
 * declared wedged. A predictor that recovers by itself (a Python one restarts its process at the
 * timeout, which settles its predictions) does so well within this.
 */
export const WEDGED_AFTER_MS = 1000;

/**
 * Everything between an authenticated request and the predictor: refuse unless ready or when the
 * queue would refuse anyway (before the body is read), then — once the body has arrived — wait for
 * a slot and run `predict` under the timeout. A slot is held only while `predict` runs, so a slow
 * upload never keeps the model idle; the body's own bounds are the upload budget and pace.
 */
export class PredictionGate {
  private predictor: Predictor | undefined;
  /** Running predictions already answered 504: past their timeout, still holding their slot. */
  private overdue = 0;
  private wedgedCheck: NodeJS.Timeout | undefined;

  /**
   * @param onWedged called when every running prediction has been past its timeout for
   * {@link WEDGED_AFTER_MS}: nothing useful runs here any more, and a promise cannot be cancelled,
   * so only a new process frees those slots (see server/workers.ts).
   */
  constructor(
    private readonly health: Health,
    private readonly admission: Admission,
    private readonly metrics: RuntimeMetrics,
    private readonly timeoutMs: number,
    private readonly onWedged: (overdue: number) => void = () => {},
  ) {}

  /** Makes the loaded predictor available; called once `load()` has succeeded. */
  serve(predictor: Predictor): void {
    this.predictor = predictor;
  }

  /** Predictions past their timeout that have not settled. */
  get overduePredictions(): number {
    return this.overdue;
  }

  /**
   * Middleware, before the body is read: 503 with the health state unless ready, or 503 +
   * `Retry-After` when the queue would refuse this prediction now. Takes nothing.
   */
  check(): RequestHandler {
    return (_req, _res, next) => {
      try {
        this.refuseUnlessReady();
        next(this.admission.refusalNow());
      } catch (error) {
        next(error);
      }
    };
  }

  /**
   * Waits for a slot (a client that goes away while queued leaves the queue), runs the prediction
   * and calls `done` once, with the error or the result; the slot is held until `predict` settles,
   * not just until we answer (504). A callback rather than a promise: this runs for every request,
   * and when a slot is free it takes none of the queue's machinery either.
   */
  predict(res: ServerResponse, input: PredictRequest, done: PredictionDone): void {
    try {
      this.refuseUnlessReady();
    } catch (error) {
      return done(error);
    }
    if (this.admission.tryAcquire()) return this.run(input, done);
    if (res.closed) return done(new Abandoned());
    const waiter: Waiter = {
      granted: () => {
        res.off("close", leave);
        try {
          this.refuseUnlessReady(true);
        } catch (error) {
          return done(error);
        }
        this.run(input, done);
      },
      refused: (error) => {
        res.off("close", leave);
        done(error);
      },
    };
    const leave = () => {
      if (this.admission.leave(waiter)) done(new Abandoned());
    };
    res.once("close", leave);
    this.admission.acquire(waiter);
  }

  /**
   * Runs `predict` in the slot this request holds, under the timeout, and gives the slot back when
   * it settles. `done` is called once: with the 504 at the timeout, or with how `predict` settled.
   * This is the one place the predictor is called.
   */
  private run(input: PredictRequest, done: PredictionDone): void {
    const started = performance.now();
    let late = false;
    const timer = setTimeout(() => {
      late = true;
      this.overdue += 1;
      done(new HttpError(ERRORS.BUDGETML_PREDICT_TIMEOUT, `predict() did not finish within ${this.timeoutMs} ms`));
      this.watchForWedge();
    }, this.timeoutMs);
    const settled = (error: unknown, value?: unknown) => {
      clearTimeout(timer);
      if (late) this.overdue -= 1;
      this.admission.release(performance.now() - started);
      if (!late) done(error, value);
    };
    // A predictor may throw or reject with nothing at all; it still failed.
    const failed = (error: unknown) =>
      settled(asPredictorError(error ?? new Error("predict() failed without saying why")));
    let result: unknown;
    try {
      result = (this.predictor as Predictor).predict(input);
    } catch (error) {
      return failed(error);
    }
    if (typeof (result as PromiseLike<unknown> | undefined)?.then !== "function") return settled(undefined, result);
    (result as PromiseLike<unknown>).then((value) => settled(undefined, value), failed);
  }

  private get wedged(): boolean {
    return this.overdue > 0 && this.overdue >= this.admission.inFlight;
  }

  private watchForWedge(): void {
    if (!this.wedged || this.wedgedCheck) return;
    this.wedgedCheck = setTimeout(() => {
      this.wedgedCheck = undefined;
      if (this.wedged) this.onWedged(this.overdue);
    }, WEDGED_AFTER_MS);
    this.wedgedCheck.unref();
  }

  /** Throws the 503 for the health state; `holdsSlot`: the request got a slot meanwhile and gives it back. */
  private refuseUnlessReady(holdsSlot = false): void {
    if (this.health.admitsPredictions) return;
    if (holdsSlot) this.admission.release();
    const { state, reason } = this.health;
    this.metrics.rejected.inc({ reason: "not_ready" });
    const [kind, message] =
      state === "load_failed"
        ? ([ERRORS.BUDGETML_PREDICTOR_LOAD_FAILED, `The predictor failed to load: ${reason}`] as const)
        : state === "draining"
          ? ([ERRORS.BUDGETML_SHUTTING_DOWN, "The server is shutting down; retry shortly"] as const)
          : ([ERRORS.BUDGETML_PREDICTOR_LOADING, "The predictor is still loading; retry shortly"] as const);
    throw new HttpError(kind, message, state === "load_failed" ? {} : { "Retry-After": "2" }, { status: state });
  }
}
