import { request } from "node:http";
import { PASSWORD, startTestRuntime, USERNAME } from "../support/runtimeServer";
import { waitFor } from "../support/waitFor";

/** A login on a connection of its own, so the cluster may hand it to any worker. */
function loginOnNewConnection(url: string, password: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const body = new URLSearchParams({ username: USERNAME, password }).toString();
    const req = request(
      `${url}/token`,
      {
        method: "POST",
        agent: false,
        headers: { "content-type": "application/x-www-form-urlencoded", "content-length": Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

describe("one login limiter for the whole server", () => {
  it("with 2 workers, the limit holds across them", async () => {
    const server = await startTestRuntime("runtime/echo.cjs", { workers: 2, env: { BUDGET_MAX_FAILED_LOGINS: "3" } });
    try {
      // Both workers serving (each logs once when its predictor has loaded), so logins spread over both.
      await waitFor(() => server.logLines.filter((line) => line.includes("predictor loaded")).length >= 2, {
        what: "both workers to load",
      });
      const statuses: number[] = [];
      for (let i = 0; i < 8; i += 1) statuses.push(await loginOnNewConnection(server.url, "wrong"));
      expect(statuses).toEqual([401, 401, 401, 429, 429, 429, 429, 429]);
      expect(await loginOnNewConnection(server.url, PASSWORD)).toBe(429);
    } finally {
      await server.close();
    }
  });
});
