import type { Registry } from "prom-client";

/** Upper bounds of the latency buckets, in seconds. */
export const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** One route, method and status: its count, and its latencies by bucket. */
interface Series {
  route: string;
  method: string;
  status: string;
  count: number;
  sum: number;
  /** Observations at or below each bound of {@link LATENCY_BUCKETS}, not cumulative. */
  inBucket: number[];
}

/** What prom-client's registry asks of a metric: its JSON, as its own metrics answer. */
interface MetricJson {
  name: string;
  help: string;
  type: "counter" | "histogram";
  aggregator: "sum";
  values: { value: number; labels: Record<string, string | number>; metricName?: string }[];
}

/**
 * `budgetml_http_requests_total` (by route, method and status) and
 * `budgetml_http_request_duration_seconds` (by route and status), counted here and read by the
 * registry at scrape time. prom-client's own Counter and Histogram validate and hash their label
 * object on every call; counted per request, that was about 3 % of a worker's CPU on the
 * benchmark's load. Here a request costs a map lookup and a few additions. The exposition is
 * prom-client's (the registry formats what {@link MetricJson} holds), so scrapes and the
 * cross-worker merge (runtime/clusterMetrics.ts, which sums both) read them as before.
 */
export class RequestMetrics {
  private readonly series = new Map<string, Series>();

  /** Registers both metrics in `registry`. */
  constructor(registry: Registry) {
    for (const metric of [this.requestsMetric(), this.latencyMetric()])
      registry.registerMetric(metric as unknown as Parameters<Registry["registerMetric"]>[0]);
  }

  /** Counts one finished request. */
  record(route: string, method: string, status: number, seconds: number): void {
    const key = `${status} ${method} ${route}`;
    let series = this.series.get(key);
    if (!series) {
      series = { route, method, status: String(status), count: 0, sum: 0, inBucket: LATENCY_BUCKETS.map(() => 0) };
      this.series.set(key, series);
    }
    series.count += 1;
    series.sum += seconds;
    const bucket = LATENCY_BUCKETS.findIndex((bound) => seconds <= bound);
    if (bucket >= 0) series.inBucket[bucket] += 1;
  }

  private requestsMetric() {
    return this.metric("budgetml_http_requests_total", "Requests by route, method and status", "counter", () =>
      [...this.series.values()].map(({ route, method, status, count }) => ({
        value: count,
        labels: { route, method, status },
      })),
    );
  }

  private latencyMetric() {
    const name = "budgetml_http_request_duration_seconds";
    return this.metric(name, "Request latency by route and status", "histogram", () => {
      // The histogram is by route and status: series that differ only by method are added up.
      const byRouteAndStatus = new Map<
        string,
        { route: string; status: string; count: number; sum: number; inBucket: number[] }
      >();
      for (const { route, status, count, sum, inBucket } of this.series.values()) {
        const key = `${status} ${route}`;
        const merged = byRouteAndStatus.get(key) ?? {
          route,
          status,
          count: 0,
          sum: 0,
          inBucket: inBucket.map(() => 0),
        };
        merged.count += count;
        merged.sum += sum;
        inBucket.forEach((n, i) => (merged.inBucket[i] += n));
        byRouteAndStatus.set(key, merged);
      }
      return [...byRouteAndStatus.values()].flatMap(({ route, status, count, sum, inBucket }): MetricJson["values"] => {
        let cumulative = 0;
        return [
          ...LATENCY_BUCKETS.map((le, i) => ({
            value: (cumulative += inBucket[i]),
            labels: { le, route, status },
            metricName: `${name}_bucket`,
          })),
          { value: count, labels: { le: "+Inf", route, status }, metricName: `${name}_bucket` },
          { value: sum, labels: { route, status }, metricName: `${name}_sum` },
          { value: count, labels: { route, status }, metricName: `${name}_count` },
        ];
      });
    });
  }

  private metric(name: string, help: string, type: MetricJson["type"], values: () => MetricJson["values"]) {
    return {
      name,
      help,
      type,
      aggregator: "sum" as const,
      get: async (): Promise<MetricJson> => ({ name, help, type, aggregator: "sum", values: values() }),
      reset: () => this.series.clear(),
    };
  }
}
