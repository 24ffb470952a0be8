import * as pulumi from "@pulumi/pulumi";
// The harness puts Pulumi's mocks in place before the component is loaded.
import { baseArgs as base } from "./pulumiHarness";
import { BudgetModel } from "../../components/budgetModel";
import { subdomainProblem } from "../../components/args/endpointArgs";
import { checkedWhenKnown } from "../../components/args/whenKnown";

// How the component's argument problems reach the engine: at construction, one InputPropertiesError
// with a property path per problem (what `pulumi preview` prints against each field); for an output
// checked once known, a ResourceError on the component (what the engine prints against the model).
/**
 * The error an output failed with, read as the engine would: from its value, and with every other
 * promise the output holds (whether it is known, secret, which resources it came from) handled too,
 * so that no rejection is left for the test runner to report.
 */
async function failureOf(output: pulumi.Output<unknown>): Promise<unknown> {
  const internals = output as unknown as {
    promise(): Promise<unknown>;
    isKnown: Promise<boolean>;
    isSecret: Promise<boolean>;
    allResources(): Promise<unknown>;
  };
  const [value] = await Promise.allSettled([
    internals.promise(),
    internals.isKnown,
    internals.isSecret,
    internals.allResources(),
  ]);
  return value.status === "rejected" ? value.reason : "no failure";
}

describe("BudgetModel's argument errors, as Pulumi surfaces them", () => {
  const thrownBy = (build: () => unknown) => {
    try {
      build();
    } catch (error) {
      return error;
    }
    throw new Error("nothing thrown");
  };

  it("throws every problem at construction at once, each with its property path", () => {
    const error = thrownBy(
      () =>
        new BudgetModel("invalid-paths", {
          ...base,
          project: undefined,
          requirementsFile: "package.json",
          replicas: { min: 2, standard: 3 },
        }),
    );
    expect(pulumi.InputPropertiesError.isInstance(error)).toBe(true);
    const { errors, message } = error as pulumi.InputPropertiesError;
    expect(errors.map((e) => e.propertyPath)).toEqual(["requirementsFile", "replicas.standard", "project"]);
    expect(message).toMatch(
      /^BudgetModel "invalid-paths": give requirements or requirementsFile, not both; replicas\.standard: 3 is above replicas\.min \(2\).*; set project in args or as gcp:project \/ gcp:zone stack config$/,
    );
  });

  it("fails with a ResourceError on the model when an output turns out invalid once known", async () => {
    const model = new pulumi.ComponentResource("budgetml:index:BudgetModel", "late-domain");
    const checked = checkedWhenKnown(
      { name: "late-domain", parent: model },
      "subdomain",
      pulumi.output("not_a_label"),
      subdomainProblem,
    );
    // Nothing in a program awaits a child's input: Pulumi's language host meets this failure as an
    // unhandled rejection (the same error, its message prefixed with the properties it was being
    // serialized for) and prints it against the ResourceError's resource. tests/local/local.test.ts
    // runs a whole program that fails this way; here the output is read directly.
    const failure = await failureOf(checked);
    expect(pulumi.ResourceError.isInstance(failure)).toBe(true);
    expect((failure as pulumi.ResourceError).resource).toBe(model);
    expect((failure as Error).message).toBe('BudgetModel "late-domain": subdomain: "not_a_label" is not a DNS label');
    const typed = checkedWhenKnown(
      { name: "m", parent: model },
      "domain",
      pulumi.output(42 as unknown as string),
      () => undefined,
    );
    const typedFailure = await failureOf(typed);
    expect(pulumi.ResourceError.isInstance(typedFailure)).toBe(true);
    expect(typedFailure).toMatchObject({
      message: 'BudgetModel "m": domain: expected a string, got 42',
      resource: model,
    });
  });
});
