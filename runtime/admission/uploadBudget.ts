import type { IncomingMessage } from "node:http";
import type { RequestHandler } from "express";
import { ERRORS, HttpError } from "../http/errors";

/**
 * Bodies up to this size are not counted: a few dozen of them are a few megabytes, and the
 * common prediction (a JSON payload, a small image) skips the bookkeeping altogether.
 */
export const UNCOUNTED_BODY_BYTES = 64 * 1024;

/**
 * The memory a worker gives to request bodies, now that a body is read before its prediction takes
 * a slot (a slow upload must not keep the model idle). A body larger than
 * {@link UNCOUNTED_BODY_BYTES} reserves its declared length (a chunked one, the route's limit)
 * before it is read, and keeps it until its response is over. Past `totalBytes` — or past half of
 * it for one client, so a single client cannot take every upload's place — the request gets 503
 * with `Retry-After` before any of its body is read.
 */
export class UploadBudget {
  private reserved = 0;
  private readonly byClient = new Map<string, number>();

  /** @param clientOf who sent the request (its address, as the login limiter counts it) */
  constructor(
    readonly totalBytes: number,
    private readonly clientOf: (req: IncomingMessage) => string,
  ) {}

  /** Bytes reserved now. */
  get reservedBytes(): number {
    return this.reserved;
  }

  /** Middleware for a route whose bodies may be up to `limitBytes` (the parser refuses larger ones). */
  reserve(limitBytes: number): RequestHandler {
    return (req, res, next) => {
      const declared = req.headers["content-length"];
      const bytes = Math.min(limitBytes, declared === undefined ? limitBytes : Number(declared) || 0);
      if (bytes <= UNCOUNTED_BODY_BYTES) return next();
      const client = this.clientOf(req);
      const held = this.byClient.get(client) ?? 0;
      if (this.reserved + bytes > this.totalBytes || held + bytes > this.totalBytes / 2) {
        return next(
          new HttpError(
            ERRORS.BUDGETML_UPLOADS_OVERLOADED,
            held + bytes > this.totalBytes / 2
              ? "Too many uploads in progress from this client; retry shortly"
              : "Too many uploads in progress; retry shortly",
            { "Retry-After": "1" },
            { status: "overloaded" },
          ),
        );
      }
      this.reserved += bytes;
      this.byClient.set(client, held + bytes);
      res.once("close", () => {
        this.reserved -= bytes;
        const left = (this.byClient.get(client) as number) - bytes;
        if (left > 0) this.byClient.set(client, left);
        else this.byClient.delete(client);
      });
      next();
    };
  }
}
