import pino, { type DestinationStream, type Logger } from "pino";

export type { Logger };

// Cloud Logging reads `severity`; these are its names for pino's levels.
const SEVERITY: Record<string, string> = {
  trace: "DEBUG",
  debug: "DEBUG",
  info: "INFO",
  warn: "WARNING",
  error: "ERROR",
  fatal: "CRITICAL",
};

/**
 * pino's ISO timestamp, formatted once per millisecond: a busy worker writes several lines in the
 * same millisecond (one per request), and formatting a date is a measurable part of each.
 */
function isoTimeOncePerMs(): () => string {
  let formattedAtMs = -1;
  let formatted = "";
  return () => {
    const now = Date.now();
    if (now !== formattedAtMs) {
      formattedAtMs = now;
      formatted = `,"time":"${new Date(now).toISOString()}"`;
    }
    return formatted;
  };
}

/**
 * A JSON logger whose lines Cloud Logging understands (`severity`, `message`). Authorization
 * headers and anything named like a secret are redacted, as a second line of defence: the runtime
 * never passes credentials to the logger in the first place.
 */
export function createLogger(options: { level?: string; destination?: pino.DestinationStream } = {}): Logger {
  return pino(
    {
      level: options.level ?? process.env.BUDGET_LOG_LEVEL ?? "info",
      messageKey: "message",
      base: undefined,
      timestamp: isoTimeOncePerMs(),
      formatters: { level: (label) => ({ severity: SEVERITY[label] ?? "DEFAULT" }) },
      redact: {
        paths: ["authorization", "headers.authorization", "password", "token", "access_token", "*.password", "*.token"],
        censor: "[redacted]",
      },
    },
    options.destination ?? pino.destination({ fd: 1, sync: false }),
  );
}

/** One request's line: what {@link requestLineWriter} writes. */
export interface RequestLine {
  requestId: string;
  method: string;
  path: string;
  status: number;
  durationMs: number;
}

/**
 * Writes the line `logger.info(line, "request")` (or `warn(…, "request failed")` for a 5xx) would,
 * formatted here rather than by pino: one such line per request is the runtime's hottest log call,
 * and pino's generic path (serialisation, redaction of fields this line never has) cost about 5 %
 * of a prediction's CPU on the benchmark's load. Same stream, same level check, same keys.
 */
export function requestLineWriter(logger: Logger): (line: RequestLine) => void {
  const internals = logger as unknown as Record<symbol, unknown>;
  const stream = internals[pino.symbols.streamSym] as DestinationStream;
  const time = internals[pino.symbols.timeSym] as () => string;
  return ({ requestId, method, path, status, durationMs }) => {
    const failed = status >= 500;
    if (!logger.isLevelEnabled(failed ? "warn" : "info")) return;
    stream.write(
      `{"severity":"${failed ? SEVERITY.warn : SEVERITY.info}"${time()},"requestId":${JSON.stringify(requestId)},` +
        `"method":${JSON.stringify(method)},"path":${JSON.stringify(path)},"status":${status},` +
        `"durationMs":${durationMs},"message":"${failed ? "request failed" : "request"}"}\n`,
    );
  };
}
