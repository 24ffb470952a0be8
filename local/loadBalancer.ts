import { spawn } from "node:child_process";
import { mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import type { DeclaredHealthCheck, DeclaredRetryPolicy } from "./declaredLoadBalancing";

/** What the local load balancer does, read from the backend service and URL map a program declared. */
export interface LocalLoadBalancerOptions {
  /** Where it listens (plain HTTP on 127.0.0.1: the local engine serves no TLS). */
  port: number;
  /** The replicas' ports. */
  upstreamPorts: number[];
  /** The backend service's health check: path and timing. */
  healthCheck: Pick<DeclaredHealthCheck, "checkIntervalSec" | "timeoutSec"> & { requestPath: string };
  /** The URL map's retry policy, if any. */
  retryPolicy: DeclaredRetryPolicy | undefined;
  /** The backend service's timeout, in seconds. */
  timeoutSec: number;
  /** A folder for its configuration, data and log. */
  home: string;
}

/** A running local load balancer. */
export interface LocalLoadBalancer {
  url: string;
  /** Resolves once the load balancer's health check has seen the replica on `port` come up after `sinceMs`. */
  routesTo(port: number, sinceMs: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Google's front ends keep idle connections to a backend for 600 s (contracts/loadBalancer.ts). */
const FRONT_END_KEEPALIVE = "600s";

/**
 * Caddy's configuration (JSON) standing in for Google's load balancer in front of the replicas:
 * the replicas that pass the backend service's health check (its path, interval and timeout), the
 * least busy first — Google's UTILIZATION balancing sends work to the least loaded too; Caddy
 * 2.6's round robin can skip every replica when one is down and requests arrive together, and
 * answer 503 with a healthy one there — and the URL map's retries where Caddy can make them. Caddy 2.6 retries a request
 * on another replica when it cannot connect to one — the retry policy's `connect-failure` — but
 * cannot retry on a response's status (`gateway-error`), and marks a replica unhealthy at its first
 * failed check and healthy at its first passing one, where Google waits for its thresholds: it
 * moves traffic away sooner than Google does, never later.
 */
export function renderLoadBalancerConfig(options: Omit<LocalLoadBalancerOptions, "home">): unknown {
  const retries = options.retryPolicy?.retryConditions?.some((c) => c === "connect-failure" || c === "5xx")
    ? (options.retryPolicy.numRetries ?? 1)
    : 0;
  return {
    admin: { disabled: true },
    apps: {
      http: {
        servers: {
          loadBalancer: {
            listen: [`127.0.0.1:${options.port}`],
            automatic_https: { disable: true },
            routes: [
              {
                handle: [
                  {
                    handler: "reverse_proxy",
                    upstreams: options.upstreamPorts.map((port) => ({ dial: `127.0.0.1:${port}` })),
                    load_balancing: {
                      selection_policy: { policy: "least_conn" },
                      ...(retries > 0 ? { retries, try_duration: "5s", try_interval: "100ms" } : {}),
                    },
                    health_checks: {
                      active: {
                        uri: options.healthCheck.requestPath,
                        interval: `${options.healthCheck.checkIntervalSec}s`,
                        timeout: `${options.healthCheck.timeoutSec}s`,
                        expect_status: 200,
                      },
                    },
                    transport: {
                      protocol: "http",
                      response_header_timeout: `${options.timeoutSec}s`,
                      keep_alive: { idle_timeout: FRONT_END_KEEPALIVE },
                    },
                  },
                ],
              },
            ],
          },
        },
      },
    },
  };
}

/** Starts Caddy with {@link renderLoadBalancerConfig} in a process group of its own; resolves once it listens. */
export async function startLocalLoadBalancer(options: LocalLoadBalancerOptions): Promise<LocalLoadBalancer> {
  mkdirSync(options.home, { recursive: true });
  const config = join(options.home, "caddy.json");
  writeFileSync(config, JSON.stringify(renderLoadBalancerConfig(options), null, 2));
  const logFile = join(options.home, "caddy.log");
  const log = openSync(logFile, "a");
  const caddy = spawn("caddy", ["run", "--config", config], {
    env: {
      PATH: process.env.PATH,
      HOME: options.home,
      XDG_DATA_HOME: join(options.home, "data"),
      XDG_CONFIG_HOME: join(options.home, "config"),
    },
    stdio: ["ignore", log, log],
    detached: true,
  });
  // Caddy missing from PATH: an "error" event, with no exit to follow (unhandled, it would end this
  // process at once, leaving the replicas' VMs running).
  let notStarted: Error | undefined;
  caddy.once("error", (error: NodeJS.ErrnoException) => {
    notStarted =
      error.code === "ENOENT"
        ? new Error("the local load balancer runs Caddy, which is not on PATH: install caddy (apt install caddy)")
        : error;
  });
  const exited = new Promise<number | null>((resolve) => caddy.once("exit", resolve));
  const stop = async () => {
    if (notStarted || caddy.exitCode !== null || caddy.signalCode !== null) return;
    caddy.kill("SIGTERM");
    const timer = setTimeout(() => caddy.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (notStarted) throw notStarted;
    if (caddy.exitCode !== null)
      throw new Error(`caddy exited with ${caddy.exitCode}; see ${join(options.home, "caddy.log")}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(options.port, "127.0.0.1", () => {
        socket.destroy();
        resolve(true);
      }).on("error", () => resolve(false));
    });
    if (open)
      return { url: `http://127.0.0.1:${options.port}`, routesTo: (...args) => routesTo(logFile, ...args), stop };
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the local load balancer did not listen on 127.0.0.1:${options.port} within 10 s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Caddy logs each upstream its active health check finds up again (`"msg":"host is up"`, with the
 * check's time in seconds): waits for that line about `port`, stamped after `sinceMs`.
 */
async function routesTo(logFile: string, port: number, sinceMs: number, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const up = readFileSync(logFile, "utf8")
      .split("\n")
      .some((line) => {
        if (!line.includes('"host is up"') || !line.includes(`"127.0.0.1:${port}"`)) return false;
        return (JSON.parse(line) as { ts: number }).ts * 1000 >= sinceMs;
      });
    if (up) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the local load balancer did not see 127.0.0.1:${port} up within ${timeoutMs / 1000} s`);
}
