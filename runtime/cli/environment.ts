// Every environment variable the runtime reads, in one registry keyed by the names of
// `contracts/runtimeEnvironment.ts` (every name, and no other: a difference does not compile):
// `readServeConfig` reads the environment through the contract's `RuntimeEnv` type, the VM's boot
// writes it through `runtimeEnvironment`, `docs/configuration.md` is generated from this registry
// (`npm run docs:config`), and `tests/docs/configuration.test.ts` scans `runtime/` for reads it lacks.
import { DEFAULTS } from "../app";
import { MAX_BATCH_SIZE, MAX_BATCH_WAIT_MS } from "../../contracts/batching";
import type { EnvironmentVariable } from "../../contracts/environmentVariable";
import type { RuntimeVariableName } from "../../contracts/runtimeEnvironment";

export type { RuntimeEnv, RuntimeVariableName } from "../../contracts/runtimeEnvironment";

/** Defaults of the serve settings that `AppOptions` does not carry (`readServeConfig` uses them). */
export const SERVE_DEFAULTS = {
  host: "0.0.0.0",
  port: 8080,
  drainSeconds: 25,
  handoffMs: 0,
  headersTimeoutMs: 10_000,
  keepAliveSeconds: 65,
  pythonThreads: 8,
} as const;

const VM = "the VM's boot (`images/vm/`)";
const USER = "you, for `budgetml serve`";

