// A user's own Pulumi program, in JavaScript, composing BudgetModel inside its own component.
// The consumer test copies this folder next to an `npm install`ed budgetml tarball and runs it
// under Pulumi's mocks; it prints one JSON line describing what was declared.
const pulumi = require("@pulumi/pulumi");

const declared = [];
pulumi.runtime.setMocks(
  {
    newResource: (args) => {
      const state = { ...args.inputs };
      if (args.type === "gcp:compute/address:Address") state.address = "34.120.1.2";
      if (args.type === "random:index/randomPassword:RandomPassword") state.result = "generated-password-for-test";
      if (args.type === "random:index/randomId:RandomId") state.hex = "abc123";
      if (args.type === "gcp:serviceaccount/account:Account")
        state.email = `${args.inputs.accountId}@proj.iam.gserviceaccount.com`;
      if (args.type === "gcp:secretmanager/secret:Secret") state.id = `projects/proj/secrets/${args.inputs.secretId}`;
      if (args.type === "gcp:pubsub/topic:Topic") state.id = `projects/proj/topics/${args.inputs.name}`;
      if (args.type === "gcp:compute/globalAddress:GlobalAddress") state.address = "34.117.1.2";
      if (args.type === "gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager")
        state.instanceGroup = `projects/proj/regions/${args.inputs.region}/instanceGroups/${args.inputs.name}`;
      declared.push({ type: args.type, name: args.name, inputs: args.inputs });
      return { id: state.id ?? `${args.name}-id`, state };
    },
    // A region's zones, as Google answers for one with three.
    call: (args) =>
      args.token === "gcp:compute/getZones:getZones"
        ? { ...args.inputs, names: ["b", "c", "d"].map((letter) => `${args.inputs.region}-${letter}`) }
        : args.inputs,
  },
  "consumer",
  "dev",
  false,
);

const { BudgetModel } = require("budgetml");

/** The user's own component: a team's ML platform with two models in it, one of them replicated. */
class MlPlatform extends pulumi.ComponentResource {
  constructor(name, args, opts) {
    super("acme:ml:Platform", name, {}, opts);
    this.sentiment = new BudgetModel(
      `${name}-sentiment`,
      { predictor: args.predictor, project: "proj", zone: "europe-west1-b", waitForHealthy: false },
      { parent: this },
    );
    this.busy = new BudgetModel(
      `${name}-busy`,
      {
        predictor: args.predictor,
        project: "proj",
        zone: "europe-west1-b",
        replicas: { min: 2, max: 4, standard: 1 },
        waitForHealthy: false,
      },
      { parent: this },
    );
    this.registerOutputs({ url: this.sentiment.url, busyUrl: this.busy.url });
  }
}

const platform = new MlPlatform("acme", { predictor: process.argv[2] });
(async () => {
  // Done once every registration has finished and none started meanwhile (children register after
  // the component's outputs resolve). waitForRPCs is on the runtime, missing from its typings.
  for (let seen = -1; seen !== declared.length;) {
    seen = declared.length;
    await pulumi.runtime.waitForRPCs();
    await new Promise((resolve) => setImmediate(resolve));
  }
  const [url, urn, cost, busyUrl, busyUrn, busyCost] = await new Promise((resolve) =>
    pulumi
      .all([
        platform.sentiment.url,
        platform.sentiment.urn,
        platform.sentiment.monthlyCost,
        platform.busy.url,
        platform.busy.urn,
        platform.busy.monthlyCost,
      ])
      .apply(resolve),
  );
  const busy = declared.filter((d) => d.name.startsWith("acme-busy-"));
  // Pulumi's mocks hand assets back as FileAsset/FileArchive objects whose path is a promise.
  const objects = await Promise.all(
    declared
      .filter((d) => d.type === "gcp:storage/bucketObject:BucketObject")
      .map(async (d) => ({ name: d.inputs.name, file: await d.inputs.source.path })),
  );
  process.stdout.write(
    `${JSON.stringify({
      url,
      urn,
      cost,
      types: [...new Set(declared.filter((d) => !busy.includes(d)).map((d) => d.type))].sort(),
      objects,
      busy: {
        url: busyUrl,
        urn: busyUrn,
        cost: busyCost,
        types: [...new Set(busy.map((d) => d.type))].sort(),
        groups: busy
          .filter((d) => d.type === "gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager")
          .map((d) => ({ name: d.name, zones: d.inputs.distributionPolicyZones, targetSize: d.inputs.targetSize })),
      },
    })}\n`,
  );
})();
