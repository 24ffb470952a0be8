/**
 * The predictor contract: what a user writes and what the runtime calls.
 *
 * A predictor is a plain class — no base class — exported from a module as `Predictor`, as the
 * default export, or under the name given as the entrypoint.
 */

/** The body of `POST /predict_dict`: `{"payload": {...}}`; an absent `payload` is `{}`. */
export interface Payload {
  /** The JSON object the client sent as `payload`. */
  payload: Record<string, unknown>;
}

/** The file of `POST /predict_image` (multipart field `request`, or `file`). */
export interface UploadFile {
  /** The file name the client sent, e.g. `"cat.jpg"`. */
  filename: string;
  /** The part's content type, e.g. `"image/jpeg"`. */
  contentType: string;
  /** Size in bytes. */
  size: number;
  /** The whole file, already in memory (uploads are bounded by the runtime's file limit). */
  bytes: Buffer;
  /** The file's bytes, as the seed's `await request.read()`. */
  read(): Promise<Buffer>;
}

/**
 * What `predict` receives: a Web `Request` for `/predict` (its body readable with `.json()`,
 * `.text()`, `.arrayBuffer()`), a {@link Payload} for `/predict_dict`, an {@link UploadFile} for
 * `/predict_image`.
 */
export type PredictRequest = Request | Payload | UploadFile;

/**
 * What `predict` may return: a plain value (sent as JSON), a `Buffer` or `Uint8Array`
 * (sent as `application/octet-stream`), a string (sent as `text/plain`), or a Web `Response`
 * (sent with its own status, headers and body — e.g. an image).
 */
export type PredictResult = unknown;

/** The contract a predictor class fulfils. */
export interface Predictor<R extends PredictRequest = PredictRequest> {
  /** Called once per worker before it serves predictions: load weights, warm caches. */
  load?(): void | Promise<void>;
  /** Runs one inference. */
  predict(request: R): Promise<PredictResult> | PredictResult;
  /**
   * Runs several inferences at once, used only when batching is on (`maxBatchSize` above 1): the
   * runtime groups concurrent requests and passes them in arrival order. Returns one result per
   * request, in the same order; an `Error` in the list answers that request alone (an `HttpError`-
   * like error with a 4xx `status` as the client's mistake, anything else as a 500). Throwing fails
   * every request of the batch. @default none: batching cannot be turned on
   */
  predictBatch?(requests: R[]): Promise<Array<PredictResult | Error>> | Array<PredictResult | Error>;
}

/** A predictor class as found in the user's module. */
export type PredictorClass = new () => Predictor;

/**
 * Files a TypeScript/JavaScript predictor may import besides code, and how: a model file
 * (`import model from "./model.onnx"`) becomes its bytes, a `Uint8Array`, inside the bundle — so
 * the model travels with the predictor to the VM. Used by the loader and the predictor bundle.
 */
export const PREDICTOR_FILE_LOADERS = { ".onnx": "binary" } as const;
