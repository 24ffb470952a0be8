import { Registry } from "prom-client";
import { LATENCY_BUCKETS, RequestMetrics } from "../../../runtime/requestMetrics";

/** The value of each exposition line that starts with `prefix`, by its full name and labels. */
function linesOf(text: string, prefix: string): Record<string, number> {
  return Object.fromEntries(
    text
      .split("\n")
      .filter((line) => line.startsWith(prefix))
      .map((line) => [line.slice(0, line.lastIndexOf(" ")), Number(line.slice(line.lastIndexOf(" ") + 1))]),
  );
}

describe("request metrics", () => {
  it("counts requests by route, method and status, and their latency by route and status, cumulatively by bucket", async () => {
    const registry = new Registry();
    const metrics = new RequestMetrics(registry);
    metrics.record("/predict_dict", "POST", 200, 0.0005);
    metrics.record("/predict_dict", "POST", 200, 0.02);
    metrics.record("/predict_dict", "GET", 200, 0.2); // another method, the same latency series
    metrics.record("/predict_dict", "POST", 503, 45); // past the last bucket: only +Inf
    const text = await registry.metrics();

    expect(linesOf(text, "budgetml_http_requests_total")).toEqual({
      'budgetml_http_requests_total{route="/predict_dict",method="POST",status="200"}': 2,
      'budgetml_http_requests_total{route="/predict_dict",method="GET",status="200"}': 1,
      'budgetml_http_requests_total{route="/predict_dict",method="POST",status="503"}': 1,
    });
    const latency = linesOf(text, "budgetml_http_request_duration_seconds");
    const ok = (le: string) =>
      latency[`budgetml_http_request_duration_seconds_bucket{le="${le}",route="/predict_dict",status="200"}`];
    expect(ok("0.001")).toBe(1);
    expect(ok("0.005")).toBe(1);
    expect(ok("0.025")).toBe(2);
    expect(ok("0.25")).toBe(3);
    expect(ok("30")).toBe(3);
    expect(ok("+Inf")).toBe(3);
    expect(latency['budgetml_http_request_duration_seconds_count{route="/predict_dict",status="200"}']).toBe(3);
    expect(latency['budgetml_http_request_duration_seconds_sum{route="/predict_dict",status="200"}']).toBeCloseTo(
      0.2205,
    );
    const overloaded = (le: string) =>
      latency[`budgetml_http_request_duration_seconds_bucket{le="${le}",route="/predict_dict",status="503"}`];
    expect(overloaded(String(LATENCY_BUCKETS.at(-1)))).toBe(0);
    expect(overloaded("+Inf")).toBe(1);
    expect(text).toContain("# TYPE budgetml_http_requests_total counter");
    expect(text).toContain("# TYPE budgetml_http_request_duration_seconds histogram");
  });

  it("gives the cross-worker merge JSON it sums, as prom-client's own metrics do", async () => {
    const registry = new Registry();
    new RequestMetrics(registry).record("/predict", "POST", 200, 0.003);
    const json = await registry.getMetricsAsJSON();
    const requests = json.find((metric) => metric.name === "budgetml_http_requests_total");
    expect(requests).toMatchObject({ type: "counter", aggregator: "sum" });
    expect(requests?.values).toEqual([{ value: 1, labels: { route: "/predict", method: "POST", status: "200" } }]);
    const latency = json.find((metric) => metric.name === "budgetml_http_request_duration_seconds");
    expect(latency).toMatchObject({ type: "histogram", aggregator: "sum" });
  });
});
