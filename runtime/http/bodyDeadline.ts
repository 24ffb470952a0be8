import type { RequestHandler } from "express";
import { contextOf } from "./requestContext";
import { sendJson } from "./respond";

/**
 * Middleware: the request's body must have arrived within `ms` of this point, or the client gets
 * 408 and the connection is closed. Predictions hold their admission slot while the body is read
 * (admission comes first, so a flood of uploads cannot fill memory), which without a deadline would
 * let a few slow uploads hold every slot.
 */
export function bodyDeadline(ms: number): RequestHandler {
  return (req, res, next) => {
    if (req.complete) return next();
    const timer = setTimeout(() => {
      if (req.complete || res.headersSent) return;
      res.setHeader("Connection", "close");
      sendJson(res, 408, {
        error: `The request body did not arrive within ${ms} ms`,
        requestId: contextOf(res).requestId,
      });
      // The body parser still waits for bytes: closing the connection ends it (and frees the slot).
      res.once("finish", () => req.socket.destroy());
    }, ms);
    const stop = () => clearTimeout(timer);
    req.once("end", stop);
    res.once("close", stop);
    next();
  };
}
