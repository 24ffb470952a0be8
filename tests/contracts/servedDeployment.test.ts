import {
  instanceMetadata,
  METADATA_KEYS,
  needsInternalCertificate,
  ON_CHANGE,
  publicHostname,
  secretVersionName,
  type InstanceMetadata,
} from "../../contracts/instanceMetadata";
import { changedKeys, frontIdOf, runtimeIdOf, servedDeployment } from "../../contracts/servedDeployment";

// What a VM serves, derived from its instance metadata: the pure functions the component's health
// wait and the VM's watcher, boot and Caddy share (no mocks, no servers).
describe("what a VM serves, derived from its metadata", () => {
  const fields = Object.keys(METADATA_KEYS) as Array<keyof InstanceMetadata>;
  const values: InstanceMetadata = {
    ...(Object.fromEntries(fields.map((field) => [field, `${field}-value`])) as unknown as InstanceMetadata),
    runtimeObject: "runtime-0123456789abcdef.tgz",
    predictorObject: "predictor-fedcba9876543210.tgz",
    passwordSecret: "projects/p/secrets/pw/versions/3",
    tokenSecret: "projects/p/secrets/key/versions/2",
    image: "",
  };
  const served = (changes: Partial<InstanceMetadata>) => servedDeployment(instanceMetadata({ ...values, ...changes }));

  it("changes with every field the watcher must roll out, and not with what the VM reads when it needs it", () => {
    for (const field of fields) {
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

  it("reads a secret without a version as its latest version", () => {
    expect(secretVersionName("projects/p/secrets/pw")).toBe("projects/p/secrets/pw/versions/latest");
    expect(secretVersionName("projects/p/secrets/pw/versions/3")).toBe("projects/p/secrets/pw/versions/3");
  });

  it("gives a loopback address (the local cloud's VM) the name localhost, which only Caddy's own CA certifies", () => {
    expect(publicHostname("127.0.0.1")).toBe("localhost");
    expect(publicHostname("127.0.1.1")).toBe("localhost");
    expect(publicHostname("::1")).toBe("localhost");
    expect(publicHostname("127.0.0.1", "api.example.com")).toBe("api.example.com");
    expect(needsInternalCertificate("localhost")).toBe(true);
    expect(needsInternalCertificate("34-1-2-3.sslip.io")).toBe(false);
  });
});
