// The same kind of program in TypeScript: the consumer test type-checks it against the
// declarations the installed package ships (it is not run: program.js is).
import * as pulumi from "@pulumi/pulumi";
import { BudgetModel, type BudgetModelArgs, type CostEstimate } from "budgetml";

interface PlatformArgs {
  predictor: string;
  machineType?: BudgetModelArgs["machineType"];
}

export class MlPlatform extends pulumi.ComponentResource {
  public readonly url: pulumi.Output<string>;
  public readonly cost: pulumi.Output<CostEstimate>;

  constructor(name: string, args: PlatformArgs, opts?: pulumi.ComponentResourceOptions) {
    super("acme:ml:Platform", name, {}, opts);
    const model = new BudgetModel(
      `${name}-sentiment`,
      { predictor: args.predictor, machineType: args.machineType ?? "e2-small" },
      { parent: this },
    );
    this.url = model.url;
    this.cost = model.monthlyCost;
    const password: pulumi.Output<string> = model.password;
    this.registerOutputs({ url: this.url, password });
  }
}
