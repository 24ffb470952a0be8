import * as pulumi from "@pulumi/pulumi";

/**
 * A problem with an argument, with the property path `pulumi preview` points at (`domain`,
 * `replicas.min`, `labels["Team"]`), given by the check that found it. `reason` is the whole
 * sentence a user reads, naming the property itself.
 */
export interface ArgProblem {
  readonly propertyPath: string;
  readonly reason: string;
}

/**
 * One error for every problem found at construction, as pulumi-eks raises them: Pulumi's
 * InputPropertiesError, one entry per property path, so the engine points at each bad field. Its
 * message names the model and every reason once (one reason may concern two properties).
 */
export function argsError(model: string, problems: readonly ArgProblem[]): pulumi.InputPropertiesError {
  const reasons = [...new Set(problems.map((problem) => problem.reason))];
  return new pulumi.InputPropertiesError({
    message: `BudgetModel "${model}": ${reasons.join("; ")}`,
    errors: problems.map(({ propertyPath, reason }) => ({ propertyPath, reason })),
  });
}
