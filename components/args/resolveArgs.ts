import type { Gpus } from "../../contracts/accelerators";
import { hardwareOf } from "../acceleratorArgs";
import type { BudgetModelArgs } from "./budgetModelArgs";
import { argsError } from "./argProblem";
import { ARG_DEFAULTS } from "./defaults";
import { argsFindings } from "./validateArgs";

/** The args whose default is one fixed value (its `value` in {@link ARG_DEFAULTS}). */
type FixedDefaultArg = {
  [K in keyof typeof ARG_DEFAULTS]: (typeof ARG_DEFAULTS)[K] extends { value: unknown } ? K : never;
}[keyof typeof ARG_DEFAULTS];

/** Where a model lives when its args leave it out: the gcp provider's stack config (`gcp:project`…). */
export interface StackLocation {
  project?: string;
  zone?: string;
  region?: string;
}

/** The args as the component declares them: every fixed default applied, and where the model lives. */
export type ResolvedArgs = BudgetModelArgs & {
  readonly [K in FixedDefaultArg]-?: NonNullable<BudgetModelArgs[K]>;
} & { readonly project: string; readonly zone: string; readonly region: string } & {
  /** The VM's GPUs: attached (`accelerator`) or carried by the machine type; undefined for none. */
  readonly gpus: Gpus | undefined;
};

/**
 * The one way into the component for its args: each arg checked (every problem at once, an
 * InputPropertiesError with one entry per property path), defaults applied from
 * {@link ARG_DEFAULTS} (those that GPUs change by hardwareOf), the location read from the stack config where the args leave it out.
 * Returns the warnings to log with the args.
 */
export function resolveArgs(
  name: string,
  args: BudgetModelArgs,
  stack: StackLocation,
  now: Date = new Date(),
): { args: ResolvedArgs; warnings: string[] } {
  const project = args.project ?? stack.project;
  const zone = args.zone ?? stack.zone;
  const region = args.region ?? zone?.replace(/-[a-z]$/, "") ?? stack.region;
  const { problems, warnings } = argsFindings({ ...args, project, zone, region }, now);
  if (!project || !zone) {
    const missing = [!project && "project", !zone && "zone"].filter((key): key is string => Boolean(key));
    const reason = `set ${missing.join(" and ")} in args or as gcp:project / gcp:zone stack config`;
    problems.push(...missing.map((propertyPath) => ({ propertyPath, reason })));
  }
  if (problems.length > 0 || !project || !zone || !region) throw argsError(name, problems);
  const defaults = Object.fromEntries(
    Object.entries(ARG_DEFAULTS).flatMap(([key, fallback]) => ("value" in fallback ? [[key, fallback.value]] : [])),
  );
  const given = Object.fromEntries(Object.entries(args).filter(([, value]) => value !== undefined));
  return {
    args: { ...defaults, ...given, ...hardwareOf(args), project, zone, region } as ResolvedArgs,
    warnings,
  };
}
