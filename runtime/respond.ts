import type { Response as ExpressResponse } from "express";
import { HttpError } from "./errors";

/** Sends what `predict` returned: a Web Response as is, bytes, text, or anything else as JSON. */
export async function sendPrediction(res: ExpressResponse, result: unknown): Promise<void> {
  if (result instanceof Response) {
    res.status(result.status);
    result.headers.forEach((value, name) => {
      // The body is sent decoded and whole, so the original framing headers no longer apply.
      if (name !== "content-length" && name !== "content-encoding" && name !== "transfer-encoding") res.setHeader(name, value);
    });
    res.end(Buffer.from(await result.arrayBuffer()));
    return;
  }
  if (result instanceof Uint8Array) {
    res.type("application/octet-stream").send(Buffer.from(result.buffer, result.byteOffset, result.byteLength));
    return;
  }
  if (typeof result === "string") {
    res.type("text/plain").send(result);
    return;
  }
  let body: string;
  try {
    body = JSON.stringify(result === undefined ? null : result);
  } catch (error) {
    throw new HttpError(500, `predict() returned a value that cannot be sent as JSON: ${(error as Error).message}`);
  }
  res.type("application/json").send(body);
}
