import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { shareWithPrimary } from "./clusterMetrics";
import { RequestMetrics } from "./requestMetrics";

/** The runtime's Prometheus metrics, in a registry of its own (no global state). */
export interface RuntimeMetrics {
  registry: Registry;
  /** What a scrape of /metrics answers: this process's metrics, or the whole server's (see {@link createMetrics}). */
  scrape(): Promise<string>;
  /** Every finished request, by route, method and status, with its latency. */
  requests: RequestMetrics;
  rejected: Counter<"reason">;
  loadSeconds: Gauge;
  /** Predictions holding a slot; set when scraped. */
  inFlight: Gauge;
  /** Predictions waiting for a slot; set when scraped. */
  queued: Gauge;
  /** Records one batch the predictor ran (with batching on): its size and duration. */
  observeBatch(size: number, durationMs: number): void;
}

/** The admission figures a scrape reports, read when it happens. */
export interface AdmissionNow {
  /** Predictions holding a slot. */
  inFlight(): number;
  /** Predictions waiting for one. */
  queued(): number;
}

/**
 * `admissionNow` reports the predictions in flight and queued when the metrics are scraped. With
 * `acrossWorkers` (in a cluster worker) a scrape answers for every worker of the server, merged by
 * the primary (runtime/clusterMetrics.ts); without, for this process.
 */
export function createMetrics(
  admissionNow: AdmissionNow = { inFlight: () => 0, queued: () => 0 },
  options: { acrossWorkers?: boolean } = {},
): RuntimeMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "budgetml_" });
  const batchSize = new Histogram({
    name: "budgetml_batch_size",
    help: "Requests per predictBatch() call (batching on)",
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
    registers: [registry],
  });
  const batchSeconds = new Histogram({
    name: "budgetml_batch_duration_seconds",
    help: "How long each predictBatch() call took (batching on)",
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  return {
    registry,
    scrape: options.acrossWorkers ? shareWithPrimary(registry) : () => registry.metrics(),
    requests: new RequestMetrics(registry),
    rejected: new Counter({
      name: "budgetml_predictions_rejected_total",
      help: "Predictions refused before running, by reason (overloaded, not_ready)",
      labelNames: ["reason"],
      registers: [registry],
    }),
    loadSeconds: new Gauge({
      name: "budgetml_predictor_load_seconds",
      help: "How long the predictor's load() took (the slowest worker's)",
      registers: [registry],
      aggregator: "max",
    }),
    inFlight: new Gauge({
      name: "budgetml_predictions_in_flight",
      help: "Predictions holding a slot now (running, or past their timeout and not yet settled)",
      registers: [registry],
      collect() {
        this.set(admissionNow.inFlight());
      },
    }),
    queued: new Gauge({
      name: "budgetml_predictions_queued",
      help: "Predictions waiting for a slot",
      registers: [registry],
      collect() {
        this.set(admissionNow.queued());
      },
    }),
    observeBatch: (size, durationMs) => {
      batchSize.observe(size);
      batchSeconds.observe(durationMs / 1000);
    },
  };
}
