// The contract between the component that puts replicas behind Google's external Application Load
// Balancer, the boot that serves on each replica, and the local engine that stands in for both:
// where a replica serves, who may reach it, how fast the load balancer notices a replica leave,
// and so how long a leaving replica keeps serving.

/**
 * Google Front Ends and health-check probers: every request and every probe of a global external
 * Application Load Balancer reaches an instance-group backend from these ranges (Cloud Load
 * Balancing docs, "Firewall rules": global external Application Load Balancer, health check ranges
 * 35.191.0.0/16 and 130.211.0.0/22; GFE proxy ranges "same as the health check ranges" for
 * instance groups). The firewall admits them, and the runtime believes `X-Forwarded-For` from them.
 */
export const GOOGLE_FRONT_END_RANGES = ["35.191.0.0/16", "130.211.0.0/22"] as const;

/** The named port the backend service sends traffic to, and the port the runtime listens on (plain HTTP). */
export const SERVING_PORT_NAME = "http";
export const SERVING_PORT = 8080;

/**
 * The load balancer's health check of each replica: the runtime's `GET /` (200 only when `ready`).
 * Checked every 2 s, unhealthy after 2 failures, healthy after 2 passes (Google's defaults are
 * 5 s / 2 / 2): a replica that starts draining leaves the rotation within about 6 s.
 */
export const LOAD_BALANCER_HEALTH_CHECK = {
  checkIntervalSec: 2,
  timeoutSec: 2,
  healthyThreshold: 2,
  unhealthyThreshold: 2,
  requestPath: "/",
} as const;

/**
 * The managed instance group's autohealing check: the same `GET /`, more conservative, as Google
 * recommends a separate, slower check for autohealing than for load balancing (Compute docs, "Set
 * up an application health check and autohealing"): a replica is recreated after 3 failed checks
 * 10 s apart, and not before `initialDelaySec` after it was created — a first boot installs Node.js
 * and the predictor's requirements.
 */
export const AUTOHEALING_HEALTH_CHECK = {
  checkIntervalSec: 10,
  timeoutSec: 5,
  healthyThreshold: 2,
  unhealthyThreshold: 3,
  requestPath: "/",
  initialDelaySec: 300,
} as const;

/** A health check's timing, as the backend service declares it. */
export interface HealthCheckTiming {
  checkIntervalSec: number;
  timeoutSec: number;
  unhealthyThreshold: number;
}

/**
 * Google's front ends learn a health state from many probers and need a moment to act on it; a
 * margin on top of the check's own detection time.
 */
const PROPAGATION_MARGIN_MS = 4000;

/**
 * How long a stopping replica keeps serving after its health turns `draining` (its
 * `BUDGET_HANDOFF_MS`): the time the load balancer's check takes to see it unhealthy — the last
 * passing probe may have just happened, then `unhealthyThreshold` probes fail, each after up to
 * `timeoutSec` — plus a margin. Requests that still arrive meanwhile are served, not refused.
 */
export function handoffMsFor(check: HealthCheckTiming): number {
  return (check.checkIntervalSec * check.unhealthyThreshold + check.timeoutSec) * 1000 + PROPAGATION_MARGIN_MS;
}

/**
 * After the hand-off, how long in-flight predictions may finish (`BUDGET_DRAIN_SECONDS`): the
 * hand-off and the drain together stay inside the runtime unit's 28 s stop window, itself inside
 * the 30 s Google gives a preempted VM's shutdown script.
 */
export const REPLICA_DRAIN_SECONDS = 15;

/**
 * The runtime's idle keep-alive on a replica (`BUDGET_KEEPALIVE_SECONDS`). Google's front ends keep
 * idle connections to backends for 600 s, a fixed value ("External Application Load Balancer
 * request distribution": default backend keepalive timeout 600 seconds, not configurable); a
 * backend that closes an idle connection sooner can close one a front end is just reusing, and
 * that request fails with a 502. Longer than 600 s, the front end always closes first.
 */
export const REPLICA_KEEPALIVE_SECONDS = 620;

/**
 * Whose `X-Forwarded-For` the runtime believes behind the load balancer (`BUDGET_TRUSTED_PROXY`):
 * Google's front ends (the connection's peer) and the load balancer's own address, which the front
 * end appends after the client's ("X-Forwarded-For: <supplied-value>,<client-ip>,<load-balancer-ip>",
 * Cloud Load Balancing docs, "HTTP headers"). Express walks the header from the right past trusted
 * hops, so the client's own address is what the login limiter counts — whatever the client sent.
 */
export function trustedProxiesBehind(loadBalancerIp: string): string {
  return [...GOOGLE_FRONT_END_RANGES, loadBalancerIp].join(",");
}
