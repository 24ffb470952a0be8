import pino, { type Logger } from "pino";

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
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ severity: SEVERITY[label] ?? "DEFAULT" }) },
      redact: {
        paths: ["authorization", "headers.authorization", "password", "token", "access_token", "*.password", "*.token"],
        censor: "[redacted]",
      },
    },
    options.destination ?? pino.destination({ fd: 1, sync: false }),
  );
}
