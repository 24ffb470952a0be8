import express, { type RequestHandler } from "express";
import { ERRORS, HttpError } from "./errors";
import { checkJsonShape } from "./jsonShape";

/** `charset=…` in a Content-Type header, lower-cased; undefined when absent. */
function charsetOf(contentType: string | undefined): string | undefined {
  const match = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(contentType ?? "");
  return match?.[1].toLowerCase();
}

/**
 * Before JSON.parse sees a body: UTF-8 only (RFC 8259 §8.1, and the shape check reads bytes), and
 * a bounded depth and key count, so a hostile body is refused in one linear pass instead of
 * stalling the worker's event loop.
 */
function checkJsonBody(body: Buffer, charset: string | undefined): void {
  if (charset !== undefined && charset !== "utf-8" && charset !== "utf8")
    throw new HttpError(ERRORS.BUDGETML_CHARSET_UNSUPPORTED, `JSON must be UTF-8; got charset ${charset}`);
  checkJsonShape(body);
}

/**
 * Middleware: reads a JSON body of at most `limitBytes` into `req.body` (an object or array: a bare
 * value is refused, as body-parser's `strict` does). The common body — not compressed — is read
 * here in a few lines; a compressed one (`Content-Encoding: gzip`, …) goes through body-parser,
 * which inflates it, with the same checks. Errors carry body-parser's types, so both paths answer
 * alike (see errorHandler.ts).
 */
export function jsonBody(limitBytes: number): RequestHandler {
  const compressed = express.json({
    limit: limitBytes,
    strict: true,
    verify: (req, _res, body) => checkJsonBody(body, charsetOf(req.headers["content-type"])),
  });
  return (req, res, next) => {
    const encoding = req.headers["content-encoding"];
    if (encoding !== undefined && encoding.toLowerCase() !== "identity") return compressed(req, res, next);
    const declared = req.headers["content-length"];
    if (declared !== undefined && Number(declared) > limitBytes)
      return next(
        Object.assign(new Error("request entity too large"), { type: "entity.too.large", limit: limitBytes }),
      );
    const chunks: Buffer[] = [];
    let received = 0;
    let failed = false;
    const fail = (error: Error) => {
      if (failed) return;
      failed = true;
      req.off("data", onData);
      req.off("end", onEnd);
      req.pause();
      next(error);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > limitBytes)
        return fail(
          Object.assign(new Error("request entity too large"), { type: "entity.too.large", limit: limitBytes }),
        );
      chunks.push(chunk);
    };
    const onEnd = () => {
      if (failed) return;
      failed = true; // settled: nothing below may call next twice
      const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, received);
      try {
        checkJsonBody(body, charsetOf(req.headers["content-type"]));
        req.body = parseStrict(body.toString("utf8"));
      } catch (error) {
        return next(error);
      }
      next();
    };
    req.on("data", onData);
    req.on("end", onEnd);
    const aborted = () => fail(Object.assign(new Error("request aborted"), { type: "request.aborted" }));
    req.on("aborted", aborted);
    req.on("error", aborted);
  };
}

/** The first character that is not JSON whitespace (space, tab, line feed, carriage return). */
function firstNonSpace(text: string): string | undefined {
  for (let i = 0; i < text.length; i += 1) {
    const char = text[i];
    if (char !== " " && char !== "\t" && char !== "\n" && char !== "\r") return char;
  }
  return undefined;
}

/** JSON.parse of an object or array, with body-parser's error type for anything malformed. */
function parseStrict(decoded: string): unknown {
  const text = decoded.charCodeAt(0) === 0xfeff ? decoded.slice(1) : decoded; // a byte order mark, as body-parser drops it
  const first = firstNonSpace(text);
  try {
    if (first !== "{" && first !== "[")
      throw new SyntaxError(`Unexpected token ${first ?? "end"}: expected an object or an array`);
    return JSON.parse(text);
  } catch (error) {
    throw Object.assign(error as Error, { type: "entity.parse.failed" });
  }
}
