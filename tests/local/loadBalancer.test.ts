import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLocalLoadBalancer } from "../../local/loadBalancer";
import { freePort } from "../support/freePort";

describe("the local load balancer", () => {
  it("fails its start, saying what to install, when Caddy is not on PATH, rather than ending the process", async () => {
    const home = mkdtempSync(join(tmpdir(), "budgetml-lb-"));
    const path = process.env.PATH;
    process.env.PATH = join(home, "no-caddy-here"); // what Caddy runs with is this process's PATH
    try {
      await expect(
        startLocalLoadBalancer({
          port: await freePort(),
          upstreamPorts: [await freePort()],
          healthCheck: { checkIntervalSec: 1, timeoutSec: 1, requestPath: "/" },
          retryPolicy: undefined,
          timeoutSec: 30,
          home,
        }),
      ).rejects.toThrow("the local load balancer runs Caddy, which is not on PATH: install caddy (apt install caddy)");
    } finally {
      process.env.PATH = path;
      rmSync(home, { recursive: true, force: true });
    }
  });
});
