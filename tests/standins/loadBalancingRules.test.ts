import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { DeclaredLoadBalancing, type DeclaredGroup } from "../../local/declaredLoadBalancing";
import { LocalCloud } from "../../local/localCloud";
import { launchLocalProgram } from "../../local/localProgram";
import {
  autoscalerRefusals,
  backendServiceRefusals,
  certificateRefusals,
  forwardingRuleRefusals,
  groupRefusals,
  healthCheckRefusals,
  loadBalancingRefusals,
  templateRefusals,
  unadmittedHealthChecks,
  urlMapRefusals,
} from "../../local/standins/loadBalancingRules";
import { waitForRegistrations } from "../../local/waitForRegistrations";

// Google's rules for what a replicated model declares, as the local engine enforces them: the
// component's own declarations (recorded by the local engine under Pulumi's mocks, as `budgetml
// local` records them) pass every rule; each rule refuses the variant Google refuses.
const ROOT = join(__dirname, "..", "..");
let declared: DeclaredLoadBalancing;

beforeAll(async () => {
  process.chdir(mkdtempSync(join(tmpdir(), "budgetml-rules-"))); // bundles are built under .budgetml/ here
  const cloud = new LocalCloud(mkdtempSync(join(tmpdir(), "budgetml-rules-buckets-")));
  await pulumi.runtime.setMocks(cloud.mocks(), "rules", "test", false);
  // Loaded once the mocks are in place, as Pulumi requires.
  const { BudgetModel } = require("../../components/budgetModel") as typeof import("../../components/budgetModel");
  new BudgetModel("m", {
    predictor: join(ROOT, "tests", "fixtures", "allEndpoints.ts"),
    project: "proj",
    zone: "us-central1-a",
    replicas: { min: 2, max: 8, standard: 1 },
    waitForHealthy: false,
  });
  await waitForRegistrations(() => cloud.declared.length);
  declared = cloud.loadBalancing;
}, 120_000);

/** A copy of the component's declarations with one change. */
function variant(change: (copy: DeclaredLoadBalancing) => void): DeclaredLoadBalancing {
  const copy = Object.assign(new DeclaredLoadBalancing(), structuredClone({ ...declared }));
  change(copy);
  return copy;
}
const spotGroup = (d: DeclaredLoadBalancing) =>
  d.groups.find((g) => g.resourceName === "m-spot-group") as DeclaredGroup;

describe("the component's own declarations", () => {
  it("pass every rule Google applies, and its firewall admits Google's health checks", () => {
    expect(declared.groups.map((g) => g.resourceName)).toEqual(["m-spot-group", "m-standard-group"]);
    expect(declared.servedBackendServices().map((b) => b.resourceName)).toEqual(["m-backend"]);
    expect(loadBalancingRefusals(declared)).toEqual([]);
    expect(unadmittedHealthChecks(declared.backendServices[0], declared)).toEqual([]);
  });
});

describe("instance templates", () => {
  it("refuses spot settings on a standard VM, and a preemptible VM that restarts, in the API's words", () => {
    const standard = structuredClone(declared.templates.find((t) => t.resourceName === "m-standard-template")!);
    expect(templateRefusals(standard)).toEqual([]);
    standard.scheduling.instanceTerminationAction = "STOP";
    expect(templateRefusals(standard)).toEqual([
      "Invalid value for field 'resource.properties.scheduling.instanceTerminationAction': 'STOP'. You cannot specify a termination action for a VM instance that has the standard provisioning model (default). To use instance termination action, the VM instance must use the Spot, Reservation-Bound or Flex Start provisioning model.",
    ]);
    const spot = structuredClone(declared.templates.find((t) => t.resourceName === "m-spot-template")!);
    spot.scheduling.automaticRestart = true;
    expect(templateRefusals(spot)).toEqual([
      "Invalid value for field 'resource.properties.scheduling.preemptible': 'true'. Scheduling must have preemptible be false when AutomaticRestart is true.",
    ]);
  });
});

