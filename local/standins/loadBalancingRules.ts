import { GOOGLE_FRONT_END_RANGES } from "../../contracts/loadBalancer";
import { schedulingRefusals } from "../../contracts/scheduling";
import type {
  DeclaredAutoscaler,
  DeclaredBackendService,
  DeclaredCertificate,
  DeclaredForwardingRule,
  DeclaredGroup,
  DeclaredHealthCheck,
  DeclaredLoadBalancing,
  DeclaredTemplate,
  DeclaredUrlMap,
} from "../declaredLoadBalancing";
import { servicesOf } from "../declaredLoadBalancing";

// What Google refuses, or how it behaves, for the resources a replicated model declares: instance
// templates, regional managed instance groups, autoscalers, health checks, backend services, URL
// maps, proxies, forwarding rules and Google-managed certificates. The local engine checks a
// program's declarations against these before it materialises anything, as `pulumi up` would fail.
//
// Messages start as Google's own do ("Invalid value for field '…': '…'."); where the cited page
// gives the rule but not Google's exact sentence, the rest is the rule in the page's words.

/** One refusal: what Google would answer about one declared resource. */
export interface Refusal {
  /** The Pulumi resource (or Google path) it is about. */
  resource: string;
  message: string;
}

const invalid = (field: string, value: unknown, rule: string) =>
  `Invalid value for field '${field}': '${String(value)}'. ${rule}`;
const notFound = (path: string) => `The resource '${path}' was not found`;

/**
 * A template's scheduling, by the rules Google applies to an instance's (contracts/scheduling.ts,
 * in the API's words): spot settings on a standard VM — a termination action — or a preemptible
 * VM that restarts are refused.
 */
export function templateRefusals(template: DeclaredTemplate): string[] {
  return schedulingRefusals(template.scheduling, "resource.properties.scheduling");
}

/**
 * A regional managed instance group's rules:
 * - its template and autohealing check exist; its zones are in its region;
 * - a fixed maxSurge or maxUnavailable is 0 or at least the number of zones (Pulumi gcp provider,
 *   RegionInstanceGroupManager updatePolicy: "It has to be either 0 or at least equal to the
 *   number of zones"), and at least one of them is above 0 (Compute API,
 *   InstanceGroupManagerUpdatePolicy: "At least one of either maxSurge or maxUnavailable must be
 *   greater than 0");
 * - a percentage only for a group of 10 or more (same: "if the group has 10 or more instances, a
 *   percentage");
 * - RECREATE keeps instance names, so it cannot surge (Cloud SDK, rolling_action.py: "requires
 *   maxSurge=0 and replacementMethod=RECREATE"), and needs maxUnavailable above 0 (the provider:
 *   "You must also set maxUnavailableFixed or maxUnavailablePercent to be greater than 0");
 * - proactive redistribution only with the EVEN shape (Compute docs, "Regional MIG target
 *   distribution shape": proactive instance redistribution is not supported by BALANCED, ANY and
 *   ANY_SINGLE_ZONE; Google's own BALANCED example sets instance_redistribution_type = "NONE");
 * - an autohealing initial delay from 0 to 3600 s (Compute API, InstanceGroupManagerAutoHealingPolicy:
 *   "The value of initial delay must be between 0 and 3600 seconds").
 */
