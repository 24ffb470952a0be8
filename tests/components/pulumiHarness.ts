import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { BudgetModelArgs } from "../../components/budgetModel";
import { waitForRegistrations } from "../../local/waitForRegistrations";
import { cacheBundleBuilds } from "../support/bundleCache";

// Pulumi's own mocks stand in for the engine: every child is recorded with its real inputs and
// resource options (parent, dependsOn, ignoreChanges, deleteBeforeReplace) as the engine gets them.
// Import this module before the component: Pulumi requires the mocks in place first.
export interface Recorded {
  type: string;
  name: string;
  // Each resource type's inputs, read field by field by the tests.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  inputs: Record<string, any>;
  provider?: string;
  /** URN of the parent. */
  parent: string;
  /** URNs this child waits for (dependsOn, including the parent's dependsOn). */
  dependsOn: string[];
  ignoreChanges: string[];
  deleteBeforeReplace: boolean;
  /** Names of the `aliases` the child was declared with (the names it had before). */
  aliasNames: string[];
}
export const recorded: Recorded[] = [];
type RecordedOptions = Pick<Recorded, "parent" | "dependsOn" | "ignoreChanges" | "deleteBeforeReplace" | "aliasNames">;
const options = new Map<string, RecordedOptions>();

pulumi.runtime.setMocks(
  {
    newResource: (args) => {
      const state: Record<string, unknown> = { ...args.inputs };
      if (args.type === "random:index/randomId:RandomId") state.hex = Buffer.from(args.name).toString("hex").slice(-6);
      if (args.type === "random:index/randomPassword:RandomPassword") state.result = `generated-${args.name}-secret`;
      if (args.type === "gcp:compute/address:Address") state.address = "34.120.1.2";
      if (args.type === "gcp:serviceaccount/account:Account") {
        state.email = `${args.inputs.accountId}@proj.iam.gserviceaccount.com`;
        state.id = `projects/proj/serviceAccounts/${state.email}`;
      }
      if (args.type === "gcp:secretmanager/secret:Secret") state.id = `projects/proj/secrets/${args.inputs.secretId}`;
      // The provider's id and name of a version: projects/P/secrets/S/versions/N.
      if (args.type === "gcp:secretmanager/secretVersion:SecretVersion")
        Object.assign(state, {
          id: `${args.inputs.secret}/versions/1`,
          name: `${args.inputs.secret}/versions/1`,
          version: "1",
        });
      if (args.type === "gcp:pubsub/topic:Topic") state.id = `projects/proj/topics/${args.inputs.name}`;
      if (args.type === "gcp:compute/globalAddress:GlobalAddress") state.address = "34.117.1.2";
      if (args.type === "gcp:compute/instanceTemplate:InstanceTemplate")
        state.selfLinkUnique = `https://www.googleapis.com/compute/v1/projects/proj/global/instanceTemplates/${args.inputs.namePrefix}1?uniqueId=1`;
      if (args.type === "gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager")
        state.instanceGroup = `https://www.googleapis.com/compute/v1/projects/proj/regions/${args.inputs.region}/instanceGroups/${args.inputs.name}`;
      // The provider computes a custom role's name: "projects/{{project}}/roles/{{role_id}}".
      if (args.type === "gcp:projects/iAMCustomRole:IAMCustomRole")
        state.name = `projects/${args.inputs.project}/roles/${args.inputs.roleId}`;
      if (args.type === "gcp:artifactregistry/repository:Repository") {
        state.id = `projects/proj/locations/${args.inputs.location}/repositories/${args.inputs.repositoryId}`;
        state.name = args.inputs.repositoryId;
      }
      recorded.push({
        type: args.type,
        name: args.name,
        inputs: args.inputs,
        provider: args.provider,
        ...(options.get(args.name) ?? {
          parent: "",
          dependsOn: [],
          ignoreChanges: [],
          deleteBeforeReplace: false,
          aliasNames: [],
        }),
      });
      return { id: (state.id as string) ?? `${args.name}-id`, state };
    },
    // The region's zones, as Google's getZones answers for a region with three.
    call: (args) =>
      args.token === "gcp:compute/getZones:getZones"
        ? { ...args.inputs, names: ["c", "a", "b"].map((letter) => `${args.inputs.region}-${letter}`) }
        : args.inputs,
  },
  "budgetml",
  "test",
  false,
);

type Request = {
  getName(): string;
  getParent(): string;
  getDependenciesList(): string[];
  getIgnorechangesList(): string[];
  getDeletebeforereplace(): boolean;
  getAliasesList(): { getSpec(): { getName(): string } | undefined }[];
};
const monitor = (
  pulumi.runtime as unknown as { getMonitor(): { registerResource: (request: Request, ...rest: unknown[]) => unknown } }
).getMonitor();
const originalRegister = monitor.registerResource.bind(monitor);
monitor.registerResource = (request: Request, ...rest: unknown[]) => {
  options.set(request.getName(), {
    parent: request.getParent(),
    dependsOn: request.getDependenciesList(),
    ignoreChanges: request.getIgnorechangesList(),
    deleteBeforeReplace: request.getDeletebeforereplace(),
    aliasNames: request.getAliasesList().flatMap((alias) => alias.getSpec()?.getName() || []),
  });
  return originalRegister(request, ...rest);
};
export const value = <T>(output: pulumi.Output<T>) => new Promise<T>((resolve) => output.apply(resolve));
export const isSecret = <T>(output: pulumi.Output<T>) => (output as unknown as { isSecret: Promise<boolean> }).isSecret;
/** Whether `urns` holds the URN of `child` (mock URNs end in `::<type>::<name>`). */
export const includesUrnOf = (urns: string[], child: Pick<Recorded, "type" | "name">) =>
  urns.some((urn) => urn.endsWith(`${child.type}::${child.name}`));

export const ROOT = join(__dirname, "..", "..");
export const SENTIMENT = join(ROOT, "examples", "sentiment", "predictor.ts");
export const baseArgs: BudgetModelArgs = {
  predictor: SENTIMENT,
  project: "budget-proj",
  zone: "us-central1-a",
  requirements: ["sentiment@^5"],
};

/** Builds a model and waits until every child has been registered. */
export async function deploy(
  name: string,
  args: Partial<BudgetModelArgs> = {},
  opts?: pulumi.ComponentResourceOptions,
) {
  // Loaded here, after the mocks above are in place, as Pulumi requires.
  const { BudgetModel } = require("../../components/budgetModel") as typeof import("../../components/budgetModel");
  const model = new BudgetModel(name, { ...baseArgs, ...args }, opts);
  await value(pulumi.all([model.url, model.instanceName, model.bucketName, model.password]));
  await waitForRegistrations(() => recorded.length);
  const children = recorded.filter((r) => r.name.startsWith(`${name}-`));
  const child = (type: string, suffix: string) => {
    const found = children.find((r) => r.type === type && r.name === `${name}-${suffix}`);
    if (!found) throw new Error(`no ${type} named ${name}-${suffix}`);
    return found;
  };
  return { model, child, children };
}

process.chdir(mkdtempSync(join(tmpdir(), "budgetml-pulumi-"))); // bundles are built under .budgetml/ here
// Each distinct bundle is built once per test file, by the real builders (tests/support/bundleCache.ts).
cacheBundleBuilds();
