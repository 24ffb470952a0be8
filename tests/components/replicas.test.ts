// The harness puts Pulumi's mocks in place before the component is loaded.
import { deploy, includesUrnOf, value } from "./pulumiHarness";
import { GOOGLE_FRONT_END_RANGES } from "../../contracts/loadBalancer";

// A replicated model's whole graph under Pulumi's mocks, in each form of the `replicas` argument.
const TYPE = {
  template: "gcp:compute/instanceTemplate:InstanceTemplate",
  group: "gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager",
  autoscaler: "gcp:compute/regionAutoscaler:RegionAutoscaler",
  healthCheck: "gcp:compute/healthCheck:HealthCheck",
  backend: "gcp:compute/backendService:BackendService",
  urlMap: "gcp:compute/uRLMap:URLMap",
  httpsProxy: "gcp:compute/targetHttpsProxy:TargetHttpsProxy",
  httpProxy: "gcp:compute/targetHttpProxy:TargetHttpProxy",
  rule: "gcp:compute/globalForwardingRule:GlobalForwardingRule",
  address: "gcp:compute/globalAddress:GlobalAddress",
  certificate: "gcp:compute/managedSslCertificate:ManagedSslCertificate",
  firewall: "gcp:compute/firewall:Firewall",
} as const;

describe("BudgetModel with replicas: 3 (a fixed group of spot VMs)", () => {
  let m: Awaited<ReturnType<typeof deploy>>;
  beforeAll(async () => {
    m = await deploy("fixed", { replicas: 3 });
  }, 120_000);

  it("declares a spot template and a regional group of 3 from it, and no single VM, restarter or topic", () => {
    const types = m.children.map((c) => c.type);
    for (const absent of [
      "gcp:compute/instance:Instance",
      "gcp:cloudfunctionsv2/function:Function",
      "gcp:cloudscheduler/job:Job",
      "gcp:pubsub/topic:Topic",
      "gcp:pubsub/topicIAMMember:TopicIAMMember",
      "gcp:compute/address:Address",
      TYPE.autoscaler,
    ])
      expect(types).not.toContain(absent);
    expect(m.children.filter((c) => c.type === TYPE.group).map((c) => c.name)).toEqual(["fixed-spot-group"]);
    const template = m.child(TYPE.template, "spot-template").inputs;
    expect(template.scheduling).toEqual({
      provisioningModel: "SPOT",
      preemptible: true,
      automaticRestart: false,
      onHostMaintenance: "TERMINATE",
      instanceTerminationAction: "STOP",
    });
    expect(template.machineType).toBe("e2-small");
    expect(template.disks).toEqual([expect.objectContaining({ boot: true, autoDelete: true, diskSizeGb: 20 })]);
    const group = m.child(TYPE.group, "spot-group");
    expect(group.inputs).toMatchObject({
      region: "us-central1",
      targetSize: 3,
      versions: [{ instanceTemplate: expect.stringContaining(template.namePrefix) }],
      namedPorts: [{ name: "http", port: 8080 }],
      distributionPolicyZones: ["us-central1-a", "us-central1-b", "us-central1-c"],
      distributionPolicyTargetShape: "BALANCED",
    });
    // Every child hangs under the component.
    for (const child of m.children) expect(child.parent).toMatch(/budgetml:index:BudgetModel::fixed$/);
  });

  it("boots every replica as the single VM boots, behind the load balancer's address, with names only in metadata", async () => {
    const metadata = m.child(TYPE.template, "spot-template").inputs.metadata;
    expect(metadata["startup-script"]).toContain("budgetml-startup");
    expect(metadata["shutdown-script"]).toContain('"$BOOT" shutdown');
    expect(metadata["budget-load-balancer"]).toBe("34.117.1.2");
    expect(metadata["budget-password-secret"]).toMatch(
      /^projects\/proj\/secrets\/budgetml-fixed-.*-password\/versions\/1$/,
    );
    expect(metadata["budget-topic"]).toBeUndefined(); // no restarter to signal
    expect(JSON.stringify(metadata)).not.toContain("generated-fixed");
    expect(m.child(TYPE.template, "spot-template").inputs.serviceAccount.email).toMatch(/^bm-fixed-.*@proj/);
    // The first boot reads the secrets and bundles: the group waits for the grants and versions.
    const group = m.child(TYPE.group, "spot-group");
    expect(
      includesUrnOf(
        group.dependsOn,
        m.child("gcp:storage/bucketIAMMember:BucketIAMMember", "vm-bucket-reader-storage-objectviewer"),
      ),
    ).toBe(true);
    expect(
      includesUrnOf(group.dependsOn, m.child("gcp:secretmanager/secretVersion:SecretVersion", "password-version")),
    ).toBe(true);
  });

  it("autoheals on GET / with a slower check than the load balancer's, after a first boot's delay", () => {
    const group = m.child(TYPE.group, "spot-group").inputs;
    const autohealing = m.child(TYPE.healthCheck, "autohealing-check");
    const balancing = m.child(TYPE.healthCheck, "health-check");
    expect(group.autoHealingPolicies).toEqual({ healthCheck: `${autohealing.name}-id`, initialDelaySec: 300 });
    expect(autohealing.inputs).toMatchObject({
      httpHealthCheck: { port: 8080, requestPath: "/" },
      checkIntervalSec: 10,
      unhealthyThreshold: 3,
    });
    expect(balancing.inputs).toMatchObject({
      httpHealthCheck: { port: 8080, requestPath: "/" },
      checkIntervalSec: 2,
      unhealthyThreshold: 2,
    });
  });

  it("rolls new templates out by surge, never taking a replica away first", () => {
    expect(m.child(TYPE.group, "spot-group").inputs.updatePolicy).toEqual({
      type: "PROACTIVE",
      minimalAction: "REPLACE",
      replacementMethod: "SUBSTITUTE",
      maxSurgeFixed: 3, // a regional group's surge: 0 or at least its number of zones
      maxUnavailableFixed: 0,
      instanceRedistributionType: "NONE", // what the BALANCED shape requires
    });
  });

  it("puts the group behind an external Application Load Balancer with HTTPS, a redirect, health checks and retries", () => {
    const group = m.child(TYPE.group, "spot-group");
    const backend = m.child(TYPE.backend, "backend").inputs;
    expect(backend).toMatchObject({
      loadBalancingScheme: "EXTERNAL_MANAGED",
      protocol: "HTTP",
      portName: "http",
      healthChecks: `${m.child(TYPE.healthCheck, "health-check").name}-id`,
      connectionDrainingTimeoutSec: 25,
      backends: [
        {
          group: `https://www.googleapis.com/compute/v1/projects/proj/regions/us-central1/instanceGroups/${group.inputs.name}`,
          balancingMode: "UTILIZATION",
          maxUtilization: 0.8,
          capacityScaler: 1,
        },
      ],
    });
    const https = m.child(TYPE.urlMap, "https-map").inputs;
    expect(https.defaultService).toBe("fixed-backend-id");
    expect(https.defaultRouteAction.retryPolicy).toEqual({
      numRetries: 2,
      retryConditions: ["connect-failure", "gateway-error", "refused-stream"],
    });
    const http = m.child(TYPE.urlMap, "http-map").inputs;
    expect(http.defaultUrlRedirect).toMatchObject({ httpsRedirect: true });
    expect(http.pathMatchers[0].pathRules).toEqual([{ paths: ["/"], service: "fixed-backend-id" }]);
    expect(m.child(TYPE.certificate, "certificate").inputs.managed).toEqual({ domains: ["34-117-1-2.sslip.io"] });
    expect(m.child(TYPE.httpsProxy, "https-proxy").inputs).toMatchObject({
      urlMap: "fixed-https-map-id",
      sslCertificates: ["fixed-certificate-id"],
    });
    expect(m.child(TYPE.httpProxy, "http-proxy").inputs.urlMap).toBe("fixed-http-map-id");
    for (const [scheme, port, proxy] of [
      ["https", "443", "fixed-https-proxy-id"],
      ["http", "80", "fixed-http-proxy-id"],
    ])
      expect(m.child(TYPE.rule, `${scheme}-rule`).inputs).toMatchObject({
        loadBalancingScheme: "EXTERNAL_MANAGED",
        ipAddress: "34.117.1.2",
        portRange: port,
        target: proxy,
      });
    expect(m.child(TYPE.address, "address").inputs).toMatchObject({ addressType: "EXTERNAL", ipVersion: "IPV4" });
  });

  it("opens the serving port to Google's front ends and health checks only, on the replicas' tag", () => {
    const firewall = m.child(TYPE.firewall, "health-firewall").inputs;
    expect(firewall).toMatchObject({
      direction: "INGRESS",
      allows: [{ protocol: "tcp", ports: ["8080"] }],
      sourceRanges: [...GOOGLE_FRONT_END_RANGES],
    });
    expect(firewall.targetTags).toEqual(m.child(TYPE.template, "spot-template").inputs.tags);
    // The single VM's rule (80 and 443 from anywhere) is not declared.
    expect(m.children.filter((c) => c.type === TYPE.firewall).map((c) => c.name)).toEqual(["fixed-health-firewall"]);
  });

  it("answers on the load balancer's address, waits for its health over HTTP, and prices the load balancer in", async () => {
    expect(await value(m.model.url)).toBe("https://34-117-1-2.sslip.io");
    expect(await value(m.model.ipAddress)).toBe("34.117.1.2");
    const wait = m.child("command:local:Command", "wait-healthy").inputs;
    expect(wait.environment.BUDGET_HEALTH_URL).toBe("http://34.117.1.2/");
    expect(wait.triggers[0]).toBe(`${m.child(TYPE.template, "spot-template").name}-id`);
    const cost = await value(m.model.monthlyCost);
    // 3 × (spot e2-small + 20 GB disk + an ephemeral address) + $18.25 of forwarding rules.
    expect(cost.monthlyUsd).toBe(Math.round((3 * (0.00503 * 730 + 2 + 0.005 * 730) + 0.025 * 730) * 100) / 100);
    expect(cost.maxMonthlyUsd).toBeUndefined();
    expect(cost.note).toMatch(/forwarding rules \(\$18\.25\/month\)/);
    expect(m.model.instance).toBeUndefined();
    expect(m.model.restarter).toBeUndefined();
    expect(m.model.groups).toHaveLength(1);
  });
});

