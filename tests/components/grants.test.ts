// The harness puts Pulumi's mocks in place before the component is loaded.
import { deploy, includesUrnOf, type Recorded } from "./pulumiHarness";
import { CUSTOM_ROLES, GRANTS, isPermitted, type GrantScope } from "../../components/grants";

// components/grants.ts is the one list of who may do what: the stand-ins enforce it, so the
// component must declare exactly it — no grant more, none less.
const SCOPE_OF: Record<string, GrantScope> = {
  "gcp:projects/iAMMember:IAMMember": "project",
  "gcp:storage/bucketIAMMember:BucketIAMMember": "bucket",
  "gcp:secretmanager/secretIamMember:SecretIamMember": "secrets",
  "gcp:pubsub/topicIAMMember:TopicIAMMember": "topic",
  "gcp:compute/instanceIAMMember:InstanceIAMMember": "instance",
  "gcp:cloudrun/iamMember:IamMember": "function-service",
  "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember": "build-repository",
};

describe("the grants a deployment declares (components/grants.ts)", () => {
  let children: Recorded[];
  beforeAll(async () => {
    ({ children } = await deploy("granted"));
  }, 60_000);

  it("declares for each identity exactly the roles the grants module lists, on the resources it names", () => {
    const accounts = Object.fromEntries(
      children
        .filter((c) => c.type === "gcp:serviceaccount/account:Account")
        .map((c) => [
          `serviceAccount:${c.inputs.accountId}@proj.iam.gserviceaccount.com`,
          c.name.replace(/^granted-/, "").replace(/-account$/, ""),
        ]),
    );
    expect(Object.values(accounts).sort()).toEqual(["build", "restarter", "vm"]);
    const customRoles = Object.fromEntries(
      children
        .filter((c) => c.type === "gcp:projects/iAMCustomRole:IAMCustomRole")
        .map((c) => [
          `projects/budget-proj/roles/${c.inputs.roleId}`,
          `custom:${String(c.inputs.roleId).split("_").pop()}`,
        ]),
    );
    const declared: Record<string, Record<string, string[]>> = {};
    for (const grant of children.filter((c) => SCOPE_OF[c.type])) {
      const identity = accounts[grant.inputs.member];
      expect([grant.name, identity]).toEqual([grant.name, expect.any(String)]); // every grant goes to one of our accounts
      const scope = grant.inputs.condition ? "function-source-buckets" : SCOPE_OF[grant.type];
      const role = customRoles[grant.inputs.role] ?? grant.inputs.role;
      const roles = ((declared[identity] ??= {})[scope] ??= []);
      if (!roles.includes(role)) roles.push(role); // the two secrets carry the same grant
    }
    const expected = Object.fromEntries(
      Object.entries(GRANTS).map(([identity, scopes]) => [
        identity,
        Object.fromEntries(Object.entries(scopes).map(([scope, roles]) => [scope, [...roles].sort()])),
      ]),
    );
    for (const scopes of Object.values(declared)) for (const roles of Object.values(scopes)) roles.sort();
    expect(declared).toEqual(expected);
  });

  it("declares each custom role with exactly its listed permissions", () => {
    const roles = children.filter((c) => c.type === "gcp:projects/iAMCustomRole:IAMCustomRole");
    expect(
      Object.fromEntries(roles.map((r) => [String(r.inputs.roleId).split("_").pop(), r.inputs.permissions])),
    ).toEqual(Object.fromEntries(Object.entries(CUSTOM_ROLES).map(([key, role]) => [key, [...role.permissions]])));
  });

  it("grants a custom role by the role resource's own name, so no grant is made before its role exists", () => {
    const roles = children.filter((c) => c.type === "gcp:projects/iAMCustomRole:IAMCustomRole");
    const grants = children.filter((c) => SCOPE_OF[c.type] && String(c.inputs.role).includes("/roles/"));
    expect(grants).toHaveLength(Object.keys(CUSTOM_ROLES).length);
    for (const grant of grants) {
      const role = roles.find((r) => grant.inputs.role === `projects/budget-proj/roles/${r.inputs.roleId}`);
      expect([grant.name, role && includesUrnOf(grant.dependsOn, role)]).toEqual([grant.name, true]);
    }
  });

  it("answers the stand-ins' question: may this identity do this there?", () => {
    expect(isPermitted("restarter", "instance", "compute.instances.start")).toBe(true);
    expect(isPermitted("restarter", "project", "compute.zoneOperations.get")).toBe(true);
    expect(isPermitted("restarter", "instance", "compute.instances.stop")).toBe(true);
    expect(isPermitted("restarter", "instance", "compute.instances.setMetadata")).toBe(false);
    expect(isPermitted("restarter", "project", "compute.instances.start")).toBe(false);
    expect(isPermitted("vm", "secrets", "secretmanager.versions.access")).toBe(true);
    expect(isPermitted("vm", "topic", "pubsub.topics.publish")).toBe(true);
    expect(isPermitted("vm", "bucket", "storage.objects.create")).toBe(false);
    expect(isPermitted("build", "bucket", "storage.objects.get")).toBe(true);
  });
});
