import { randomBytes } from "node:crypto";
import type { Scheduling } from "../contracts/scheduling";

// What a program declares for Google's load balancing and managed instance groups, recorded by
// the local engine as Google would hold it (ids, self links, generated names), for the local
// load balancer and groups to materialise and for loadBalancingRules.ts to judge.

/** An instance template (`gcp:compute/instanceTemplate:InstanceTemplate`). */
export interface DeclaredTemplate {
  resourceName: string;
  /** `projects/P/global/instanceTemplates/N`: what references resolve to (see {@link resourcePath}). */
  path: string;
  name: string;
  project: string;
  machineType: string;
  metadata: Record<string, string>;
  scheduling: Scheduling;
  serviceAccount: string | undefined;
  tags: string[];
  /** The first interface's network, as a name. */
  network: string;
}

/** A regional managed instance group. */
export interface DeclaredGroup {
  resourceName: string;
  path: string;
  name: string;
  project: string;
  region: string;
  baseInstanceName: string;
  /** The instance template of its (first) version, as a path. */
  template: string;
  targetSize: number | undefined;
  namedPorts: Array<{ name: string; port: number }>;
  autoHealing: { healthCheck: string; initialDelaySec: number } | undefined;
  zones: string[];
  targetShape: string | undefined;
  updatePolicy: {
    type?: string;
    minimalAction?: string;
    replacementMethod?: string;
    maxSurgeFixed?: number;
    maxSurgePercent?: number;
    maxUnavailableFixed?: number;
    maxUnavailablePercent?: number;
    instanceRedistributionType?: string;
  };
  /** `projects/P/regions/R/instanceGroups/N`: the group as a backend names it. */
  instanceGroup: string;
}

/** A regional autoscaler. */
export interface DeclaredAutoscaler {
  resourceName: string;
  region: string;
  /** The group it scales, as a path. */
  target: string;
  policy: {
    minReplicas?: number;
    maxReplicas?: number;
    cooldownPeriod?: number;
    cpuUtilization?: { target?: number };
    mode?: string;
  };
}

/** A global health check with an HTTP probe. */
export interface DeclaredHealthCheck {
  path: string;
  name: string;
  checkIntervalSec: number;
  timeoutSec: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
  http: { port?: number; portName?: string; portSpecification?: string; requestPath: string } | undefined;
}

/** A global backend service. */
export interface DeclaredBackendService {
  resourceName: string;
  path: string;
  name: string;
  loadBalancingScheme: string;
  protocol: string;
  portName: string | undefined;
  /** The health check, as a path. */
  healthCheck: string | undefined;
  backends: Array<{ group: string; balancingMode?: string; maxUtilization?: number; capacityScaler?: number }>;
  connectionDrainingTimeoutSec: number;
  timeoutSec: number;
}

/** A retry policy of a URL map's route action. */
export interface DeclaredRetryPolicy {
  numRetries?: number;
  retryConditions?: string[];
}

/** A global URL map. */
export interface DeclaredUrlMap {
  path: string;
  name: string;
  defaultService: string | undefined;
  defaultUrlRedirect: Record<string, unknown> | undefined;
  defaultRouteAction:
    { retryPolicy?: DeclaredRetryPolicy; weightedBackendServices?: unknown[]; urlRewrite?: unknown } | undefined;
  hostRules: Array<{ hosts: string[]; pathMatcher: string }>;
  pathMatchers: Array<{
    name: string;
    defaultService?: string;
    defaultUrlRedirect?: Record<string, unknown>;
    pathRules?: Array<{ paths: string[]; service?: string }>;
  }>;
}

/** A target HTTP(S) proxy. */
export interface DeclaredProxy {
  path: string;
  kind: "http" | "https";
  urlMap: string;
  sslCertificates: string[];
}

/** A global forwarding rule. */
export interface DeclaredForwardingRule {
  resourceName: string;
  ipAddress: string;
  portRange: string;
  target: string;
  loadBalancingScheme: string;
}

/** A Google-managed SSL certificate. */
export interface DeclaredCertificate {
  path: string;
  domains: string[];
}

/** A VPC firewall rule. */
export interface DeclaredFirewall {
  resourceName: string;
  network: string;
  direction: string;
  allows: Array<{ protocol: string; ports?: string[] }>;
  sourceRanges: string[];
  targetTags: string[];
  disabled: boolean;
}

/** The address every declared global address gets here: the local load balancer listens on loopback. */
export const LOCAL_LOAD_BALANCER_IP = "127.0.0.1";

/**
 * A reference as a resource path: Google accepts a full URL (`https://www.googleapis.com/compute/v1/projects/…`),
 * a partial one (`projects/…`) and, for templates, a `?uniqueId=` suffix; all name the same thing.
 */
