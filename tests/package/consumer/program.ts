// The same kind of program in TypeScript: the consumer test type-checks it against the
// declarations the installed package ships (it is not run: program.js is).
import * as pulumi from "@pulumi/pulumi";
import { BudgetModel, type BudgetModelArgs, type CostEstimate, type Replicas } from "budgetml";

interface PlatformArgs {
  predictor: string;
  machineType?: BudgetModelArgs["machineType"];
  /** The busy model's replicas. */
  replicas?: Replicas;
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
    // A second model, replicated behind Google's load balancer.
    const busy = new BudgetModel(
      `${name}-busy`,
      { predictor: args.predictor, replicas: args.replicas ?? { min: 2, max: 4, standard: 1 } },
      { parent: this },
    );
    this.url = model.url;
    this.cost = model.monthlyCost;
    const password: pulumi.Output<string> = model.password;
    const groups: number = busy.groups?.length ?? 0;
    this.registerOutputs({ url: this.url, password, busyUrl: busy.url, groups });
  }
}
