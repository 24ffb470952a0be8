import { ERRORS, type ErrorCode, type ErrorKind } from "./errorCodes";

export { ERRORS } from "./errorCodes";

/** A registry entry whose status is fixed: every code but the predictor's own 4xx. */
type FixedStatusKind = {
  [Code in ErrorCode]: ErrorKind<Code>["status"] extends number ? ErrorKind<Code> : never;
}[ErrorCode];

/** The predictor's own refusal, with the 4xx status it chose (see {@link predictorRejection}). */
interface PredictorRejectionKind {
  readonly code: typeof ERRORS.BUDGETML_PREDICTOR_REJECTED.code;
  readonly status: number;
}

/**
 * An error the client should see: its code from the registry (runtime/http/errorCodes.ts, sent as
 * `code`), the HTTP status the registry gives that code, and the message.
 */
export class HttpError extends Error {
  /** The stable code, sent as `code` beside `error`. */
  readonly code: ErrorCode;
  readonly status: number;

  constructor(
    kind: FixedStatusKind | PredictorRejectionKind,
    message: string,
    readonly headers: Record<string, string> = {},
    /** Extra JSON fields for the error body (e.g. the health state). */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "HttpError";
    this.code = kind.code;
    this.status = kind.status;
  }
}

/** Whether a predictor's error status is the client's mistake (4xx), answered as such rather than as a 500. */
export function isClientStatus(status: unknown): status is number {
  return typeof status === "number" && status >= 400 && status < 500;
}

/** A request the predictor itself refused, answered with its own 4xx status and message. */
export function predictorRejection(status: number, message: string): HttpError {
  return new HttpError({ code: ERRORS.BUDGETML_PREDICTOR_REJECTED.code, status }, message);
}

/**
 * How an error a predictor threw (or rejected with, or put in a batch's results) is answered: one
 * with a 4xx `status` is the predictor refusing the request — that status and its message, with
 * the code `BUDGETML_PREDICTOR_REJECTED`; anything else stays as it is (a 500 whose text goes to
 * the log only).
 */
export function asPredictorError(error: unknown): unknown {
  if (!(error instanceof Error) || error instanceof HttpError) return error;
  const status = (error as Error & { status?: unknown }).status;
  return isClientStatus(status) ? predictorRejection(status, error.message) : error;
}
