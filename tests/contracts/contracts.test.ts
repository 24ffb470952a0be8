import { gaxEndpointOptions, pubsubEndpointOptions } from "../../contracts/googleEndpoints";
import {
  instanceMetadata,
  METADATA_KEYS,
  publicHostname,
  readInstanceMetadata,
  type InstanceMetadata,
} from "../../contracts/instanceMetadata";
import { schedulingFor } from "../../contracts/scheduling";
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
