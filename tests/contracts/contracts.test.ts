import { gaxEndpointOptions, pubsubEndpointOptions } from "../../contracts/googleEndpoints";
import {
  instanceMetadata,
  METADATA_KEYS,
  needsInternalCertificate,
  ON_CHANGE,
  publicHostname,
  secretVersionName,
  readInstanceMetadata,
  type InstanceMetadata,
} from "../../contracts/instanceMetadata";
import { schedulingFor } from "../../contracts/scheduling";
import { changedKeys, frontIdOf, runtimeIdOf, servedDeployment } from "../../contracts/servedDeployment";
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

  it("gives a loopback address (the local cloud's VM) the name localhost, which only Caddy's own CA certifies", () => {
    expect(publicHostname("127.0.0.1")).toBe("localhost");
    expect(publicHostname("127.0.1.1")).toBe("localhost");
    expect(publicHostname("::1")).toBe("localhost");
    expect(publicHostname("127.0.0.1", "api.example.com")).toBe("api.example.com");
    expect(needsInternalCertificate("localhost")).toBe(true);
    expect(needsInternalCertificate("34-1-2-3.sslip.io")).toBe(false);
  });

  it("reads a secret without a version as its latest version", () => {
    expect(secretVersionName("projects/p/secrets/pw")).toBe("projects/p/secrets/pw/versions/latest");
    expect(secretVersionName("projects/p/secrets/pw/versions/3")).toBe("projects/p/secrets/pw/versions/3");
  });
});

describe("what a VM serves, derived from its metadata", () => {
  const values: InstanceMetadata = {
    bucket: "b",
    runtimeObject: "runtime-0123456789abcdef.tgz",
    predictorObject: "predictor-fedcba9876543210.tgz",
    entrypoint: "",
    username: "budget",
    passwordSecret: "projects/p/secrets/pw/versions/3",
    tokenSecret: "projects/p/secrets/key/versions/2",
    domain: "",
    topic: "projects/p/topics/t",
    image: "",
    acmeEmail: "",
  };
  const served = (changes: Partial<InstanceMetadata>) => servedDeployment(instanceMetadata({ ...values, ...changes }));

  it("changes with every field the watcher must roll out, and not with what the VM reads when it needs it", () => {
    for (const field of Object.keys(ON_CHANGE) as Array<keyof InstanceMetadata>) {
      const changed = served({ [field]: `${values[field]}-changed` });
      if (ON_CHANGE[field] === "rolled out") expect(changedKeys(served({}), changed)).toEqual([METADATA_KEYS[field]]);
      else expect(changed).toBe(served({}));
    }
    expect(ON_CHANGE.topic).toBe("read when used");
  });

  it("identifies the runtime by its bundles and secret versions, never by a secret", () => {
    expect(runtimeIdOf(values)).toBe("runtime-0123456789abcdef+predictor-fedcba9876543210+secrets-3.2");
    expect(runtimeIdOf({ ...values, image: "europe-docker.pkg.dev/p/r/m:1" })).toBe(
      "runtime-0123456789abcdef+predictor-fedcba9876543210+europe-docker.pkg.dev/p/r/m:1+secrets-3.2",
    );
    expect(runtimeIdOf({ ...values, passwordSecret: "projects/p/secrets/pw" })).toMatch(/\+secrets-latest\.2$/);
  });

  it("identifies the front by a hash of its hostname and contact, which it does not publish", () => {
    const front = frontIdOf({ hostname: "api.example.com", acmeEmail: "ops@example.com" });
    expect(front).toMatch(/^front-[0-9a-f]{16}$/);
    expect(frontIdOf({ hostname: "api.example.com", acmeEmail: "" })).not.toBe(front);
    expect(frontIdOf({ hostname: "b.example.com", acmeEmail: "ops@example.com" })).not.toBe(front);
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
