// How a number setting (an environment variable or a command-line flag) is parsed and how its
// error reads — one rule for the runtime, the restarter and `budgetml local`.

/** A configuration mistake: the CLI prints the message on one line and exits 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** The allowed range; `integer` for counts, ports and milliseconds. */
export interface NumberRule {
  min: number;
  max: number;
  integer?: boolean;
}

/**
 * Parses `raw` (unset or empty: `fallback`); throws a `UsageError` reading
 * `NAME must be a [whole] number from MIN to MAX, got "RAW"`.
 */
export function parseNumberSetting(name: string, raw: string | undefined, fallback: number, rule: NumberRule): number {
  if (raw === undefined || raw.trim() === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || (rule.integer && !Number.isInteger(value)) || value < rule.min || value > rule.max) {
    throw new UsageError(
      `${name} must be a ${rule.integer ? "whole " : ""}number from ${rule.min} to ${rule.max}, got "${raw}"`,
    );
  }
  return value;
}
