import { randomUUID } from "node:crypto";
import type { RequestHandler } from "express";
import type { Logger } from "../../contracts/cloudLogging";
import { requestLineWriter } from "../logger";
import type { RuntimeMetrics } from "../metrics";
import { contextOf } from "./requestContext";

const CLIENT_REQUEST_ID = /^[\w.-]{1,64}$/;

/**
 * Gives each request an id (the client's `X-Request-Id` when it is sane), echoes it back, and on
 * completion logs one line and records the request's metrics. Only method, path, status and
 * timing are logged: never headers or bodies, where credentials travel.
 */
export function requestLog(logger: Logger, metrics: RuntimeMetrics): RequestHandler {
  const writeLine = requestLineWriter(logger);
  return (req, res, next) => {
    const offered = req.headers["x-request-id"];
    const requestId = typeof offered === "string" && CLIENT_REQUEST_ID.test(offered) ? offered : randomUUID();
    const context = contextOf(res);
    context.requestId = requestId;
    res.setHeader("X-Request-Id", requestId);
    const started = performance.now();
    res.on("finish", () => {
      const seconds = (performance.now() - started) / 1000;
      // The matched route, not the raw path, so a scan of random URLs cannot explode the label set.
      const route = (req.route?.path as string | undefined) ?? context.route;
      metrics.requests.record(route, req.method as string, res.statusCode, seconds);
      writeLine({
        requestId,
        method: req.method,
        path: (req.url ?? "").split("?")[0],
        status: res.statusCode,
        durationMs: Math.round(seconds * 1e4) / 10,
      });
    });
    next();
  };
}
