// The names of the environment variables the runtime reads: the contract between whoever starts the
// runtime — the VM's boot (`images/vm/`), a replica's template, a user of `budgetml serve` — and the
// runtime, whose registry (`runtime/cli/environment.ts`) documents each name (meaning, default, who
// sets it) and must list exactly these. The boot writes the runtime's environment through
// `runtimeEnvironment`, the runtime reads it through `RuntimeEnv`: a name misspelt on either side
// does not compile.
import { CREDENTIAL_VARIABLES, CREDENTIALS_SOURCE } from "./runtimeCredentials";

/** Every variable the runtime reads, in the order `docs/configuration.md` lists them. */
export const RUNTIME_VARIABLES = [
  ...CREDENTIAL_VARIABLES,
  CREDENTIALS_SOURCE.name,
  "BUDGET_PREDICTOR_PATH",
  "BUDGET_PREDICTOR_ENTRYPOINT",
  "PORT",
  "BUDGET_HOST",
  "BUDGET_WORKERS",
  "BUDGET_TOKEN_TTL_SECONDS",
  "BUDGET_MAX_BODY_BYTES",
  "BUDGET_MAX_FILE_BYTES",
  "BUDGET_PREDICT_TIMEOUT_MS",
  "BUDGET_MAX_IN_FLIGHT",
  "BUDGET_MAX_QUEUED",
  "BUDGET_MAX_QUEUE_WAIT_MS",
  "BUDGET_BODY_TIMEOUT_MS",
  "BUDGET_BODY_MIN_BYTES_PER_SECOND",
  "BUDGET_HEADERS_TIMEOUT_MS",
  "BUDGET_MAX_FAILED_LOGINS",
  "BUDGET_DRAIN_SECONDS",
  "BUDGET_HANDOFF_MS",
  "BUDGET_KEEPALIVE_SECONDS",
  "BUDGET_BUNDLE",
  "BUDGET_PROVISIONING",
  "BUDGET_ACCELERATOR",
  "BUDGET_TRUSTED_PROXY",
  "BUDGET_LOG_LEVEL",
  "BUDGET_PYTHON",
  "BUDGET_PYTHON_THREADS",
  "BUDGET_MAX_BATCH_SIZE",
  "BUDGET_MAX_BATCH_WAIT_MS",
] as const;

/** The name of an environment variable the runtime reads. */
export type RuntimeVariableName = (typeof RUNTIME_VARIABLES)[number];

/** The environment as the runtime may read it: only its variables' names type-check. */
export type RuntimeEnv = { readonly [Name in RuntimeVariableName]?: string };

/**
 * The runtime's environment as a starter writes it, one object literal of the runtime's variables
 * (so each name is checked), as a process takes it: a variable given `undefined` is left out.
 */
export function runtimeEnvironment(variables: { [Name in RuntimeVariableName]?: string | undefined }): Record<
  string,
  string
> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(variables)) if (value !== undefined) env[name] = value;
  return env;
}