export function resourcePath(reference: string | undefined): string {
  return String(reference ?? "")
    .replace(/^https:\/\/(www|compute)\.googleapis\.com\/compute\/(v1|beta)\//, "")
    .replace(/\?.*$/, "");
}

/** A network reference (a name, or a path ending in one) as its name. */
export const networkName = (reference: string | undefined) => String(reference ?? "default").replace(/^.*\//, "");

/** The backend services a URL map sends to. */
export function servicesOf(map: DeclaredUrlMap): string[] {
  return [
    ...new Set(
      [
        map.defaultService,
        ...map.pathMatchers.flatMap((m) => [m.defaultService, ...(m.pathRules ?? []).map((r) => r.service)]),
      ].filter((s): s is string => s !== undefined),
    ),
  ];
}

/** Everything the program declared for load balancing, filled by {@link DeclaredLoadBalancing.record}. */
export class DeclaredLoadBalancing {
  readonly templates: DeclaredTemplate[] = [];
  readonly groups: DeclaredGroup[] = [];
  readonly autoscalers: DeclaredAutoscaler[] = [];
  readonly healthChecks: DeclaredHealthCheck[] = [];
  readonly backendServices: DeclaredBackendService[] = [];
  readonly urlMaps: DeclaredUrlMap[] = [];
  readonly proxies: DeclaredProxy[] = [];
  readonly forwardingRules: DeclaredForwardingRule[] = [];
  readonly certificates: DeclaredCertificate[] = [];
  readonly firewalls: DeclaredFirewall[] = [];

  /**
   * Records one declared resource, if it is one of these types, and fills `state` with the outputs
   * Google would return; answers its id, or undefined for any other type.
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the engine's inputs, read field by field
  record(type: string, resourceName: string, inputs: Record<string, any>, state: Record<string, unknown>) {
    const project = String(inputs.project ?? "");
    const global = (collection: string, name: string) => `projects/${project}/global/${collection}/${name}`;
    const named = (collection: string) => {
      const path = global(collection, inputs.name);
      Object.assign(state, { selfLink: `https://www.googleapis.com/compute/v1/${path}` });
      return path;
    };
    switch (type) {
      case "gcp:compute/instanceTemplate:InstanceTemplate": {
        const name = inputs.name ?? `${inputs.namePrefix ?? "template-"}${randomBytes(6).toString("hex")}`;
        const path = global("instanceTemplates", name);
        const uniqueId = BigInt(`0x${randomBytes(6).toString("hex")}`).toString();
        Object.assign(state, {
          name,
          selfLink: `https://www.googleapis.com/compute/v1/${path}`,
          selfLinkUnique: `https://www.googleapis.com/compute/v1/${path}?uniqueId=${uniqueId}`,
        });
        this.templates.push({
          resourceName,
          path,
          name,
          project,
          machineType: inputs.machineType,
          metadata: Object.fromEntries(Object.entries(inputs.metadata ?? {}).map(([k, v]) => [k, String(v)])),
          scheduling: inputs.scheduling ?? {},
          serviceAccount: inputs.serviceAccount?.email,
          tags: inputs.tags ?? [],
          network: networkName(inputs.networkInterfaces?.[0]?.network),
        });
        return path;
      }
      case "gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager": {
        const path = `projects/${project}/regions/${inputs.region}/instanceGroupManagers/${inputs.name}`;
        const instanceGroup = `projects/${project}/regions/${inputs.region}/instanceGroups/${inputs.name}`;
        Object.assign(state, {
          selfLink: `https://www.googleapis.com/compute/v1/${path}`,
          instanceGroup: `https://www.googleapis.com/compute/v1/${instanceGroup}`,
        });
        const policy = inputs.updatePolicy ?? {};
        this.groups.push({
          resourceName,
          path,
          name: inputs.name,
          project,
          region: inputs.region,
          baseInstanceName: inputs.baseInstanceName,
          template: resourcePath(inputs.versions?.[0]?.instanceTemplate),
          targetSize: inputs.targetSize,
          namedPorts: inputs.namedPorts ?? [],
          autoHealing: inputs.autoHealingPolicies
            ? {
                healthCheck: resourcePath(inputs.autoHealingPolicies.healthCheck),
                initialDelaySec: inputs.autoHealingPolicies.initialDelaySec,
              }
            : undefined,
          zones: inputs.distributionPolicyZones ?? [],
          targetShape: inputs.distributionPolicyTargetShape,
          updatePolicy: { ...policy },
          instanceGroup,
        });
        return path;
      }
      case "gcp:compute/regionAutoscaler:RegionAutoscaler":
        this.autoscalers.push({
          resourceName,
          region: inputs.region,
          target: resourcePath(inputs.target),
          policy: { ...(inputs.autoscalingPolicy ?? {}) },
        });
        return `projects/${project}/regions/${inputs.region}/autoscalers/${inputs.name}`;
      case "gcp:compute/healthCheck:HealthCheck": {
        const path = named("healthChecks");
        this.healthChecks.push({
          path,
          name: inputs.name,
          // Google's defaults (HealthCheck resource): 5 s, 5 s, 2, 2.
          checkIntervalSec: inputs.checkIntervalSec ?? 5,
          timeoutSec: inputs.timeoutSec ?? 5,
          healthyThreshold: inputs.healthyThreshold ?? 2,
          unhealthyThreshold: inputs.unhealthyThreshold ?? 2,
          http: inputs.httpHealthCheck
            ? { ...inputs.httpHealthCheck, requestPath: inputs.httpHealthCheck.requestPath ?? "/" }
            : undefined,
        });
        return path;
      }
      case "gcp:compute/backendService:BackendService": {
        const path = named("backendServices");
        this.backendServices.push({
          resourceName,
          path,
          name: inputs.name,
          // The provider's defaults: the classic scheme, HTTP, 30 s.
          loadBalancingScheme: inputs.loadBalancingScheme ?? "EXTERNAL",
          protocol: inputs.protocol ?? "HTTP",
          portName: inputs.portName,
          healthCheck: inputs.healthChecks ? resourcePath(inputs.healthChecks) : undefined,
          backends: (inputs.backends ?? []).map((backend: DeclaredBackendService["backends"][number]) => ({
            ...backend,
            group: resourcePath(backend.group),
          })),
          connectionDrainingTimeoutSec: inputs.connectionDrainingTimeoutSec ?? 300,
          timeoutSec: inputs.timeoutSec ?? 30,
        });
        return path;
      }
      case "gcp:compute/uRLMap:URLMap": {
        const path = named("urlMaps");
        const service = (reference: string | undefined) => (reference ? resourcePath(reference) : undefined);
        this.urlMaps.push({
          path,
          name: inputs.name,
          defaultService: service(inputs.defaultService),
          defaultUrlRedirect: inputs.defaultUrlRedirect,
          defaultRouteAction: inputs.defaultRouteAction,
          hostRules: inputs.hostRules ?? [],
          pathMatchers: (inputs.pathMatchers ?? []).map((matcher: DeclaredUrlMap["pathMatchers"][number]) => ({
            ...matcher,
            defaultService: service(matcher.defaultService),
            pathRules: (matcher.pathRules ?? []).map((rule) => ({ ...rule, service: service(rule.service) })),
          })),
        });
        return path;
      }
      case "gcp:compute/targetHttpsProxy:TargetHttpsProxy":
      case "gcp:compute/targetHttpProxy:TargetHttpProxy": {
        const https = type.endsWith("TargetHttpsProxy");
        const path = named(https ? "targetHttpsProxies" : "targetHttpProxies");
        this.proxies.push({
          path,
          kind: https ? "https" : "http",
          urlMap: resourcePath(inputs.urlMap),
          sslCertificates: (inputs.sslCertificates ?? []).map(resourcePath),
        });
        return path;
      }
      case "gcp:compute/globalForwardingRule:GlobalForwardingRule":
        this.forwardingRules.push({
          resourceName,
          ipAddress: inputs.ipAddress,
          portRange: String(inputs.portRange ?? ""),
          target: resourcePath(inputs.target),
          loadBalancingScheme: inputs.loadBalancingScheme ?? "EXTERNAL",
        });
        return named("forwardingRules");
      case "gcp:compute/globalAddress:GlobalAddress":
        state.address = LOCAL_LOAD_BALANCER_IP;
        return named("addresses");
      case "gcp:compute/managedSslCertificate:ManagedSslCertificate": {
        const path = named("sslCertificates");
        this.certificates.push({ path, domains: inputs.managed?.domains ?? [] });
        return path;
      }
      case "gcp:compute/firewall:Firewall":
        this.firewalls.push({
          resourceName,
          network: networkName(inputs.network),
          direction: inputs.direction ?? "INGRESS",
          allows: inputs.allows ?? [],
          sourceRanges: inputs.sourceRanges ?? [],
          targetTags: inputs.targetTags ?? [],
          disabled: inputs.disabled === true,
        });
        return named("firewalls");
      default:
        return undefined;
    }
  }

  /** The backend services a forwarding rule reaches (through its proxy and URL map): the endpoints to serve. */
  servedBackendServices(): DeclaredBackendService[] {
    const paths = new Set(
      this.forwardingRules.flatMap((rule) => {
        const proxy = this.proxies.find((p) => p.path === rule.target);
        const map = proxy && this.urlMaps.find((m) => m.path === proxy.urlMap);
        return map ? servicesOf(map) : [];
      }),
    );
    return this.backendServices.filter((backend) => paths.has(backend.path));
  }

  /** What Google's look-ups answer here (`call` of Pulumi's mocks); undefined for look-ups it does not know. */
  invoke(token: string, inputs: Record<string, unknown>): Record<string, unknown> | undefined {
    // A region's zones: every region here has three, a to c.
    if (token === "gcp:compute/getZones:getZones")
      return { ...inputs, names: ["a", "b", "c"].map((letter) => `${inputs.region}-${letter}`) };
    return undefined;
  }
}
