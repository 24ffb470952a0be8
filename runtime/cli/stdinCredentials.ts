import { readFileSync } from "node:fs";
import { CREDENTIALS_SOURCE, decodeCredentials } from "../../contracts/runtimeCredentials";
import { UsageError } from "./config";

/**
 * The environment to read the serve configuration from: `env` itself, or — with
 * `BUDGET_CREDENTIALS=stdin`, as on a VM — `env` plus the credentials read once from standard
 * input (see contracts/runtimeCredentials.ts). The credentials go into the returned copy only,
 * never into `process.env`, so no child process inherits them.
 */
export function withStdinCredentials(
  env: NodeJS.ProcessEnv,
  readStdin: () => string = () => readFileSync(0, "utf8"),
): NodeJS.ProcessEnv {
  if (env[CREDENTIALS_SOURCE.name] === undefined) return env;
  if (env[CREDENTIALS_SOURCE.name] !== CREDENTIALS_SOURCE.stdin)
    throw new UsageError(
      `${CREDENTIALS_SOURCE.name} must be "${CREDENTIALS_SOURCE.stdin}" (or unset), got "${env[CREDENTIALS_SOURCE.name]}"`,
    );
  try {
    return { ...env, ...decodeCredentials(readStdin()) };
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}
