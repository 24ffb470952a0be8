import { cpus } from "node:os";
import type { Provisioning } from "../../contracts/scheduling";
import { parseAcceleratorSpec, type Gpus } from "../../contracts/accelerators";
import { parseNumberSetting, UsageError } from "../../contracts/settings";
import { DEFAULTS, type AppOptions } from "../app";
import type { BatchingOptions } from "../batching/batchingPredictor";
import { inFlightForBatches, MAX_BATCH_SIZE, MAX_BATCH_WAIT_MS } from "../../contracts/batching";
import { SERVE_DEFAULTS, type RuntimeEnv, type RuntimeVariableName } from "./environment";

export { UsageError } from "../../contracts/settings";

/** What one `serve` process needs, read from flags and the environment. */
export interface ServeConfig {
  predictorPath: string;
  entrypoint: string | undefined;
  host: string;
  port: number;
  workers: number;
  /** How long in-flight predictions may run after SIGTERM. @default 25 (a preempted VM gets ~30 s) */
  drainSeconds: number;
  /**
   * After SIGTERM, how long predictions are still served while the health check already says
   * `draining`, so a health-checking proxy moves traffic elsewhere first. @default 0
   */
  handoffMs: number;
  /** How long a client may take to send its request headers. @default 10000 */
  headersTimeoutMs: number;
  /**
   * How long an idle keep-alive connection stays open: longer than the proxy in front keeps its
   * idle connections (Caddy: 30 s; Google's load balancer: 600 s). @default 65
   */
  keepAliveSeconds: number;
  app: Omit<AppOptions, "loadPredictor" | "logger">;
}

/** Flags given on the command line; each overrides its environment variable. */
export interface ServeFlags {
  predictor?: string;
  entrypoint?: string;
  port?: string;
  workers?: string;
  host?: string;
  "max-batch-size"?: string;
  "max-batch-wait-ms"?: string;
}

type Env = RuntimeEnv;

/**
 * Reads and validates the serve configuration. Credentials come only from the environment
 * (`BUDGET_USERNAME`, `BUDGET_PWD`, `BUDGET_TOKEN`) so they never show in a process listing.
 */
export function readServeConfig(env: Env, flags: ServeFlags = {}): ServeConfig {
  const predictorPath = flags.predictor ?? env.BUDGET_PREDICTOR_PATH;
  if (!predictorPath) throw new UsageError("no predictor: pass --predictor FILE or set BUDGET_PREDICTOR_PATH");
  const missing = (["BUDGET_USERNAME", "BUDGET_PWD", "BUDGET_TOKEN"] as const).filter((name) => !env[name]);
  if (missing.length > 0)
    throw new UsageError(`missing environment variable${missing.length > 1 ? "s" : ""} ${missing.join(", ")}`);
  if ((env.BUDGET_TOKEN as string).length < 16)
    throw new UsageError("BUDGET_TOKEN must be at least 16 characters: it signs the bearer tokens");

  /** A whole-number setting read by its registered name; a flag given on the command line overrides it. */
  const int = (name: RuntimeVariableName, fallback: number, min: number, max: number, flag?: keyof ServeFlags) => {
    const given = flag === undefined ? undefined : flags[flag];
    const [label, raw] = given === undefined ? [name, env[name]] : [`--${flag}`, given];
    return parseNumberSetting(label, raw, fallback, { min, max, integer: true });
  };
  const batching = readBatching(env, flags);
  const maxInFlight = int(
    "BUDGET_MAX_IN_FLIGHT",
    batching ? inFlightForBatches(batching.maxBatchSize) : DEFAULTS.maxInFlight,
    1,
    10_000,
  );
  if (batching && maxInFlight < batching.maxBatchSize)
    throw new UsageError(
      `BUDGET_MAX_IN_FLIGHT (${maxInFlight}) is below the batch size (${batching.maxBatchSize}): no batch could fill; raise it or leave it unset (twice the batch size)`,
    );

  return {
    predictorPath,
    entrypoint: flags.entrypoint ?? (env.BUDGET_PREDICTOR_ENTRYPOINT || undefined),
    host: flags.host ?? env.BUDGET_HOST ?? SERVE_DEFAULTS.host,
    port: int("PORT", SERVE_DEFAULTS.port, 0, 65535, "port"),
    workers: int("BUDGET_WORKERS", cpus().length, 1, 64, "workers"),
    drainSeconds: int("BUDGET_DRAIN_SECONDS", SERVE_DEFAULTS.drainSeconds, 0, 3600),
    handoffMs: int("BUDGET_HANDOFF_MS", SERVE_DEFAULTS.handoffMs, 0, 60_000),
    headersTimeoutMs: int("BUDGET_HEADERS_TIMEOUT_MS", SERVE_DEFAULTS.headersTimeoutMs, 100, 600_000),
    keepAliveSeconds: int("BUDGET_KEEPALIVE_SECONDS", SERVE_DEFAULTS.keepAliveSeconds, 1, 3600),
    app: {
      credentials: { username: env.BUDGET_USERNAME as string, password: env.BUDGET_PWD as string },
      tokenSigningKey: env.BUDGET_TOKEN as string,
      tokenTtlSeconds: int("BUDGET_TOKEN_TTL_SECONDS", DEFAULTS.tokenTtlSeconds, 60, 30 * 24 * 3600),
      limits: {
        bodyBytes: int("BUDGET_MAX_BODY_BYTES", DEFAULTS.bodyBytes, 1, 1 << 30),
        fileBytes: int("BUDGET_MAX_FILE_BYTES", DEFAULTS.fileBytes, 1, 1 << 30),
      },
      bodyTimeoutMs: int("BUDGET_BODY_TIMEOUT_MS", DEFAULTS.bodyTimeoutMs, 1, 3_600_000),
      bodyMinBytesPerSecond: int("BUDGET_BODY_MIN_BYTES_PER_SECOND", DEFAULTS.bodyMinBytesPerSecond, 0, 1 << 30),
      predictTimeoutMs: int("BUDGET_PREDICT_TIMEOUT_MS", DEFAULTS.predictTimeoutMs, 1, 3_600_000),
      maxInFlight,
      ...(batching ? { batching } : {}),
      maxQueued: int("BUDGET_MAX_QUEUED", DEFAULTS.maxQueued, 0, 100_000),
      ...(env.BUDGET_BUNDLE ? { bundle: env.BUDGET_BUNDLE } : {}),
      ...(env.BUDGET_PROVISIONING ? { provisioning: provisioningSetting(env.BUDGET_PROVISIONING) } : {}),
      ...(env.BUDGET_ACCELERATOR ? { accelerator: acceleratorSetting(env.BUDGET_ACCELERATOR) } : {}),
      ...(env.BUDGET_TRUSTED_PROXY ? { trustedProxy: trustedProxy(env.BUDGET_TRUSTED_PROXY) } : {}),
      maxQueueWaitMs: int("BUDGET_MAX_QUEUE_WAIT_MS", DEFAULTS.maxQueueWaitMs, 0, 3_600_000),
      maxFailedLogins: int("BUDGET_MAX_FAILED_LOGINS", DEFAULTS.maxFailedLogins, 1, 1_000_000),
    },
  };
}