/** The runtime's environment variables, in the order the docs list them. */
export const RUNTIME_ENVIRONMENT = {
  BUDGET_USERNAME: {
    meaning: "the login name",
    default: "generated and printed once, when it, `BUDGET_PWD` and `BUDGET_TOKEN` are all unset",
    setBy: `${USER}; ${VM} through \`BUDGET_CREDENTIALS=stdin\``,
  },
  BUDGET_PWD: {
    meaning: "the password",
    default: "generated, as `BUDGET_USERNAME`",
    setBy: `${USER}; ${VM} through \`BUDGET_CREDENTIALS=stdin\``,
  },
  BUDGET_TOKEN: {
    meaning: "the bearer tokens' signing key (HS256, at least 16 characters)",
    default: "generated, as `BUDGET_USERNAME`",
    setBy: `${USER}; ${VM} through \`BUDGET_CREDENTIALS=stdin\``,
  },
  BUDGET_CREDENTIALS: {
    meaning:
      '`stdin`: read the three above instead as one JSON object on standard input (`{"BUDGET_USERNAME": …, "BUDGET_PWD": …, "BUDGET_TOKEN": …}`), so they are in no process\'s environment (`contracts/runtimeCredentials.ts`)',
    default: "unset: the environment",
    setBy: `${VM} (always \`stdin\`); the runtime's primary for its workers`,
  },
  BUDGET_PREDICTOR_PATH: {
    meaning: "as `--predictor`: a `.ts`/`.js`/`.cjs`/`.mjs`/`.py` file or `gs://bucket/object`",
    default: "required (or `--predictor`)",
    setBy: `${USER}; ${VM}`,
  },
  BUDGET_PREDICTOR_ENTRYPOINT: {
    meaning: "as `--entrypoint`: the exported class name",
    default: "`Predictor`, else the default export",
    setBy: `${USER}; ${VM} from the component's \`entrypoint\``,
  },
  PORT: {
    meaning: "as `--port`: the port to listen on",
    default: String(SERVE_DEFAULTS.port),
    setBy: `${USER}; ${VM} (8081/8082 for the two slots, 8080 on a replica)`,
  },
  BUDGET_HOST: {
    meaning: "as `--host`: the address to listen on",
    default: SERVE_DEFAULTS.host,
    setBy: `${USER}; ${VM}: 127.0.0.1 behind Caddy, 0.0.0.0 for an image or on a replica`,
  },
  BUDGET_WORKERS: {
    meaning: "as `--workers`: worker processes",
    default: "one per core",
    setBy: USER,
  },
  BUDGET_TOKEN_TTL_SECONDS: {
    meaning: "token lifetime",
    default: String(DEFAULTS.tokenTtlSeconds),
    setBy: USER,
  },
  BUDGET_MAX_BODY_BYTES: {
    meaning: "the largest request body",
    default: `${DEFAULTS.bodyBytes / 1024 / 1024} MiB`,
    setBy: USER,
  },
  BUDGET_MAX_FILE_BYTES: {
    meaning: "the largest upload on `/predict_image`",
    default: `${DEFAULTS.fileBytes / 1024 / 1024} MiB`,
    setBy: USER,
  },
  BUDGET_PREDICT_TIMEOUT_MS: {
    meaning: "one prediction's time limit (504 past it)",
    default: String(DEFAULTS.predictTimeoutMs),
    setBy: USER,
  },
  BUDGET_MAX_IN_FLIGHT: {
    meaning:
      "predictions running at once per worker (with batching: in a batch or waiting for one; not below the batch size)",
    default: `${DEFAULTS.maxInFlight} (with batching: twice the batch size)`,
    setBy: USER,
  },
  BUDGET_MAX_QUEUED: {
    meaning: "predictions waiting behind them (503 beyond)",
    default: String(DEFAULTS.maxQueued),
    setBy: USER,
  },
  BUDGET_MAX_QUEUE_WAIT_MS: {
    meaning:
      "the longest a prediction may expect to wait for a slot, counted from its arrival (queue position ÷ slots × the average prediction time, plus the time waited): past it, 503 + `Retry-After`",
    default: String(DEFAULTS.maxQueueWaitMs),
    setBy: USER,
  },
  BUDGET_BODY_TIMEOUT_MS: {
    meaning: "how long a prediction's body may take to arrive in all (408 past it)",
    default: String(DEFAULTS.bodyTimeoutMs),
    setBy: USER,
  },
  BUDGET_BODY_MIN_BYTES_PER_SECOND: {
    meaning: "after its first second, a body must arrive at least this fast on average (408 past it; 0 = no minimum)",
    default: String(DEFAULTS.bodyMinBytesPerSecond),
    setBy: USER,
  },
  BUDGET_HEADERS_TIMEOUT_MS: {
    meaning: "how long a client may take to send its headers (the whole request: this + the body timeout + 1 s)",
    default: String(SERVE_DEFAULTS.headersTimeoutMs),
    setBy: USER,
  },
  BUDGET_MAX_FAILED_LOGINS: {
    meaning: "failed logins per address per minute before 429",
    default: String(DEFAULTS.maxFailedLogins),
    setBy: USER,
  },
  BUDGET_DRAIN_SECONDS: {
    meaning: "after SIGTERM, how long in-flight predictions may finish",
    default: `${SERVE_DEFAULTS.drainSeconds} (a preempted VM gets ~30 s)`,
    setBy: `${USER}; ${VM} on a replica (15)`,
  },
  BUDGET_HANDOFF_MS: {
    meaning:
      "after SIGTERM, how long predictions are still served while health already says `draining` (so Caddy, or on a replica the load balancer, moves traffic first)",
    default: String(SERVE_DEFAULTS.handoffMs),
    setBy: `${VM} during a switch (3 s) and on a replica (10 s)`,
  },
  BUDGET_KEEPALIVE_SECONDS: {
    meaning:
      "how long an idle keep-alive connection stays open: longer than the proxy in front keeps its own (Caddy 30 s; Google's load balancer 600 s)",
    default: String(SERVE_DEFAULTS.keepAliveSeconds),
    setBy: `${VM} on a replica (620)`,
  },
  BUDGET_BUNDLE: {
    meaning:
      "what the health answer reports as `bundle`: the runtime and predictor bundles (and image) and the secret versions (`contracts/servedDeployment.ts`)",
    default: "none",
    setBy: VM,
  },
  BUDGET_PROVISIONING: {
    meaning:
      "the provisioning model the health answer reports: `spot`, `preemptible` or `standard` (read at boot from the metadata server's `instance/scheduling/`: `provisioningFromMetadata`)",
    default: "none",
    setBy: VM,
  },
  BUDGET_ACCELERATOR: {
    meaning:
      "the GPUs the machine must have, `<type>:<count>` (`nvidia-tesla-t4:1`): checked with nvidia-smi before the predictor loads; a mismatch leaves the runtime in `load_failed` (`contracts/gpuCheck.ts`)",
    default: "none: no GPU check",
    setBy: `${USER}; ${VM} from the instance metadata's \`budget-accelerator\``,
  },
  BUDGET_TRUSTED_PROXY: {
    meaning:
      "whose `X-Forwarded-For` is believed (Express's `trust proxy`): addresses, CIDRs, or `loopback`/`linklocal`/`uniquelocal`",
    default: "`loopback`",
    setBy: `${VM}: Caddy on loopback; the docker bridge gateway for a custom image; Google's front ends on a replica`,
  },
  BUDGET_LOG_LEVEL: {
    meaning: "pino's log level",
    default: "`info`",
    setBy: USER,
  },
  BUDGET_PYTHON: {
    meaning: "the interpreter for a `.py` predictor",
    default: "`python3` on `PATH`",
    setBy: `${USER}; ${VM}: the predictor's virtual environment`,
  },
  BUDGET_PYTHON_THREADS: {
    meaning: "threads for a plain `def predict`, per worker (read by the Python host)",
    default: String(SERVE_DEFAULTS.pythonThreads),
    setBy: USER,
  },
  BUDGET_MAX_BATCH_SIZE: {
    meaning:
      "as `--max-batch-size`: the most requests per `predictBatch` call ([batching](predictors.md#batching-opt-in))",
    default: `${MAX_BATCH_SIZE.default} (off)`,
    setBy: `${USER}; ${VM} from the component's \`maxBatchSize\``,
  },
  BUDGET_MAX_BATCH_WAIT_MS: {
    meaning: "as `--max-batch-wait-ms`: the longest an idle model's batch waits for more",
    default: String(MAX_BATCH_WAIT_MS.default),
    setBy: `${USER}; ${VM} from the component's \`maxBatchWaitMs\``,
  },
} as const satisfies Record<RuntimeVariableName, EnvironmentVariable>;
