import type { IncomingMessage, ServerResponse } from "node:http";
import type { ErrorRequestHandler, RequestHandler } from "express";
import { ERRORS, HttpError } from "./errors";
import type { Logger } from "../../contracts/cloudLogging";
import { contextOf } from "./requestContext";
import { sendJson } from "./respond";

/** body-parser's error types, as clients should read them. */
const BODY_ERRORS: Record<string, (error: Error & { limit?: number }) => HttpError> = {
  "entity.parse.failed": (e) => new HttpError(ERRORS.BUDGETML_JSON_MALFORMED, `Malformed JSON: ${e.message}`),
  "entity.too.large": (e) =>
    new HttpError(ERRORS.BUDGETML_BODY_TOO_LARGE, `Body too large: the limit is ${e.limit} bytes`),
  "encoding.unsupported": (e) => new HttpError(ERRORS.BUDGETML_ENCODING_UNSUPPORTED, e.message),
  "charset.unsupported": (e) => new HttpError(ERRORS.BUDGETML_CHARSET_UNSUPPORTED, e.message),
  "request.aborted": () => new HttpError(ERRORS.BUDGETML_BODY_ABORTED, "The client aborted the request"),
  "request.size.invalid": () =>
    new HttpError(ERRORS.BUDGETML_BODY_LENGTH_MISMATCH, "The body's length does not match Content-Length"),
  "parameters.too.many": () => new HttpError(ERRORS.BUDGETML_TOO_MANY_FIELDS, "Too many form fields"),
};

/** Any route nobody serves. */
export const notFound: RequestHandler = (req, _res, next) =>
  next(new HttpError(ERRORS.BUDGETML_NOT_FOUND, `No route ${req.method} ${req.path}; the API is described at /docs`));

/** Answers with an error the client should see: `{error, code, ...details, requestId}`, its status and headers. */
export function sendError(res: ServerResponse, error: HttpError): void {
  const { requestId } = contextOf(res);
  sendJson(res, error.status, { error: error.message, code: error.code, ...error.details, requestId }, error.headers);
}

/** The one place every error becomes a JSON answer; only unexpected ones are logged as errors. */
export function answerError(logger: Logger, error: unknown, res: ServerResponse): void {
  const { requestId } = contextOf(res);
  const type = (error as { type?: string }).type;
  const known =
    error instanceof HttpError ? error : type && BODY_ERRORS[type] ? BODY_ERRORS[type](error as Error) : undefined;
  if (res.writableEnded) return; // already answered (e.g. 408 for a body too slow): the rest is noise
  if (res.headersSent) {
    logger.error({ requestId, err: error }, "error after the response started");
    res.destroy();
    return;
  }
  if (known) return sendError(res, known);
  // The text of an unexpected error (paths, a model's internals, a library's message) is for the
  // log only; the client gets the request id to quote.
  logger.error({ requestId, err: error }, "predictor or server error");
  sendError(
    res,
    new HttpError(
      ERRORS.BUDGETML_INTERNAL,
      "Internal error: the details are in the server's log under this request id",
    ),
  );
}

/** {@link answerError} as Express's error middleware. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error, _req: IncomingMessage, res: ServerResponse, _next) => answerError(logger, error, res);
}
