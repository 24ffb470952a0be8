import { gaxEndpointOptions, pubsubEndpointOptions } from "../../contracts/googleEndpoints";
import {
  instanceMetadata,
  METADATA_KEYS,
  publicHostname,
  readInstanceMetadata,
  type InstanceMetadata,
} from "../../contracts/instanceMetadata";
import {
  inUtcWindow,
  mergeScheduling,
  parseUtcWindow,
  provisioningFromMetadata,
  provisioningOf,
  satisfies,
  schedulingFor,
  schedulingMetadata,
  schedulingRefusals,
  schedulingSwitch,
  utcWindowProblem,
} from "../../contracts/scheduling";
import { parseNumberSetting, UsageError } from "../../contracts/settings";
import { cronPeriodMinutes } from "../../local/schedulerClock";

// The contracts between the parts, tested as the pure functions they are (no mocks, no servers).
describe("instance metadata contract", () => {
  const values: InstanceMetadata = {
    bucket: "b",
    runtimeObject: "runtime-1.tgz",
    predictorObject: "predictor-1.tgz",
    entrypoint: "",
    username: "budget",
    passwordSecret: "projects/p/secrets/pw",
    tokenSecret: "projects/p/secrets/key",
    domain: "",
    topic: "projects/p/topics/t",
    image: "",
    acmeEmail: "",
    accelerator: "",
    maxBatchSize: "32",
    maxBatchWaitMs: "",
    loadBalancer: "",
  };

  it("reads back exactly what the component writes", () => {
    const written = instanceMetadata(values);
    expect(Object.keys(written).sort()).toEqual(Object.values(METADATA_KEYS).sort());
    expect(written["budget-password-secret"]).toBe("projects/p/secrets/pw");
    expect(readInstanceMetadata(written)).toEqual(values);
  });

  it("names every missing required key at once, and reads absent optional keys as empty", () => {
    expect(() => readInstanceMetadata({ "budget-bucket": "b" })).toThrow(
      "instance metadata is missing budget-runtime-object, budget-predictor-object, budget-username, budget-password-secret, budget-token-secret",
    );
    const { "budget-image": _image, "budget-domain": _domain, ...required } = instanceMetadata(values);
    expect(readInstanceMetadata(required)).toMatchObject({ image: "", domain: "" });
  });

  it("derives the hostname from the domain, else from the IP through sslip.io", () => {
    expect(publicHostname("34.1.2.3")).toBe("34-1-2-3.sslip.io");
    expect(publicHostname("34.1.2.3", "example.com")).toBe("example.com");
    expect(publicHostname("34.1.2.3", "example.com", "api")).toBe("api.example.com");
  });
});

describe("Google endpoint overrides", () => {
  it("turn an endpoint URL into each client's options, and nothing into Google's own", () => {
    expect(gaxEndpointOptions("http://127.0.0.1:4567")).toEqual({
      apiEndpoint: "127.0.0.1",
      port: 4567,
      protocol: "http",
    });
    expect(gaxEndpointOptions(new URL("https://compute.example"))).toEqual({
      apiEndpoint: "compute.example",
      port: 443,
      protocol: "https",
    });
    expect(gaxEndpointOptions(undefined)).toEqual({});
    expect(pubsubEndpointOptions("http://127.0.0.1:4567")).toEqual({
      apiEndpoint: "127.0.0.1:4567",
      protocol: "http",
      emulatorMode: false,
    });
    expect(pubsubEndpointOptions("")).toEqual({});
  });
});

describe("number settings", () => {
  const rule = { min: 1, max: 64, integer: true };
  it.each([
    [undefined, 8],
    ["", 8],
    ["12", 12],
  ])("reads %j as %d", (raw, expected) => expect(parseNumberSetting("BUDGET_WORKERS", raw, 8, rule)).toBe(expected));

  it.each([["0"], ["65"], ["1.5"], ["many"], ["Infinity"]])("refuses %j with the one message format", (raw) => {
    expect(() => parseNumberSetting("BUDGET_WORKERS", raw, 8, rule)).toThrow(
      new UsageError(`BUDGET_WORKERS must be a whole number from 1 to 64, got "${raw}"`),
    );
  });

  it("accepts fractions when the rule does", () => {
    expect(parseNumberSetting("--preempt-every", "0.5", 0, { min: 0.1, max: 10 })).toBe(0.5);
    expect(() => parseNumberSetting("--preempt-every", "soon", 0, { min: 1, max: 86400 })).toThrow(
      '--preempt-every must be a number from 1 to 86400, got "soon"',
    );
  });
});