export function groupRefusals(group: DeclaredGroup, declared: DeclaredLoadBalancing, autoscaled: boolean): string[] {
  const refusals: string[] = [];
  if (!declared.templates.some((t) => t.path === group.template)) refusals.push(notFound(group.template));
  group.zones.forEach((zone, index) => {
    if (!zone.startsWith(`${group.region}-`))
      refusals.push(
        invalid(
          `resource.distributionPolicy.zones[${index}].zone`,
          zone,
          `The zone must be in the group's region ${group.region}.`,
        ),
      );
  });
  const zones = Math.max(group.zones.length, 1);
  const policy = group.updatePolicy;
  for (const [key, fixed] of [
    ["maxSurge", policy.maxSurgeFixed],
    ["maxUnavailable", policy.maxUnavailableFixed],
  ] as const) {
    if (fixed !== undefined && fixed !== 0 && fixed < zones)
      refusals.push(
        invalid(
          `resource.updatePolicy.${key}.fixed`,
          fixed,
          `Fixed updatePolicy.${key} for a regional managed instance group has to be either 0 or at least equal to the number of zones (${zones}).`,
        ),
      );
  }
  const above = (fixed?: number, percent?: number) => (fixed ?? 0) > 0 || (percent ?? 0) > 0;
  const surges = above(policy.maxSurgeFixed, policy.maxSurgePercent);
  const unavailable = above(policy.maxUnavailableFixed, policy.maxUnavailablePercent);
  if (policy.maxSurgeFixed !== undefined && policy.maxUnavailableFixed !== undefined && !surges && !unavailable)
    refusals.push(
      invalid(
        "resource.updatePolicy",
        "maxSurge 0, maxUnavailable 0",
        "At least one of either maxSurge or maxUnavailable must be greater than 0.",
      ),
    );
  if (
    (policy.maxSurgePercent !== undefined || policy.maxUnavailablePercent !== undefined) &&
    (autoscaled || (group.targetSize ?? 0) < 10)
  )
    refusals.push(
      invalid(
        "resource.updatePolicy",
        "percent",
        "A percentage is allowed only for a group of 10 or more instances; use a fixed number.",
      ),
    );
  if (policy.replacementMethod === "RECREATE" && surges)
    refusals.push(
      invalid(
        "resource.updatePolicy.maxSurge",
        policy.maxSurgeFixed ?? `${policy.maxSurgePercent}%`,
        "RECREATE requires maxSurge 0.",
      ),
    );
  if (policy.replacementMethod === "RECREATE" && !unavailable)
    refusals.push(
      invalid("resource.updatePolicy.maxUnavailable", 0, "RECREATE requires maxUnavailable greater than 0."),
    );
  const shape = group.targetShape ?? "EVEN";
  if (shape !== "EVEN" && (policy.instanceRedistributionType ?? "PROACTIVE") === "PROACTIVE")
    refusals.push(
      invalid(
        "resource.updatePolicy.instanceRedistributionType",
        "PROACTIVE",
        `Proactive instance redistribution is not supported with the ${shape} target distribution shape; set it to NONE.`,
      ),
    );
  if (group.autoHealing) {
    const delay = group.autoHealing.initialDelaySec;
    if (!(delay >= 0 && delay <= 3600))
      refusals.push(
        invalid(
          "resource.autoHealingPolicies[0].initialDelaySec",
          delay,
          "The value of initial delay must be between 0 and 3600 seconds.",
        ),
      );
    if (!declared.healthChecks.some((check) => check.path === group.autoHealing?.healthCheck))
      refusals.push(notFound(group.autoHealing.healthCheck));
  }
  return refusals;
}

/**
 * An autoscaler's bounds, against its group's (Compute API, AutoscalingPolicy): minNumReplicas
 * "cannot be less than 0"; "The maximum number of replicas must not be lower than minimal number
 * of replicas"; and no more than a regional group holds (2,000 VMs: Compute docs, "About regional
 * MIGs"); a CPU target "Must be a float value in the range (0, 1]". Its group exists, in its region.
 */
export function autoscalerRefusals(autoscaler: DeclaredAutoscaler, declared: DeclaredLoadBalancing): string[] {
  const refusals: string[] = [];
  const group = declared.groups.find((g) => g.path === autoscaler.target);
  if (!group) refusals.push(notFound(autoscaler.target));
  else if (group.region !== autoscaler.region)
    refusals.push(invalid("resource.target", autoscaler.target, `The group is not in region ${autoscaler.region}.`));
  const { minReplicas, maxReplicas, cpuUtilization } = autoscaler.policy;
  const field = "resource.autoscalingPolicy";
  if (minReplicas !== undefined && minReplicas < 0)
    refusals.push(invalid(`${field}.minNumReplicas`, minReplicas, "minNumReplicas cannot be less than 0."));
  if (maxReplicas === undefined)
    refusals.push(
      invalid(`${field}.maxNumReplicas`, "", "maxNumReplicas is required when creating or updating an autoscaler."),
    );
  else if (minReplicas !== undefined && maxReplicas < minReplicas)
    refusals.push(
      invalid(
        `${field}.maxNumReplicas`,
        maxReplicas,
        "The maximum number of replicas must not be lower than minimal number of replicas.",
      ),
    );
  else if (maxReplicas > 2000)
    refusals.push(
      invalid(`${field}.maxNumReplicas`, maxReplicas, "A regional managed instance group holds at most 2000 VMs."),
    );
  const target = cpuUtilization?.target;
  if (target !== undefined && !(target > 0 && target <= 1))
    refusals.push(
      invalid(`${field}.cpuUtilization.utilizationTarget`, target, "Must be a float value in the range (0, 1]."),
    );
  return refusals;
}

