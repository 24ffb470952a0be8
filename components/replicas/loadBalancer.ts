import { createHash } from "node:crypto";
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import { childOptions, type ModelContext } from "../context";
import {
  GOOGLE_FRONT_END_RANGES,
  handoffMsFor,
  LOAD_BALANCER_HEALTH_CHECK,
  REPLICA_DRAIN_SECONDS,
  SERVING_PORT,
  SERVING_PORT_NAME,
} from "../../contracts/loadBalancer";

/**
 * Which failed attempts the load balancer sends to another replica (URL map retry policy; Compute
 * API, HttpRetryPolicy.retryConditions): `connect-failure`, a replica that is gone (preempted,
 * stopped) or not listening; `gateway-error`, a 502/503/504 — a draining replica answers 503 to a
 * request that reaches it after its hand-off; `refused-stream`, a stream the backend refused
 * before reading it. Not `5xx`: a prediction whose `predict()` threw (500) is not run again.
 */
export const RETRY_CONDITIONS = ["connect-failure", "gateway-error", "refused-stream"] as const;
/** Retries after the first attempt: with one replica preempted, the next attempt finds another. */
export const RETRIES = 2;
/**
 * How long the backend may take to answer: the runtime's prediction timeout (30 s, then it
 * answers 504 itself) and time to receive an upload, with margin. Google's default is 30 s.
 */
export const BACKEND_TIMEOUT_SEC = 60;
/**
 * How long requests already on a replica may finish when the group removes it (a rolling update,
 * a scale-in; BackendService connectionDrainingTimeoutSec): as long as the runtime there hands
 * off and drains.
 */
export const CONNECTION_DRAINING_SEC =
  Math.ceil(handoffMsFor(LOAD_BALANCER_HEALTH_CHECK) / 1000) + REPLICA_DRAIN_SECONDS;

/** The load balancer's public side, and what the boot of each replica needs from it. */
export interface LoadBalancerAddress {
  address: gcp.compute.GlobalAddress;
  /** The address's IP: the model's `ipAddress`, and what each replica's metadata names. */
  ip: pulumi.Output<string>;
}

/** A global external IPv4 address: the load balancer's, stable for the model's lifetime. */
export function declareLoadBalancerAddress(ctx: ModelContext): LoadBalancerAddress {
  const address = new gcp.compute.GlobalAddress(
    `${ctx.name}-address`,
    {
      name: pulumi.interpolate`budgetml-${ctx.slug}-${ctx.suffix}`,
      project: ctx.project,
      addressType: "EXTERNAL",
      ipVersion: "IPV4",
      labels: ctx.labels,
    },
    // A fixed name: delete the old address before creating its replacement.
    childOptions(ctx, { deleteBeforeReplace: true }),
  );
  return { address, ip: address.address };
}

/** What the load balancer fronts. */
export interface LoadBalancerSettings {
  address: LoadBalancerAddress;
  /** The groups of replicas: each one a backend. */
  groups: gcp.compute.RegionInstanceGroupManager[];
  /** The hostname the certificate is for: the domain, or `<ip-with-dashes>.sslip.io`. */
  hostname: pulumi.Output<string>;
  /** The network tag every replica carries. */
  tag: pulumi.Output<string>;
  network: pulumi.Input<string>;
}

/** The load balancer's parts a caller may depend on. */
export interface ModelLoadBalancer {
  backendService: gcp.compute.BackendService;
  certificate: gcp.compute.ManagedSslCertificate;
  httpsRule: gcp.compute.GlobalForwardingRule;
}

/**
 * The global external Application Load Balancer (EXTERNAL_MANAGED: the one whose URL maps take a
 * retry policy — "URL maps for classic Application Load Balancers only support the urlRewrite
 * action within defaultRouteAction", Compute API, UrlMap.defaultRouteAction):
 * - a backend service over the groups, health-checking the runtime's `GET /` on the serving port
 *   (contracts/loadBalancer.ts), balancing on CPU utilization, draining a removed replica;
 * - a firewall rule admitting Google's front ends and health checks — and nothing else — to the
 *   replicas' serving port (Cloud Load Balancing docs, "Firewall rules");
 * - HTTPS on 443 with a Google-managed certificate for the hostname, and a retry policy that sends
 *   a request that met a leaving replica to another one;
 * - plain HTTP on 80 redirecting to HTTPS, except `GET /` (the health answer only), which `pulumi
 *   up`'s health wait reads while the certificate is still being provisioned (up to an hour).
 */
