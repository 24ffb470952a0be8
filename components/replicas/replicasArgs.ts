/**
 * The `replicas` argument of a BudgetModel: its forms, what each means, and its validation (a pure
 * function, one of the args pipeline's validators: components/args/validateArgs.ts).
 */
import type { ArgProblem } from "../args/argProblem";

/** An autoscaled group: between `min` and `max` replicas, `standard` of them on demand. */
export interface Replicas {
  /** Replicas always running (at least 1). */
  readonly min: number;
  /** Replicas the autoscaler may run at most. @default `min` (a fixed group) */
  readonly max?: number;
  /**
   * How many of the `min` replicas are standard (on-demand) VMs, in a group of their own that
   * preemptions never touch; the rest are spot. @default 0 (every replica spot)
   */
  readonly standard?: number;
}

/** The replicas as the component declares them: a group of spot VMs and a group of standard ones. */
export interface ReplicaPlan {
  min: number;
  max: number;
  /** On-demand replicas: a fixed group of this size (0: no such group). */
  standard: number;
  /** The spot group's bounds: `min - standard` to `max - standard` (equal: a fixed group, no autoscaler). */
  spot: { min: number; max: number };
}

/**
 * The most VMs one regional managed instance group holds (Compute docs, "About regional MIGs":
 * "you can create up to 2,000 VMs in a region").
 */
export const MAX_REPLICAS = 2000;

/** The other args `replicas` changes the meaning of, as the program passed them (plain values or outputs). */
export interface ReplicasContext {
  provisioning?: unknown;
  staticIp?: unknown;
  schedule?: unknown;
  spotFallbackMinutes?: unknown;
  spotReturnWindow?: unknown;
  functionRuntime?: unknown;
  running?: unknown;
  image?: unknown;
  acmeEmail?: unknown;
}

const isWhole = (value: unknown): value is number => typeof value === "number" && Number.isInteger(value);

/**
 * Why `replicas` cannot be declared as given, one problem per property path (`replicas`,
 * `replicas.min`, `replicas.standard`, or another arg that does not fit a replicated model).
 * Empty when it can.
 */
export function replicasProblems(replicas: unknown, context: ReplicasContext = {}): ArgProblem[] {
  if (replicas === undefined) return [];
  const problems: ArgProblem[] = [];
  const problem = (propertyPath: string, reason: string) => problems.push({ propertyPath, reason });
  if (typeof replicas === "number") {
    if (!isWhole(replicas) || replicas < 1 || replicas > MAX_REPLICAS)
      problem("replicas", `replicas: ${replicas} must be a whole number from 1 to ${MAX_REPLICAS}`);
  } else if (replicas === null || typeof replicas !== "object" || Array.isArray(replicas)) {
    problem(
      "replicas",
      `replicas: expected a number or { min, max?, standard? }, got ${JSON.stringify(replicas) ?? String(replicas)}`,
    );
  } else {
    const { min, max, standard, ...unknown } = replicas as Record<string, unknown>;
    for (const key of Object.keys(unknown))
      problem(`replicas.${key}`, `replicas.${key}: not an option (min, max, standard)`);
    const minOk = isWhole(min) && min >= 1 && min <= MAX_REPLICAS;
    if (!minOk)
      problem("replicas.min", `replicas.min: ${String(min)} must be a whole number from 1 to ${MAX_REPLICAS}`);
    if (max !== undefined && (!isWhole(max) || max > MAX_REPLICAS))
      problem("replicas.max", `replicas.max: ${String(max)} must be a whole number up to ${MAX_REPLICAS}`);
    else if (max !== undefined && minOk && max < min)
      problem("replicas.max", `replicas.max: ${max} is below replicas.min (${min})`);
    if (standard !== undefined && (!isWhole(standard) || standard < 0))
      problem("replicas.standard", `replicas.standard: ${String(standard)} must be a whole number from 0`);
    else if (standard !== undefined && minOk && standard > min)
      problem(
        "replicas.standard",
        `replicas.standard: ${standard} is above replicas.min (${min}): standard replicas are part of the minimum`,
      );
    else if (standard !== undefined && minOk && standard === min && isWhole(max) && max > min)
      // The spot group would autoscale from zero replicas, where CPU utilization, its signal, does not exist.
      problem(
        "replicas.standard",
        `replicas.standard: ${standard} leaves no spot replica in replicas.min, and an autoscaled group of zero spot VMs has no CPU to scale on; keep standard below min`,
      );
  }
  // Args of the single VM that a replicated model has no use for, or means differently.
  if (context.provisioning !== undefined && context.provisioning !== "spot")
    problem(
      "provisioning",
      `provisioning: "${String(context.provisioning)}" does not apply with replicas: they are spot VMs, and replicas.standard of them on demand`,
    );
  if (context.staticIp !== undefined)
    problem(
      "staticIp",
      "staticIp does not apply with replicas: the load balancer reserves its own global address (ipAddress output)",
    );
  for (const key of ["schedule", "spotFallbackMinutes", "spotReturnWindow", "functionRuntime"] as const)
    if (context[key] !== undefined)
      problem(
        key,
        `${key} belongs to the single VM's restarter; with replicas the managed instance group recreates preempted VMs`,
      );
  if (context.running === false)
    problem(
      "running",
      "running: false (parking) is not supported with replicas yet: remove replicas to park the model",
    );
  if (context.image !== undefined)
    problem("image", "image is not supported with replicas yet: replicas run the runtime bundle");
  if (context.acmeEmail !== undefined)
    problem("acmeEmail", "acmeEmail does not apply with replicas: Google manages the load balancer's certificate");
  return problems;
}

/** The plan for a `replicas` argument that {@link replicasProblems} accepted. */
export function planReplicas(replicas: number | Replicas): ReplicaPlan {
  const min = typeof replicas === "number" ? replicas : replicas.min;
  const max = typeof replicas === "number" ? replicas : (replicas.max ?? replicas.min);
  const standard = typeof replicas === "number" ? 0 : (replicas.standard ?? 0);
  return { min, max, standard, spot: { min: min - standard, max: max - standard } };
}