/** A health check's timeout fits in its interval (Compute API, HealthCheck.timeoutSec: "It is invalid for timeoutSec to have greater value than checkIntervalSec"). */
export function healthCheckRefusals(check: DeclaredHealthCheck): string[] {
  return check.timeoutSec > check.checkIntervalSec
    ? [
        invalid(
          "resource.timeoutSec",
          check.timeoutSec,
          "It is invalid for timeoutSec to have greater value than checkIntervalSec.",
        ),
      ]
    : [];
}

/**
 * A Google-managed certificate: one to 100 domains, each a domain name Google can validate by
 * serving it from the load balancer — not an IP address, not a wildcard (Cloud Load Balancing
 * docs, "Use Google-managed SSL certificates": wildcard domains are not supported; "Each
 * Google-managed SSL certificate supports up to 100 domains").
 */
export function certificateRefusals(certificate: DeclaredCertificate): string[] {
  const field = "resource.managed.domains";
  if (certificate.domains.length === 0)
    return [invalid(field, "", "A Google-managed certificate needs at least one domain it can validate.")];
  if (certificate.domains.length > 100)
    return [invalid(field, certificate.domains.length, "A Google-managed certificate supports up to 100 domains.")];
  return certificate.domains.flatMap((domain, index) => {
    if (domain.startsWith("*."))
      return [invalid(`${field}[${index}]`, domain, "Google-managed certificates do not support wildcard domains.")];
    if (
      /^[\d.]+$/.test(domain) ||
      domain.includes(":") ||
      !/^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i.test(domain)
    )
      return [
        invalid(
          `${field}[${index}]`,
          domain,
          "A Google-managed certificate is for a domain name that resolves to the load balancer, not an address.",
        ),
      ];
    return [];
  });
}

/**
 * A backend service over instance groups: each group exists and has the named port the service
 * sends to (else the load balancer has no port to reach it on), the service has a health check
 * (Compute API, BackendService.healthChecks: required for instance group backends), and a
 * UTILIZATION backend's maxUtilization is from 0.0 to 1.0.
 */
export function backendServiceRefusals(backend: DeclaredBackendService, declared: DeclaredLoadBalancing): string[] {
  const refusals: string[] = [];
  if (!backend.healthCheck)
    refusals.push(
      invalid("resource.healthChecks", "", "A backend service with instance group backends must have a health check."),
    );
  else if (!declared.healthChecks.some((check) => check.path === backend.healthCheck))
    refusals.push(notFound(backend.healthCheck));
  backend.backends.forEach((entry, index) => {
    const group = declared.groups.find((g) => g.instanceGroup === entry.group);
    if (!group) refusals.push(notFound(entry.group));
    else if (backend.portName && !group.namedPorts.some((port) => port.name === backend.portName))
      refusals.push(
        invalid(
          `resource.backends[${index}].group`,
          entry.group,
          `The instance group has no named port '${backend.portName}' for the backend service to send traffic to.`,
        ),
      );
    if (
      entry.balancingMode === "UTILIZATION" &&
      entry.maxUtilization !== undefined &&
      !(entry.maxUtilization >= 0 && entry.maxUtilization <= 1)
    )
      refusals.push(
        invalid(
          `resource.backends[${index}].maxUtilization`,
          entry.maxUtilization,
          "maxUtilization must be from 0.0 to 1.0.",
        ),
      );
  });
  return refusals;
}

/** The retry conditions a URL map's retry policy takes (Compute API, HttpRetryPolicy.retryConditions). */
export const VALID_RETRY_CONDITIONS = [
  "5xx",
  "gateway-error",
  "connect-failure",
  "retriable-4xx",
  "refused-stream",
  "cancelled",
  "deadline-exceeded",
  "internal",
  "resource-exhausted",
  "unavailable",
] as const;