describe("scheduling per provisioning model", () => {
  it("keeps a spot VM's disk across preemptions and never migrates a preemptible one", () => {
    expect(schedulingFor("spot")).toMatchObject({
      provisioningModel: "SPOT",
      instanceTerminationAction: "STOP",
      automaticRestart: false,
    });
    expect(schedulingFor("standard")).toMatchObject({
      preemptible: false,
      automaticRestart: true,
      onHostMaintenance: "MIGRATE",
    });
    expect(schedulingFor("preemptible")).toMatchObject({ preemptible: true, onHostMaintenance: "TERMINATE" });
  });

  it("changes scheduling as setScheduling does: a field left out stays, null clears it", () => {
    const spot = schedulingFor("spot");
    expect(mergeScheduling(spot, { provisioningModel: "STANDARD" })).toEqual({
      ...spot,
      provisioningModel: "STANDARD",
    });
    expect(mergeScheduling(spot, schedulingSwitch("standard"))).toEqual(schedulingFor("standard"));
    expect(mergeScheduling(schedulingFor("standard"), schedulingSwitch("spot"))).toEqual(spot);
    // Left out, the spot VM's termination action would survive a switch to standard, which Google refuses.
    const { instanceTerminationAction: _cleared, ...withoutClear } = schedulingSwitch("standard");
    expect(schedulingRefusals(mergeScheduling(spot, withoutClear), "resource")).toEqual([
      expect.stringMatching(
        /^Invalid value for field 'resource\.instanceTerminationAction': 'STOP'\. You cannot specify a termination action for a VM instance that has the standard provisioning model/,
      ),
    ]);
    expect(schedulingRefusals(mergeScheduling(spot, schedulingSwitch("standard")), "resource")).toEqual([]);
  });

  it("tells a model from its scheduling, and which live model serves a declared one", () => {
    expect((["spot", "preemptible", "standard"] as const).map((p) => provisioningOf(schedulingFor(p)))).toEqual([
      "spot",
      "preemptible",
      "standard",
    ]);
    expect(satisfies("spot", "preemptible")).toBe(true);
    expect(satisfies("standard", "preemptible")).toBe(false);
    expect(satisfies("preemptible", "spot")).toBe(false);
  });

  it("shows the VM its scheduling as the metadata server does, and reads it back", () => {
    expect(schedulingMetadata(schedulingFor("spot"))).toEqual({
      preemptible: "TRUE",
      "automatic-restart": "FALSE",
      "on-host-maintenance": "TERMINATE",
      "provisioning-model": "SPOT",
    });
    for (const provisioning of ["spot", "preemptible", "standard"] as const) {
      const keys = schedulingMetadata(schedulingFor(provisioning));
      expect(
        provisioningFromMetadata({ provisioningModel: keys["provisioning-model"], preemptible: keys.preemptible }),
      ).toBe(provisioning);
    }
    expect(provisioningFromMetadata({})).toBe("standard");
  });
});

describe("the spot return window (UTC)", () => {
  const at = (iso: string) => Date.parse(`2026-11-25T${iso}:00Z`);
  it("takes HH:MM-HH:MM, start included, end excluded, wrapping past midnight", () => {
    const night = parseUtcWindow("03:00-05:00");
    expect([at("02:59"), at("03:00"), at("04:59"), at("05:00")].map((t) => inUtcWindow(night, t))).toEqual([
      false,
      true,
      true,
      false,
    ]);
    const late = parseUtcWindow("22:30-01:00");
    expect([at("22:29"), at("22:30"), at("00:30"), at("01:00")].map((t) => inUtcWindow(late, t))).toEqual([
      false,
      true,
      true,
      false,
    ]);
  });

  it.each([
    ["3:00-5:00", /is not a UTC window like "03:00-05:00"/],
    ["03:00-24:00", /is not a UTC window/],
    ["03:00", /is not a UTC window/],
    ["04:00-04:00", /is an empty window/],
  ])("refuses %j", (text, message) => {
    expect(utcWindowProblem(text)).toMatch(message);
    expect(() => parseUtcWindow(text)).toThrow(message);
  });
});

describe("the local scheduler's reading of cron", () => {
  it.each([
    ["* * * * *", 1],
    ["*/5 * * * *", 5],
    ["0 * * * *", 60],
    ["0 */2 * * *", 120],
    ["30 4 * * 1", 1440],
  ])("%s fires every %d minutes", (schedule, minutes) => expect(cronPeriodMinutes(schedule)).toBe(minutes));
});