describe("regional managed instance groups", () => {
  const refusalsOf = (change: (group: DeclaredGroup) => void, autoscaled = false) => {
    const copy = variant((d) => change(spotGroup(d)));
    return groupRefusals(spotGroup(copy), copy, autoscaled);
  };

  it("refuse a fixed surge or unavailability between 0 and the number of zones", () => {
    expect(spotGroup(declared).zones).toHaveLength(3);
    expect(refusalsOf((g) => (g.updatePolicy.maxSurgeFixed = 2))).toEqual([
      "Invalid value for field 'resource.updatePolicy.maxSurge.fixed': '2'. Fixed updatePolicy.maxSurge for a regional managed instance group has to be either 0 or at least equal to the number of zones (3).",
    ]);
    expect(refusalsOf((g) => (g.updatePolicy.maxUnavailableFixed = 1))[0]).toMatch(
      /maxUnavailable\.fixed': '1'\. .* either 0 or at least equal to the number of zones \(3\)/,
    );
    expect(refusalsOf((g) => (g.updatePolicy.maxSurgeFixed = 0))).toEqual([
      "Invalid value for field 'resource.updatePolicy': 'maxSurge 0, maxUnavailable 0'. At least one of either maxSurge or maxUnavailable must be greater than 0.",
    ]);
    expect(refusalsOf((g) => (g.updatePolicy.maxSurgeFixed = 4))).toEqual([]); // more than the zones is fine
  });

  it("refuse percentages for a small group, and surging while recreating names", () => {
    expect(
      refusalsOf((g) => {
        delete g.updatePolicy.maxSurgeFixed;
        g.updatePolicy.maxSurgePercent = 50;
      }, true)[0],
    ).toMatch(/A percentage is allowed only for a group of 10 or more instances/);
    expect(refusalsOf((g) => (g.updatePolicy.replacementMethod = "RECREATE"))).toEqual([
      "Invalid value for field 'resource.updatePolicy.maxSurge': '3'. RECREATE requires maxSurge 0.",
      "Invalid value for field 'resource.updatePolicy.maxUnavailable': '0'. RECREATE requires maxUnavailable greater than 0.",
    ]);
  });

  it("refuse proactive redistribution with the BALANCED shape, zones of another region, and a long initial delay", () => {
    expect(refusalsOf((g) => (g.updatePolicy.instanceRedistributionType = "PROACTIVE"))).toEqual([
      "Invalid value for field 'resource.updatePolicy.instanceRedistributionType': 'PROACTIVE'. Proactive instance redistribution is not supported with the BALANCED target distribution shape; set it to NONE.",
    ]);
    expect(refusalsOf((g) => delete g.updatePolicy.instanceRedistributionType)[0]).toMatch(
      /BALANCED target distribution/,
    );
    expect(refusalsOf((g) => (g.zones = ["us-central1-a", "europe-west1-b", "us-central1-c"]))[0]).toBe(
      "Invalid value for field 'resource.distributionPolicy.zones[1].zone': 'europe-west1-b'. The zone must be in the group's region us-central1.",
    );
    expect(refusalsOf((g) => (g.autoHealing!.initialDelaySec = 4000))).toEqual([
      "Invalid value for field 'resource.autoHealingPolicies[0].initialDelaySec': '4000'. The value of initial delay must be between 0 and 3600 seconds.",
    ]);
    expect(refusalsOf((g) => (g.template = "projects/proj/global/instanceTemplates/gone"))).toEqual([
      "The resource 'projects/proj/global/instanceTemplates/gone' was not found",
    ]);
  });
});

describe("autoscalers", () => {
  const refusalsOf = (change: (policy: DeclaredLoadBalancing["autoscalers"][number]["policy"]) => void) => {
    const copy = variant((d) => change(d.autoscalers[0].policy));
    return autoscalerRefusals(copy.autoscalers[0], copy);
  };

  it("scale the spot group between the plan's bounds", () => {
    expect(declared.autoscalers).toHaveLength(1);
    expect(declared.autoscalers[0]).toMatchObject({
      target: spotGroup(declared).path,
      policy: { minReplicas: 1, maxReplicas: 7 },
    });
  });

  it("refuse bounds outside the group's, in the API's words", () => {
    expect(refusalsOf((p) => (p.maxReplicas = 0))).toEqual([
      "Invalid value for field 'resource.autoscalingPolicy.maxNumReplicas': '0'. The maximum number of replicas must not be lower than minimal number of replicas.",
    ]);
    expect(refusalsOf((p) => (p.minReplicas = -1))[0]).toMatch(/minNumReplicas cannot be less than 0/);
    expect(refusalsOf((p) => (p.maxReplicas = 2001))[0]).toMatch(/holds at most 2000 VMs/);
    expect(refusalsOf((p) => (p.cpuUtilization = { target: 1.5 }))[0]).toMatch(
      /Must be a float value in the range \(0, 1\]/,
    );
    const lost = variant(
      (d) => (d.autoscalers[0].target = "projects/proj/regions/us-central1/instanceGroupManagers/x"),
    );
    expect(autoscalerRefusals(lost.autoscalers[0], lost)).toEqual([
      "The resource 'projects/proj/regions/us-central1/instanceGroupManagers/x' was not found",
    ]);
  });
});

