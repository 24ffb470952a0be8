import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** The runtime's Prometheus metrics, in a registry of its own (no global state). */
export interface RuntimeMetrics {
  registry: Registry;
  requests: Counter<"route" | "method" | "status">;
  latency: Histogram<"route" | "status">;
  rejected: Counter<"reason">;
  loadSeconds: Gauge;
  inFlight: Gauge;
  /** Predictions waiting for a slot; set when scraped. */
  queued: Gauge;
}

/** `queuedNow` reports the admission queue's length when the metrics are scraped. */
export function createMetrics(queuedNow: () => number = () => 0): RuntimeMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "budgetml_" });
  return {
    registry,
    requests: new Counter({
      name: "budgetml_http_requests_total",
      help: "Requests by route, method and status",
      labelNames: ["route", "method", "status"],
      registers: [registry],
    }),
    latency: new Histogram({
      name: "budgetml_http_request_duration_seconds",
      help: "Request latency by route and status",
      labelNames: ["route", "status"],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    rejected: new Counter({
      name: "budgetml_predictions_rejected_total",
      help: "Predictions refused before running, by reason (overloaded, not_ready)",
      labelNames: ["reason"],
      registers: [registry],
    }),
    loadSeconds: new Gauge({
      name: "budgetml_predictor_load_seconds",
      help: "How long the predictor's load() took",
      registers: [registry],
    }),
    inFlight: new Gauge({
      name: "budgetml_predictions_in_flight",
      help: "Predictions holding a slot now (body being read, or running)",
      registers: [registry],
    }),
    queued: new Gauge({
      name: "budgetml_predictions_queued",
      help: "Predictions waiting for a slot",
      registers: [registry],
      collect() {
        this.set(queuedNow());
      },
    }),
  };
}
