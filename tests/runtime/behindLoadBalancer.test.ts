import { Agent, get } from "node:http";
import { loadBalancedRuntimeEnv } from "../../images/vm/behindLoadBalancer";
import { startInProcessRuntime } from "../support/inProcessRuntime";
import { loginFrom, PASSWORD, startTestRuntime } from "../support/runtimeServer";
import { waitFor } from "../support/waitFor";

// The runtime as a replica behind Google's load balancer runs it: the environment the boot gives
// it there (images/vm/behindLoadBalancer.ts), over real HTTP: in this process, and as a `serve`
// process of the shipped bundle where signals are the point.
const behind = (loadBalancerIp: string, extra: Record<string, string> = {}) => {
  // The test's own --host (127.0.0.1) stands for the VM's every interface.
  const { BUDGET_HOST: _everyInterface, ...env } = loadBalancedRuntimeEnv(loadBalancerIp);
  return { env: { ...env, ...extra } };
};

/** The `Keep-Alive` header the server sends a keep-alive client for `GET url` (fetch hides hop-by-hop headers). */
const keepAliveHeader = (url: string) => {
  const agent = new Agent({ keepAlive: true });
  return new Promise<string>((resolve, reject) =>
    get(url, { agent }, (res) => {
      res.resume();
      resolve(String(res.headers["keep-alive"]));
    }).on("error", reject),
  ).finally(() => agent.destroy());
};

describe("the runtime behind Google's load balancer", () => {
  it("keeps idle connections longer than Google's front ends (600 s), which then always close first", async () => {
    const replica = await startInProcessRuntime("runtime/echo.cjs", behind("127.0.0.5"));
    const single = await startInProcessRuntime("runtime/echo.cjs");
    try {
      expect(await keepAliveHeader(`${replica.url}/`)).toBe("timeout=620");
      expect(await keepAliveHeader(`${single.url}/`)).toBe("timeout=65"); // behind Caddy, as before
    } finally {
      await Promise.all([replica.close(), single.close()]);
    }
  });

  it("counts failed logins per client, believing X-Forwarded-For from Google's front ends and the load balancer only", async () => {
    // Loopback cannot send from Google's ranges, so the two trusted hops swap places here: the
    // connection comes from the load balancer's address (127.0.0.5), and a front end
    // (35.191.3.4) is the last entry. Either way both must be trusted to reach the client.
    const replica = await startInProcessRuntime(
      "runtime/echo.cjs",
      behind("127.0.0.5", { BUDGET_MAX_FAILED_LOGINS: "2" }),
    );
    // The single VM's runtime trusts loopback only: the front end is where it stops.
    const loopbackOnly = await startInProcessRuntime("runtime/echo.cjs", { env: { BUDGET_MAX_FAILED_LOGINS: "2" } });
    try {
      for (const runtime of [replica, loopbackOnly]) {
        for (const spoofed of ["10.0.0.1", "10.0.0.2", "10.0.0.3"])
          await loginFrom(runtime.url, "127.0.0.5", `${spoofed}, 198.51.100.9, 35.191.3.4`, "wrong");
      }
      // The attacker is locked out whatever it wrote first in the header…
      expect(await loginFrom(replica.url, "127.0.0.5", "10.0.0.4, 198.51.100.9, 35.191.3.4", PASSWORD)).toBe(429);
      // …and another client behind the same front end is not.
      expect(await loginFrom(replica.url, "127.0.0.5", "198.51.100.10, 35.191.3.4", PASSWORD)).toBe(200);
      // Trusting loopback only, every client behind the front end shares its lock-out.
      expect(await loginFrom(loopbackOnly.url, "127.0.0.5", "198.51.100.10, 35.191.3.4", PASSWORD)).toBe(429);
      // A peer that is neither the load balancer nor a front end is counted as itself.
      for (let i = 0; i < 3; i += 1) await loginFrom(replica.url, "127.0.0.6", `192.0.2.${i}`, "wrong");
      expect(await loginFrom(replica.url, "127.0.0.6", "192.0.2.99", PASSWORD)).toBe(429);
    } finally {
      await Promise.all([replica.close(), loopbackOnly.close()]);
    }
  });

  it("keeps handing off through a second SIGTERM (the preemption notice and the shutdown script both stop it)", async () => {
    const replica = await startTestRuntime("runtime/echo.cjs", {
      ...behind("127.0.0.5", { BUDGET_HANDOFF_MS: "3000" }),
      workers: 2,
    });
    try {
      replica.child.kill("SIGTERM");
      await waitFor(async () => (await fetch(`${replica.url}/`)).status === 503, { what: "health to say draining" });
      replica.child.kill("SIGTERM");
      // The hand-off ends as it would have without the second signal: the workers go on to drain.
      await waitFor(() => replica.logLines.some((line) => line.includes("draining: refusing new predictions")), {
        what: "the workers to drain after the hand-off",
      });
      expect((await replica.exited).code).toBe(0);
    } finally {
      await replica.close();
    }
  });
});