describe("health checks, certificates, backend services, URL maps and forwarding rules", () => {
  it("refuse a health check whose timeout exceeds its interval", () => {
    const check = { ...declared.healthChecks[0], timeoutSec: 10, checkIntervalSec: 5 };
    expect(healthCheckRefusals(check)).toEqual([
      "Invalid value for field 'resource.timeoutSec': '10'. It is invalid for timeoutSec to have greater value than checkIntervalSec.",
    ]);
  });

  it("refuse a managed certificate without a domain it can validate", () => {
    expect(declared.certificates[0].domains).toEqual(["127-0-0-1.sslip.io"]);
    expect(certificateRefusals({ path: "c", domains: ["api.example.com"] })).toEqual([]);
    expect(certificateRefusals({ path: "c", domains: [] })[0]).toMatch(/at least one domain/);
    expect(certificateRefusals({ path: "c", domains: ["*.example.com"] })).toEqual([
      "Invalid value for field 'resource.managed.domains[0]': '*.example.com'. Google-managed certificates do not support wildcard domains.",
    ]);
    expect(certificateRefusals({ path: "c", domains: ["34.117.1.2"] })[0]).toMatch(/not an address/);
    expect(certificateRefusals({ path: "c", domains: ["localhost"] })[0]).toMatch(/not an address/);
    const many = Array.from({ length: 101 }, (_, i) => `d${i}.example.com`);
    expect(certificateRefusals({ path: "c", domains: many })[0]).toMatch(/up to 100 domains/);
  });

  it("refuse a backend service without a health check, or over a group without its named port", () => {
    const backendOf = (d: DeclaredLoadBalancing) => d.backendServices[0];
    const unchecked = variant((d) => (backendOf(d).healthCheck = undefined));
    expect(backendServiceRefusals(backendOf(unchecked), unchecked)).toEqual([
      "Invalid value for field 'resource.healthChecks': ''. A backend service with instance group backends must have a health check.",
    ]);
    const unnamed = variant((d) => (spotGroup(d).namedPorts = []));
    expect(backendServiceRefusals(backendOf(unnamed), unnamed)[0]).toMatch(
      /The instance group has no named port 'http' for the backend service to send traffic to/,
    );
  });

  it("refuse a retry policy on a classic load balancer's URL map, in the API's words, and a bad one anywhere", () => {
    const mapOf = (d: DeclaredLoadBalancing) => d.urlMaps.find((m) => m.defaultRouteAction?.retryPolicy)!;
    const classic = variant((d) => (d.backendServices[0].loadBalancingScheme = "EXTERNAL"));
    expect(urlMapRefusals(mapOf(classic), classic)).toEqual([
      "Invalid value for field 'resource.defaultRouteAction': 'retryPolicy'. URL maps for classic Application Load Balancers only support the urlRewrite action within defaultRouteAction.",
    ]);
    const bad = variant(
      (d) => (mapOf(d).defaultRouteAction!.retryPolicy = { numRetries: 0, retryConditions: ["reset"] }),
    );
    expect(urlMapRefusals(mapOf(bad), bad)).toEqual([
      "Invalid value for field 'resource.defaultRouteAction.retryPolicy.numRetries': '0'. This number must be > 0.",
      expect.stringMatching(/retryConditions': 'reset'\. Valid values are: 5xx, gateway-error, connect-failure/),
    ]);
    const both = variant((d) => (mapOf(d).defaultUrlRedirect = { httpsRedirect: true }));
    expect(urlMapRefusals(mapOf(both), both)[0]).toMatch(
      /Only one of defaultUrlRedirect, defaultService or defaultRouteAction.weightedBackendService can be set/,
    );
  });

  it("refuse a forwarding rule whose scheme is not its backend's, or an HTTPS proxy without a certificate", () => {
    const ruleOf = (d: DeclaredLoadBalancing) => d.forwardingRules.find((r) => r.portRange === "443")!;
    const mixed = variant((d) => (ruleOf(d).loadBalancingScheme = "EXTERNAL"));
    expect(forwardingRuleRefusals(ruleOf(mixed), mixed)[0]).toMatch(
      /loadBalancingScheme': 'EXTERNAL'\. The backend service budgetml-m-\w+-backend is EXTERNAL_MANAGED/,
    );
    const bare = variant((d) => (d.proxies.find((p) => p.kind === "https")!.sslCertificates = []));
    expect(forwardingRuleRefusals(ruleOf(bare), bare)).toEqual([
      "Invalid value for field 'resource.sslCertificates': ''. A target HTTPS proxy needs at least one SSL certificate.",
    ]);
  });
});

describe("health checks the firewall does not admit", () => {
  const unadmitted = (change: (d: DeclaredLoadBalancing) => void) => {
    const copy = variant(change);
    return unadmittedHealthChecks(copy.backendServices[0], copy);
  };
  const firewallOf = (d: DeclaredLoadBalancing) => d.firewalls.find((f) => f.resourceName === "m-health-firewall")!;

  it("leave every backend UNHEALTHY, as Google does, saying which ranges, port and tags are missing", () => {
    expect(unadmitted((d) => d.firewalls.splice(d.firewalls.indexOf(firewallOf(d)), 1))).toEqual([
      expect.stringMatching(
        /^every backend in budgetml-m-\w+-spot stays UNHEALTHY: no ingress firewall rule on network default admits health checks from 35\.191\.0\.0\/16 and 130\.211\.0\.0\/22 to tcp:8080/,
      ),
      expect.stringMatching(/^every backend in budgetml-m-\w+-standard stays UNHEALTHY/),
    ]);
    expect(unadmitted((d) => (firewallOf(d).sourceRanges = ["35.191.0.0/16"]))[0]).toMatch(
      /from 130\.211\.0\.0\/22 to/,
    );
    expect(unadmitted((d) => (firewallOf(d).allows = [{ protocol: "tcp", ports: ["80", "443"] }]))).toHaveLength(2);
    expect(unadmitted((d) => (firewallOf(d).targetTags = ["someone-else"]))).toHaveLength(2);
    expect(unadmitted((d) => (firewallOf(d).network = "other"))).toHaveLength(2);
    expect(unadmitted((d) => (firewallOf(d).disabled = true))).toHaveLength(2);
    // A wider rule admits them too: Google needs the ranges admitted, not this rule.
    expect(
      unadmitted((d) =>
        Object.assign(firewallOf(d), { sourceRanges: ["0.0.0.0/0"], targetTags: [], allows: [{ protocol: "all" }] }),
      ),
    ).toEqual([]);
    expect(unadmitted((d) => (firewallOf(d).allows = [{ protocol: "tcp", ports: ["8000-9000"] }]))).toEqual([]);
  });
});

describe("budgetml local", () => {
  it("fails a program Google would refuse before booting anything, naming the resource and the rule", async () => {
    const failure = await launchLocalProgram({
      program: () => {
        const gcp = require("@pulumi/gcp") as typeof import("@pulumi/gcp");
        new gcp.compute.ManagedSslCertificate("wildcard", {
          name: "wildcard",
          project: "proj",
          managed: { domains: ["*.example.com"] },
        });
      },
      report: () => {},
    }).catch((error: Error) => error);
    expect(String(failure)).toBe(
      "Error: Google would not serve what the program declares:\n  projects/proj/global/sslCertificates/wildcard: Invalid value for field 'resource.managed.domains[0]': '*.example.com'. Google-managed certificates do not support wildcard domains.",
    );
  }, 60_000);
});
