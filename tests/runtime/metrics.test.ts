// /metrics with two workers: every scrape answers for the whole server, whichever worker takes it;
// and a Prometheus scraper can log in. A `serve` process of the shipped runtime bundle's server.cjs.
import { request as httpRequest } from "node:http";
import { getOnNewConnection, PASSWORD, startTestRuntime, USERNAME, type TestRuntime } from "../support/runtimeServer";
import { waitFor } from "../support/waitFor";

const PREDICTIONS = 'budgetml_http_requests_total{route="/predict_dict",method="POST",status="200"}';

describe("/metrics with two workers", () => {
  let runtime: TestRuntime;
  let token: string;
  beforeAll(async () => {
    runtime = await startTestRuntime("runtime/echo.cjs", { workers: 2 });
    token = await runtime.token();
  }, 60_000);
  afterAll(() => runtime?.close());

  it("counts every worker's predictions in every scrape", async () => {
    // Each prediction on a connection of its own: the cluster hands them to the workers in turn.
    // The second worker may still be loading (503) when the first answers.
    const pids = new Set<number>();
    let served = 0;
    await waitFor(
      async () => {
        const { status, body } = await predictOnNewConnection(runtime.url, token, { action: "pid" });
        if (status === 200) {
          served += 1;
          pids.add((JSON.parse(body) as { pid: number }).pid);
        }
        return pids.size === 2 && served >= 20;
      },
      { intervalMs: 1, what: "20 predictions served by both workers" },
    );
    // Six scrapes on new connections reach both workers; each must see all the predictions.
    for (let scrape = 0; scrape < 6; scrape += 1) {
      const text = await getOnNewConnection(`${runtime.url}/metrics`, token);
      const line = text.split("\n").find((l) => l.startsWith(`${PREDICTIONS} `));
      expect(line).toBe(`${PREDICTIONS} ${served}`);
    }
  });

  it("merges gauges and histograms as Prometheus expects: process start omitted, latency counts summed", async () => {
    const text = await getOnNewConnection(`${runtime.url}/metrics`, token);
    const count = text
      .split("\n")
      .find((l) => l.startsWith('budgetml_http_request_duration_seconds_count{route="/predict_dict",status="200"} '));
    const total = text.split("\n").find((l) => l.startsWith(`${PREDICTIONS} `));
    expect(count?.split(" ")[1]).toBe(total?.split(" ")[1]);
    expect(text).not.toMatch(/^budgetml_process_start_time_seconds /m); // a sum of start times means nothing
    expect(text).toMatch(/^budgetml_predictions_in_flight 0$/m);
  });

  it("lets a Prometheus scraper log in the way its oauth2 setting does, and scrape", async () => {
    // Prometheus's `oauth2` scrape setting is golang.org/x/oauth2/clientcredentials: the client id
    // and secret in a Basic header, the form's grant_type replaced by `endpoint_params` ("Allow
    // grant_type to be overridden", clientcredentials.go), username and password from there too.
    // The README's scrape configuration relies on exactly this request being accepted.
    const response = await fetch(`${runtime.url}/token`, {
      method: "POST",
      headers: {
        authorization: `Basic ${Buffer.from("prometheus:unused").toString("base64")}`,
        "content-type": "application/x-www-form-urlencoded",
      },
      body: new URLSearchParams({ grant_type: "password", username: USERNAME, password: PASSWORD }),
    });
    expect(response.status).toBe(200);
    const { access_token, expires_in } = (await response.json()) as { access_token: string; expires_in: number };
    expect(expires_in).toBeGreaterThan(0); // the scraper's token source logs in again before it expires
    const scrape = await fetch(`${runtime.url}/metrics`, { headers: { authorization: `Bearer ${access_token}` } });
    expect(scrape.status).toBe(200);
    expect(await scrape.text()).toMatch(/^budgetml_http_requests_total/m);
  });
});

/** POST /predict_dict on a connection of its own. */
function predictOnNewConnection(
  url: string,
  token: string,
  payload: unknown,
): Promise<{ status: number; body: string }> {
  const body = JSON.stringify({ payload });
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${url}/predict_dict`,
      {
        method: "POST",
        agent: false,
        headers: {
          authorization: `Bearer ${token}`,
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
        },
      },
      (res) => {
        let text = "";
        res
          .setEncoding("utf8")
          .on("data", (chunk: string) => (text += chunk))
          .on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}
