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
      declared.push({ type: args.type, name: args.name, inputs: args.inputs });
      return { id: state.id ?? `${args.name}-id`, state };
    },
    call: (args) => args.inputs,
  },
  "consumer",
  "dev",
  false,
);

const { BudgetModel } = require("budgetml");

/** The user's own component: a team's ML platform with one model in it. */
class MlPlatform extends pulumi.ComponentResource {
  constructor(name, args, opts) {
    super("acme:ml:Platform", name, {}, opts);
    this.sentiment = new BudgetModel(
      `${name}-sentiment`,
      { predictor: args.predictor, project: "proj", zone: "europe-west1-b", waitForHealthy: false },
      { parent: this },
    );
    this.registerOutputs({ url: this.sentiment.url });
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
  const [url, urn, cost] = await new Promise((resolve) =>
    pulumi.all([platform.sentiment.url, platform.sentiment.urn, platform.sentiment.monthlyCost]).apply(resolve),
  );
  // Pulumi's mocks hand assets back as FileAsset/FileArchive objects whose path is a promise.
  const objects = await Promise.all(
    declared
      .filter((d) => d.type === "gcp:storage/bucketObject:BucketObject")
      .map(async (d) => ({ name: d.inputs.name, file: await d.inputs.source.path })),
  );
  process.stdout.write(
    `${JSON.stringify({ url, urn, cost, types: [...new Set(declared.map((d) => d.type))].sort(), objects })}\n`,
  );
})();
