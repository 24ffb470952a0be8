import type { IncomingMessage, ServerResponse } from "node:http";
import type { RequestHandler } from "express";
import { contextOf } from "./requestContext";

/** Connect-style handlers, as body-parser, multer and our own middleware are. */
type Chain = RequestHandler[];

/** A request path without its query and one trailing slash (the seed's clients send `/predict_dict/`). */
function routeOf(url = "/"): string {
  const path = url.split("?", 1)[0];
  return path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
}

/**
 * Serves the predict routes straight from Node's request and response, in front of Express rather
 * than through it. Express gives every request and response new prototypes and walks its router for
 * each; measured on the predict path, that alone cost more than half its throughput (see README,
 * Benchmarks). The handlers are the same middleware Express would run — body-parser, multer,
 * ours — in the same order; every other route is Express's. Returns false when the
 * request is not a prediction.
 */
export function predictLane(routes: Record<string, Chain>, onError: (error: unknown, res: ServerResponse) => void) {
  return (req: IncomingMessage, res: ServerResponse): boolean => {
    if (req.method !== "POST") return false;
    const route = routeOf(req.url);
    const chain = routes[route];
    if (!chain) return false;
    contextOf(res).route = route;
    let position = 0;
    const next = (error?: unknown): void => {
      if (error) return onError(error, res);
      const handler = chain[position++];
      if (!handler) {
        // The chain's last handler answers; one that passes the request on past it is a bug, answered
        // as one (500 with the request id) rather than left hanging until the client gives up.
        if (!res.headersSent) onError(new Error(`the ${route} chain ended without an answer`), res);
        return;
      }
      try {
        const result = handler(req as never, res as never, next) as unknown;
        if (result instanceof Promise) result.catch(next);
      } catch (thrown) {
        next(thrown);
      }
    };
    next();
    return true;
  };
}