export function declareLoadBalancer(ctx: ModelContext, settings: LoadBalancerSettings): ModelLoadBalancer {
  const named = (role: string) => pulumi.interpolate`budgetml-${ctx.slug}-${ctx.suffix}-${role}`;
  const { requestPath, ...timing } = LOAD_BALANCER_HEALTH_CHECK;
  const healthCheck = new gcp.compute.HealthCheck(
    `${ctx.name}-health-check`,
    {
      name: named("health"),
      project: ctx.project,
      ...timing,
      httpHealthCheck: { port: SERVING_PORT, requestPath },
    },
    childOptions(ctx),
  );
  new gcp.compute.Firewall(
    `${ctx.name}-health-firewall`,
    {
      name: named("lb"),
      project: ctx.project,
      network: settings.network,
      direction: "INGRESS",
      allows: [{ protocol: "tcp", ports: [String(SERVING_PORT)] }],
      sourceRanges: [...GOOGLE_FRONT_END_RANGES],
      targetTags: [settings.tag],
    },
    // Moving to another `network` replaces the rule under the same name: delete the old one first.
    childOptions(ctx, { deleteBeforeReplace: true }),
  );
  const backendService = new gcp.compute.BackendService(
    `${ctx.name}-backend`,
    {
      name: named("backend"),
      project: ctx.project,
      loadBalancingScheme: "EXTERNAL_MANAGED",
      protocol: "HTTP",
      portName: SERVING_PORT_NAME,
      timeoutSec: BACKEND_TIMEOUT_SEC,
      connectionDrainingTimeoutSec: CONNECTION_DRAINING_SEC,
      healthChecks: healthCheck.id,
      backends: settings.groups.map((group) => ({
        group: group.instanceGroup,
        balancingMode: "UTILIZATION",
        maxUtilization: 0.8,
        capacityScaler: 1,
      })),
    },
    childOptions(ctx),
  );
  const httpsMap = new gcp.compute.URLMap(
    `${ctx.name}-https-map`,
    {
      name: named("https"),
      project: ctx.project,
      defaultService: backendService.id,
      defaultRouteAction: { retryPolicy: { numRetries: RETRIES, retryConditions: [...RETRY_CONDITIONS] } },
    },
    childOptions(ctx),
  );
  const toHttps = { httpsRedirect: true, stripQuery: false, redirectResponseCode: "MOVED_PERMANENTLY_DEFAULT" };
  const httpMap = new gcp.compute.URLMap(
    `${ctx.name}-http-map`,
    {
      name: named("http"),
      project: ctx.project,
      defaultUrlRedirect: toHttps,
      hostRules: [{ hosts: ["*"], pathMatcher: "health" }],
      pathMatchers: [
        { name: "health", defaultUrlRedirect: toHttps, pathRules: [{ paths: ["/"], service: backendService.id }] },
      ],
    },
    childOptions(ctx),
  );
  // A new hostname needs a new certificate, created before the old one can go (the proxy uses it):
  // the name carries the hostname's hash.
  const certificate = new gcp.compute.ManagedSslCertificate(
    `${ctx.name}-certificate`,
    {
      name: pulumi
        .all([named("cert"), settings.hostname])
        .apply(([prefix, hostname]) => `${prefix}-${createHash("sha256").update(hostname).digest("hex").slice(0, 8)}`),
      project: ctx.project,
      managed: { domains: [settings.hostname] },
    },
    childOptions(ctx),
  );
  const httpsProxy = new gcp.compute.TargetHttpsProxy(
    `${ctx.name}-https-proxy`,
    { name: named("https"), project: ctx.project, urlMap: httpsMap.id, sslCertificates: [certificate.id] },
    childOptions(ctx),
  );
  const httpProxy = new gcp.compute.TargetHttpProxy(
    `${ctx.name}-http-proxy`,
    { name: named("http"), project: ctx.project, urlMap: httpMap.id },
    childOptions(ctx),
  );
  const rule = (scheme: "https" | "http", target: pulumi.Input<string>, port: string) =>
    new gcp.compute.GlobalForwardingRule(
      `${ctx.name}-${scheme}-rule`,
      {
        name: named(scheme),
        project: ctx.project,
        loadBalancingScheme: "EXTERNAL_MANAGED",
        ipProtocol: "TCP",
        ipAddress: settings.address.ip,
        portRange: port,
        target,
        labels: ctx.labels,
      },
      childOptions(ctx),
    );
  const httpsRule = rule("https", httpsProxy.id, "443");
  rule("http", httpProxy.id, "80");
  return { backendService, certificate, httpsRule };
}
