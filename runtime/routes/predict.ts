import express, { type Request as ExpressRequest, type RequestHandler } from "express";
import multer from "multer";
import { requireContentType } from "../auth/handlers";
import { ERRORS, HttpError } from "../http/errors";
import type { Payload, PredictRequest, UploadFile } from "../predictor/predictor";
import { sendPrediction } from "../http/respond";
import type { PredictionGate } from "../admission/predictionGate";
import { jsonBody } from "../http/jsonBody";

/** Size limits for request bodies, in bytes. */
export interface BodyLimits {
  /** `/predict` and `/predict_dict` bodies. */
  bodyBytes: number;
  /** `/predict_image` files. */
  fileBytes: number;
}

/** Builds the predictor's argument from a request whose body has been parsed. */
type ToPredictorInput = (req: ExpressRequest) => PredictRequest;

/**
 * The three predict routes: each parses its body, builds the predictor's input (a bad one is
 * refused before it waits for a slot), then runs the prediction through the gate.
 */
export function predictRoutes(gate: PredictionGate, limits: BodyLimits) {
  const run =
    (toInput: ToPredictorInput): RequestHandler =>
    (req, res, next) => {
      let input: PredictRequest;
      try {
        input = toInput(req);
      } catch (error) {
        return next(error);
      }
      gate.predict(res, input, (error, result) => {
        if (error) return next(error);
        try {
          sendPrediction(res, result)?.catch(next);
        } catch (thrown) {
          next(thrown);
        }
      });
    };

  return {
    /** `POST /predict`: the predictor gets a Web `Request` with the raw body. */
    generic: [express.raw({ type: () => true, limit: limits.bodyBytes }), run(toWebRequest)],
    /** `POST /predict_dict`: `{"payload": {...}}`. */
    dict: [
      requireContentType("application/json", 'a JSON body like {"payload": {...}}'),
      jsonBody(limits.bodyBytes),
      run((req) => toPayload(req.body)),
    ],
    /** `POST /predict_image`: multipart with the file in field `request` (or `file`). */
    image: [
      requireContentType("multipart/form-data", 'multipart/form-data with the file in field "request"'),
      parseUpload(limits.fileBytes),
      run(toUploadFile),
    ],
  };
}

/** The origin of every `request.url` a predictor sees: the client's `Host` header is not ours to repeat. */
const PREDICTOR_ORIGIN = "http://localhost";

function toWebRequest(req: ExpressRequest): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || name.startsWith(":")) continue;
    for (const item of Array.isArray(value) ? value : [value]) headers.append(name, item);
  }
  // The raw body was read whole (and bounded) by express.raw; a Buffer is valid fetch body data.
  const body = Buffer.isBuffer(req.body) && req.body.length > 0 ? (req.body as unknown as BodyInit) : undefined;
  return new Request(`${PREDICTOR_ORIGIN}${req.url}`, { method: req.method, headers, body });
}

function toPayload(body: unknown): Payload {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new HttpError(ERRORS.BUDGETML_PAYLOAD_INVALID, 'The body must be a JSON object like {"payload": {...}}');
  }
  const { payload } = body as { payload?: unknown };
  if (payload === undefined) return { payload: {} };
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) {
    throw new HttpError(
      ERRORS.BUDGETML_PAYLOAD_INVALID,
      `"payload" must be a JSON object, got ${Array.isArray(payload) ? "an array" : payload === null ? "null" : typeof payload}`,
    );
  }
  return { payload: payload as Record<string, unknown> };
}

const UPLOAD_FIELDS = ["request", "file"];

function parseUpload(fileBytes: number): RequestHandler {
  const upload = multer({
    storage: multer.memoryStorage(),
    limits: { fileSize: fileBytes, files: 1, fields: 20, fieldSize: 64 * 1024, parts: 30 },
  }).fields(UPLOAD_FIELDS.map((name) => ({ name, maxCount: 1 })));
  return (req, res, next) =>
    upload(req, res, (error?: unknown) => next(error ? uploadError(error, fileBytes) : undefined));
}

function uploadError(error: unknown, fileBytes: number): HttpError {
  if (error instanceof multer.MulterError) {
    switch (error.code) {
      case "LIMIT_FILE_SIZE":
        return new HttpError(ERRORS.BUDGETML_FILE_TOO_LARGE, `File too large: the limit is ${fileBytes} bytes`);
      case "LIMIT_UNEXPECTED_FILE":
        return new HttpError(
          ERRORS.BUDGETML_FILE_FIELD_UNEXPECTED,
          `Unexpected file field "${error.field}": send one file in field "request" (or "file")`,
        );
      default:
        return new HttpError(ERRORS.BUDGETML_UPLOAD_MALFORMED, `Malformed upload: ${error.message}`);
    }
  }
  return new HttpError(ERRORS.BUDGETML_UPLOAD_MALFORMED, `Malformed multipart body: ${(error as Error).message}`);
}

function toUploadFile(req: ExpressRequest): UploadFile {
  const files = (req.files ?? {}) as Record<string, Express.Multer.File[]>;
  const file = UPLOAD_FIELDS.map((name) => files[name]?.[0]).find(Boolean);
  if (!file)
    throw new HttpError(
      ERRORS.BUDGETML_FILE_MISSING,
      'Missing file: send it as multipart/form-data in field "request" (or "file")',
    );
  const bytes = file.buffer;
  return {
    filename: file.originalname,
    contentType: file.mimetype,
    size: file.size,
    bytes,
    read: async () => bytes,
  };
}
