import type { ServerResponse } from "node:http";

// Written with Node's own calls so the same code answers on the predict fast lane and in Express.

/** Sends a JSON body with a status and extra headers. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.statusCode = status;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.setHeader("content-type", "application/json; charset=utf-8");
  res.end(JSON.stringify(body));
}

function sendBytes(res: ServerResponse, contentType: string, body: Buffer | string): void {
  res.statusCode = 200;
  res.setHeader("content-type", contentType);
  res.end(body);
}

/** An answer already encoded with its status and headers (a Python predictor's): sent as is. */
export class EncodedPrediction {
  constructor(
    readonly status: number,
    readonly headers: ReadonlyArray<readonly [string, string]>,
    readonly body: Buffer,
  ) {}
}

/**
 * Sends what `predict` returned: a Web Response as is, bytes, text, or anything else as JSON.
 * Synchronous except for a Web Response, whose body is read first (then it returns a promise).
 */
export function sendPrediction(res: ServerResponse, result: unknown): Promise<void> | undefined {
  if (result instanceof EncodedPrediction) {
    res.statusCode = result.status;
    for (const [name, value] of result.headers) res.appendHeader(name, value);
    res.end(result.body);
    return;
  }
  if (result instanceof Response) return sendResponse(res, result);
  if (result instanceof Uint8Array)
    sendBytes(res, "application/octet-stream", Buffer.from(result.buffer, result.byteOffset, result.byteLength));
  else if (typeof result === "string") sendBytes(res, "text/plain; charset=utf-8", result);
  else sendJsonValue(res, result);
  return undefined;
}

async function sendResponse(res: ServerResponse, response: Response): Promise<void> {
  res.statusCode = response.status;
  response.headers.forEach((value, name) => {
    // The body is sent decoded and whole, so the original framing headers no longer apply.
    if (name !== "content-length" && name !== "content-encoding" && name !== "transfer-encoding")
      res.setHeader(name, value);
  });
  res.end(Buffer.from(await response.arrayBuffer()));
}

function sendJsonValue(res: ServerResponse, result: unknown): void {
  let body: string;
  try {
    body = JSON.stringify(result === undefined ? null : result);
  } catch (error) {
    // Not an HttpError: its text names the predictor's internals, so it goes to the log, not to the client.
    throw new Error(`predict() returned a value that cannot be sent as JSON: ${(error as Error).message}`);
  }
  sendBytes(res, "application/json; charset=utf-8", body);
}