/**
 * A URL map (Compute API, UrlMap): "Only one of defaultUrlRedirect, defaultService or
 * defaultRouteAction.weightedBackendService can be set"; "URL maps for classic Application Load
 * Balancers only support the urlRewrite action within defaultRouteAction" — a retry policy needs
 * the global external Application Load Balancer (EXTERNAL_MANAGED backend services); a retry
 * policy's numRetries "must be > 0" and its conditions are the documented ones; host rules name
 * path matchers that exist; every service named exists.
 */
export function urlMapRefusals(map: DeclaredUrlMap, declared: DeclaredLoadBalancing): string[] {
  const refusals: string[] = [];
  const defaults = [
    map.defaultService,
    map.defaultUrlRedirect,
    map.defaultRouteAction?.weightedBackendServices?.length ? "weighted" : undefined,
  ].filter((d) => d !== undefined);
  if (defaults.length !== 1)
    refusals.push(
      invalid(
        "resource.defaultService",
        map.defaultService ?? "",
        "Only one of defaultUrlRedirect, defaultService or defaultRouteAction.weightedBackendService can be set.",
      ),
    );
  const services = [
    map.defaultService,
    ...map.pathMatchers.flatMap((m) => [m.defaultService, ...(m.pathRules ?? []).map((r) => r.service)]),
  ].filter((s): s is string => s !== undefined);
  for (const service of services)
    if (!declared.backendServices.some((b) => b.path === service)) refusals.push(notFound(service));
  const action = map.defaultRouteAction;
  const { urlRewrite: _urlRewrite, ...advanced } = action ?? {};
  const classic = services.some(
    (s) => declared.backendServices.find((b) => b.path === s)?.loadBalancingScheme === "EXTERNAL",
  );
  if (classic && Object.keys(advanced).length > 0)
    refusals.push(
      invalid(
        "resource.defaultRouteAction",
        Object.keys(advanced).join(", "),
        "URL maps for classic Application Load Balancers only support the urlRewrite action within defaultRouteAction.",
      ),
    );
  const retry = action?.retryPolicy;
  if (retry) {
    if (retry.numRetries !== undefined && !(retry.numRetries > 0))
      refusals.push(
        invalid("resource.defaultRouteAction.retryPolicy.numRetries", retry.numRetries, "This number must be > 0."),
      );
    for (const condition of retry.retryConditions ?? [])
      if (!(VALID_RETRY_CONDITIONS as readonly string[]).includes(condition))
        refusals.push(
          invalid(
            "resource.defaultRouteAction.retryPolicy.retryConditions",
            condition,
            `Valid values are: ${VALID_RETRY_CONDITIONS.join(", ")}.`,
          ),
        );
  }
  for (const rule of map.hostRules)
    if (!map.pathMatchers.some((m) => m.name === rule.pathMatcher))
      refusals.push(invalid("resource.hostRules.pathMatcher", rule.pathMatcher, "No path matcher of that name."));
  return refusals;
}

/**
 * A forwarding rule reaches a proxy that exists, an HTTPS proxy has a certificate, and the rule's
 * load-balancing scheme is its backend services' (a global external Application Load Balancer is
 * EXTERNAL_MANAGED throughout; the classic one EXTERNAL: Cloud Load Balancing docs, "External
 * Application Load Balancer overview", load balancer modes).
 */
export function forwardingRuleRefusals(rule: DeclaredForwardingRule, declared: DeclaredLoadBalancing): string[] {
  const proxy = declared.proxies.find((p) => p.path === rule.target);
  if (!proxy) return [notFound(rule.target)];
  const refusals: string[] = [];
  if (proxy.kind === "https" && proxy.sslCertificates.length === 0)
    refusals.push(invalid("resource.sslCertificates", "", "A target HTTPS proxy needs at least one SSL certificate."));
  for (const certificate of proxy.sslCertificates)
    if (!declared.certificates.some((c) => c.path === certificate)) refusals.push(notFound(certificate));
  const map = declared.urlMaps.find((m) => m.path === proxy.urlMap);
  if (!map) return [...refusals, notFound(proxy.urlMap)];
  for (const service of servicesOf(map)) {
    const backend = declared.backendServices.find((b) => b.path === service);
    if (backend && backend.loadBalancingScheme !== rule.loadBalancingScheme)
      refusals.push(
        invalid(
          "resource.loadBalancingScheme",
          rule.loadBalancingScheme,
          `The backend service ${backend.name} is ${backend.loadBalancingScheme}: a forwarding rule and the backend services it reaches share one load-balancing scheme.`,
        ),
      );
  }
  return refusals;
}