/** Adaptive batching from `--max-batch-size`/`BUDGET_MAX_BATCH_SIZE` and its wait; undefined when off (size 1). */
function readBatching(env: Env, flags: ServeFlags): BatchingOptions | undefined {
  const sizeFlag = flags["max-batch-size"] !== undefined;
  const waitFlag = flags["max-batch-wait-ms"] !== undefined;
  const maxBatchSize = parseNumberSetting(
    sizeFlag ? "--max-batch-size" : "BUDGET_MAX_BATCH_SIZE",
    flags["max-batch-size"] ?? env.BUDGET_MAX_BATCH_SIZE,
    MAX_BATCH_SIZE.default,
    MAX_BATCH_SIZE,
  );
  const waitRaw = flags["max-batch-wait-ms"] ?? env.BUDGET_MAX_BATCH_WAIT_MS;
  const waitName = waitFlag ? "--max-batch-wait-ms" : "BUDGET_MAX_BATCH_WAIT_MS";
  const maxWaitMs = parseNumberSetting(waitName, waitRaw, MAX_BATCH_WAIT_MS.default, MAX_BATCH_WAIT_MS);
  if (maxBatchSize > 1) return { maxBatchSize, maxWaitMs };
  if (waitRaw !== undefined && waitRaw.trim() !== "")
    throw new UsageError(`${waitName} needs a batch size above 1 (--max-batch-size): batching is off`);
  return undefined;
}

/** `BUDGET_PROVISIONING`: one of the provisioning models. */
function provisioningSetting(raw: string): Provisioning {
  if (raw === "spot" || raw === "preemptible" || raw === "standard") return raw;
  throw new UsageError(`BUDGET_PROVISIONING must be spot, preemptible or standard, got "${raw}"`);
}

/** `BUDGET_ACCELERATOR`: the GPUs to check, `<type>:<count>`. */
function acceleratorSetting(raw: string): Gpus {
  try {
    return parseAcceleratorSpec(raw);
  } catch (error) {
    throw new UsageError(`BUDGET_ACCELERATOR: ${(error as Error).message}`);
  }
}

/** `BUDGET_TRUSTED_PROXY`: comma-separated addresses, CIDRs or Express's names (loopback, uniquelocal). */
function trustedProxy(raw: string): string {
  const named = new Set(["loopback", "linklocal", "uniquelocal"]);
  const bad = raw
    .split(",")
    .map((part) => part.trim())
    .filter((part) => !named.has(part) && !/^[0-9a-fA-F:.]+(\/\d{1,3})?$/.test(part));
  if (bad.length > 0)
    throw new UsageError(
      `BUDGET_TRUSTED_PROXY must list addresses, CIDRs or loopback/linklocal/uniquelocal; got "${bad.join(", ")}"`,
    );
  return raw;
}
