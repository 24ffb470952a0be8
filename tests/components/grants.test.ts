import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
// The harness puts Pulumi's mocks in place before the component is loaded.
import { deploy, includesUrnOf, recorded, value, type Recorded } from "./pulumiHarness";
import { CUSTOM_ROLES, GRANTS, isPermitted, type GrantScope } from "../../components/grants";
import { FORMER_GRANT_NAMES, grantRoles } from "../../components/roleGrants";
import { waitForRegistrations } from "../../local/waitForRegistrations";

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

describe("children declared from a list of roles (components/roleGrants.ts)", () => {
  it("names each grant by its role: two roles for one member on one scope are two children, two URNs", async () => {
    const parent = new pulumi.ComponentResource("budgetml:test:Owner", "two-roles");
    const grants = grantRoles(
      { name: "two-roles", parent },
      "vm-bucket-reader",
      ["roles/storage.objectViewer", "roles/storage.legacyBucketReader"],
      (name, role, opts) =>
        new gcp.storage.BucketIAMMember(name, { bucket: "b", role, member: "serviceAccount:vm@p" }, opts),
    );
    const urns = await Promise.all(grants.map((grant) => value(grant.urn)));
    await waitForRegistrations(() => recorded.length);
    expect(new Set(urns).size).toBe(2);
    const declared = recorded
      .filter((r) => r.name.startsWith("two-roles-vm-bucket-reader"))
      .sort((a, b) => b.name.localeCompare(a.name));
    expect(declared.map((r) => [r.name, r.inputs.role, r.parent])).toEqual([
      [
        "two-roles-vm-bucket-reader-storage-objectviewer",
        "roles/storage.objectViewer",
        expect.stringMatching(/budgetml:test:Owner::two-roles$/),
      ],
      [
        "two-roles-vm-bucket-reader-storage-legacybucketreader",
        "roles/storage.legacyBucketReader",
        expect.stringMatching(/budgetml:test:Owner::two-roles$/),
      ],
    ]);
    // The role that held the scope alone keeps its former name as an alias; the new one has none.
    expect(declared.map((r) => r.aliasNames)).toEqual([["two-roles-vm-bucket-reader"], []]);
  }, 60_000);

  it("gives every child of a deployment its own URN, and each renamed grant an alias from its former name", async () => {
    const { children } = await deploy("urns");
    const urns = children.map((c) => `${c.parent}$${c.type}::${c.name}`);
    expect(urns.filter((urn, i) => urns.indexOf(urn) !== i)).toEqual([]);
    const renamed = children.filter((c) => c.aliasNames.length > 0);
    expect(renamed.length).toBeGreaterThanOrEqual(8); // every former name but the image reader's (no image here)
    for (const child of renamed)
      expect([child.name, child.aliasNames]).toEqual([
        child.name,
        [`urns-${FORMER_GRANT_NAMES[child.name.replace(/^urns-/, "")]}`],
      ]);
  }, 60_000);
});