/** Whether `range` (a CIDR) contains every address of `wanted`. */
function cidrCovers(range: string, wanted: string): boolean {
  const parse = (cidr: string) => {
    const [address, bits = "32"] = cidr.split("/");
    const value = address.split(".").reduce((sum, octet) => sum * 256 + Number(octet), 0);
    return { value, bits: Number(bits) };
  };
  const outer = parse(range);
  const inner = parse(wanted);
  if (outer.bits > inner.bits) return false;
  const size = 2 ** (32 - outer.bits);
  return Math.floor(outer.value / size) === Math.floor(inner.value / size);
}

/** Whether a firewall `ports` list (`["8080"]`, `["8000-9000"]`, or none: every port) admits `port`. */
function portAdmitted(ports: string[] | undefined, port: number): boolean {
  if (!ports || ports.length === 0) return true;
  return ports.some((entry) => {
    const [from, to = from] = entry.split("-").map(Number);
    return port >= from && port <= to;
  });
}

/**
 * Behaviour, not a refusal: Google creates a backend service whose health checks no firewall rule
 * admits, and then marks every backend UNHEALTHY, so the load balancer serves nothing (Cloud Load
 * Balancing docs, "Firewall rules": an ingress allow rule must admit the health-check ranges
 * 35.191.0.0/16 and 130.211.0.0/22 — and, for instance groups, the front ends from the same
 * ranges — to the backends). The answer says why, for each backend group that is not admitted.
 */
export function unadmittedHealthChecks(backend: DeclaredBackendService, declared: DeclaredLoadBalancing): string[] {
  const check = declared.healthChecks.find((c) => c.path === backend.healthCheck);
  if (!check) return [];
  return backend.backends.flatMap((entry) => {
    const group = declared.groups.find((g) => g.instanceGroup === entry.group);
    const template = group && declared.templates.find((t) => t.path === group.template);
    if (!group || !template) return [];
    const port =
      check.http?.port ??
      group.namedPorts.find((p) => p.name === (check.http?.portName ?? backend.portName))?.port ??
      80;
    const admitting = declared.firewalls.filter(
      (rule) =>
        !rule.disabled &&
        rule.direction === "INGRESS" &&
        rule.network === template.network &&
        (rule.targetTags.length === 0 || rule.targetTags.some((tag) => template.tags.includes(tag))) &&
        rule.allows.some((allow) => ["tcp", "all"].includes(allow.protocol) && portAdmitted(allow.ports, port)),
    );
    const missing = GOOGLE_FRONT_END_RANGES.filter(
      (range) => !admitting.some((rule) => rule.sourceRanges.some((source) => cidrCovers(source, range))),
    );
    return missing.length === 0
      ? []
      : [
          `every backend in ${group.name} stays UNHEALTHY: no ingress firewall rule on network ${template.network} admits health checks from ${missing.join(" and ")} to tcp:${port} on the template's tags (${template.tags.join(", ") || "none"})`,
        ];
  });
}

/** Everything Google would refuse among `declared`, each with the resource it is about. */
export function loadBalancingRefusals(declared: DeclaredLoadBalancing): Refusal[] {
  const about = (resource: string) => (messages: string[]) => messages.map((message) => ({ resource, message }));
  const autoscaled = (group: DeclaredGroup) => declared.autoscalers.some((a) => a.target === group.path);
  return [
    ...declared.templates.flatMap((t) => about(t.resourceName)(templateRefusals(t))),
    ...declared.groups.flatMap((g) => about(g.resourceName)(groupRefusals(g, declared, autoscaled(g)))),
    ...declared.autoscalers.flatMap((a) => about(a.resourceName)(autoscalerRefusals(a, declared))),
    ...declared.healthChecks.flatMap((c) => about(c.path)(healthCheckRefusals(c))),
    ...declared.certificates.flatMap((c) => about(c.path)(certificateRefusals(c))),
    ...declared.backendServices.flatMap((b) => about(b.resourceName)(backendServiceRefusals(b, declared))),
    ...declared.urlMaps.flatMap((m) => about(m.path)(urlMapRefusals(m, declared))),
    ...declared.forwardingRules.flatMap((r) => about(r.resourceName)(forwardingRuleRefusals(r, declared))),
  ];
}
