import * as pulumi from "@pulumi/pulumi";

/**
 * `value`, checked by `problemOf` once known. A plain value was checked at construction already;
 * an output (another resource's attribute) is checked when it resolves, and fails the update there
 * with a ResourceError on the component, so the engine names the model it belongs to (as
 * pulumi-eks does inside its applies).
 */
export function checkedWhenKnown(
  component: { name: string; parent: pulumi.ComponentResource },
  property: string,
  value: pulumi.Input<string>,
  problemOf: (value: string) => string | undefined,
): pulumi.Output<string> {
  return pulumi.output(value).apply((known) => {
    const problem =
      typeof known === "string"
        ? problemOf(known)
        : `${property}: expected a string, got ${JSON.stringify(known) ?? "undefined"}`;
    if (problem) throw new pulumi.ResourceError(`BudgetModel "${component.name}": ${problem}`, component.parent);
    return known;
  });
}
