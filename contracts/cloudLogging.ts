// The log line every deployable writes to standard output, as Cloud Logging reads it: one JSON
// object a line with `severity` (Cloud Logging's names), `message` and `time`. The runtime and the
// restarter log through `createLogger`; the runtime's request line (runtime/logger.ts) uses the same keys.
import pino, { type Logger } from "pino";
import type { RuntimeEnv } from "./runtimeEnvironment";
import { turnBatched } from "./turnBatchedStream";

export type { Logger };

// Cloud Logging reads `severity`; these are its names for pino's levels.
export const SEVERITY: Record<string, string> = {
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
  // The runtime's variable (contracts/runtimeEnvironment.ts), which the restarter honours too.
  const env: RuntimeEnv = process.env;
  return pino(
    {
      level: options.level ?? env.BUDGET_LOG_LEVEL ?? "info",
      messageKey: "message",
      base: undefined,
      timestamp: isoTimeOncePerMs(),
      formatters: { level: (label) => ({ severity: SEVERITY[label] ?? "DEFAULT" }) },
      redact: {
        paths: ["authorization", "headers.authorization", "password", "token", "access_token", "*.password", "*.token"],
        censor: "[redacted]",
      },
    },
    options.destination ?? turnBatched(pino.destination({ fd: 1, sync: true })),
  );
}
