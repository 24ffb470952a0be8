import { acceleratorFindings } from "../acceleratorArgs";
import { replicasProblems } from "../replicas/replicasArgs";
import { argsError, type ArgProblem } from "./argProblem";
import { argRules, type ArgFinding, type CheckedArgs } from "./argRules";

/**
 * A check of the pipeline: the problems it finds in the args, each with the property path it gives.
 * A new argument with rules of its own (as `replicas` has) adds its pure validator here.
 */
export type ArgsValidator = (args: CheckedArgs, now: Date) => readonly ArgFinding[];

/** Every check the args of a BudgetModel go through, in the order their problems are reported. */
export const ARGS_VALIDATORS: readonly ArgsValidator[] = [
  argRules,
  acceleratorFindings,
  (args) => replicasProblems(args.replicas, args),
];

/**
 * Runs every check on the args that are plain values and throws one InputPropertiesError naming
 * each problem with its property path, so `pulumi preview` fails before anything is created.
 * Returns warnings: things Google still accepts today but will refuse soon (a function runtime near
 * its decommission date). `now` is the day the check is made for (tests pin it).
 */
export function validateArgs(name: string, args: CheckedArgs, now: Date = new Date()): string[] {
  const { problems, warnings } = argsFindings(args, now);
  if (problems.length > 0) throw argsError(name, problems);
  return warnings;
}

/** What every check of {@link ARGS_VALIDATORS} finds, in order: the problems, and the warnings' words. */
export function argsFindings(args: CheckedArgs, now: Date): { problems: ArgProblem[]; warnings: string[] } {
  const findings = ARGS_VALIDATORS.flatMap((validator) => validator(args, now));
  return {
    problems: findings.filter((finding) => !finding.warning),
    warnings: findings.filter((finding) => finding.warning).map((finding) => finding.reason),
  };
}