describe("BudgetModel with replicas: { min: 2, max: 8 } (autoscaled)", () => {
  it("autoscales the spot group on CPU between min and max, and leaves its size to the autoscaler", async () => {
    const m = await deploy("scaled", { replicas: { min: 2, max: 8 } });
    const group = m.child(TYPE.group, "spot-group");
    expect(group.inputs.targetSize).toBeUndefined();
    const autoscaler = m.child(TYPE.autoscaler, "spot-autoscaler").inputs;
    expect(autoscaler).toMatchObject({
      region: "us-central1",
      target: "scaled-spot-group-id",
      autoscalingPolicy: {
        minReplicas: 2,
        maxReplicas: 8,
        cooldownPeriod: 300,
        cpuUtilization: { target: 0.6 },
        mode: "ON",
      },
    });
    const cost = await value(m.model.monthlyCost);
    expect(cost.maxMonthlyUsd).toBeGreaterThan(cost.monthlyUsd as number);
    expect(m.children.filter((c) => c.type === TYPE.group)).toHaveLength(1);
  }, 120_000);
});

describe("BudgetModel with replicas: { min: 2, max: 8, standard: 1 }", () => {
  let m: Awaited<ReturnType<typeof deploy>>;
  beforeAll(async () => {
    m = await deploy("mixed", { replicas: { min: 2, max: 8, standard: 1 }, domain: "example.com", subdomain: "api" });
  }, 120_000);

  it("keeps one on-demand VM in a fixed group of its own, and autoscales the spot rest from 1 to 7", () => {
    const standard = m.child(TYPE.template, "standard-template").inputs;
    expect(standard.scheduling).toEqual({
      provisioningModel: "STANDARD",
      preemptible: false,
      automaticRestart: true,
      onHostMaintenance: "MIGRATE",
    });
    expect(standard.metadata).toEqual(m.child(TYPE.template, "spot-template").inputs.metadata);
    expect(m.child(TYPE.group, "standard-group").inputs).toMatchObject({
      targetSize: 1,
      distributionPolicyTargetShape: "EVEN",
      updatePolicy: { instanceRedistributionType: "PROACTIVE", maxUnavailableFixed: 0, maxSurgeFixed: 3 },
      versions: [{ instanceTemplate: expect.stringContaining(standard.namePrefix) }],
    });
    expect(m.child(TYPE.autoscaler, "spot-autoscaler").inputs.autoscalingPolicy).toMatchObject({
      minReplicas: 1,
      maxReplicas: 7,
    });
    expect(m.children.filter((c) => c.type === TYPE.autoscaler)).toHaveLength(1); // the standard group is fixed
    expect(m.child(TYPE.backend, "backend").inputs.backends.map((b: { group: string }) => b.group)).toEqual([
      expect.stringMatching(/instanceGroups\/budgetml-mixed-.*-spot$/),
      expect.stringMatching(/instanceGroups\/budgetml-mixed-.*-standard$/),
    ]);
  });

  it("gets Google's certificate for the domain, and names the A record to create", async () => {
    expect(m.child(TYPE.certificate, "certificate").inputs.managed).toEqual({ domains: ["api.example.com"] });
    expect(await value(m.model.url)).toBe("https://api.example.com");
    expect(await value(m.model.dnsRecord)).toMatchObject({ name: "api.example.com", type: "A", value: "34.117.1.2" });
    expect(m.child(TYPE.template, "spot-template").inputs.metadata["budget-domain"]).toBe("api.example.com");
  });

  it("prices the standard replica on demand and the spot one at spot", async () => {
    const cost = await value(m.model.monthlyCost);
    const perVm = 2 + 0.005 * 730;
    expect(cost.monthlyUsd).toBe(
      Math.round((0.00503 * 730 + perVm + (0.01675 * 730 + perVm) + 0.025 * 730) * 100) / 100,
    );
    expect(cost.onDemandMonthlyUsd).toBe(Math.round((2 * (0.01675 * 730 + perVm) + 0.025 * 730) * 100) / 100);
    expect(cost.maxMonthlyUsd).toBe(
      Math.round((7 * (0.00503 * 730 + perVm) + (0.01675 * 730 + perVm) + 0.025 * 730) * 100) / 100,
    );
  });
});
