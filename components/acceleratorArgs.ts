import {
  ACCELERATOR_MACHINE_TYPES,
  countsOf,
  GPU_MODELS,
  gpusOf,
  guestAcceleratorRefusals,
  isAcceleratorOptimized,
  n1Shape,
  needsProprietaryDriver,
  RETIRED_GPUS,
  type Gpus,
} from "../contracts/accelerators";
import {
  GPU_ZONES_READ,
  GPU_ZONES_SOURCE,
  GPU_ZONES_STALE_DAYS,
  gpuZonesAgeDays,
  zonesOffering,
} from "../contracts/gpuZones";
import { parseRequirements } from "../bundles/predictorBundle";
import type { ArgProblem } from "./args/argProblem";
import type { ArgFinding, CheckedArgs } from "./args/argRules";
import { ARG_DEFAULTS } from "./args/defaults";

/** GPUs to attach to an N1 VM (`BudgetModelArgs.accelerator`). */
export interface Accelerator {
  /** The accelerator type, as Google names it: "nvidia-tesla-t4" (the one budget GPU on N1). */
  readonly type: string;
  /** How many: 1, 2 or 4 T4s. @default 1 */
  readonly count?: number;
}

/** The machine type when none is given: a small shared-core VM, or with an accelerator the smallest common N1 for a GPU. */
export function defaultMachineType(accelerator: unknown): string {
  return accelerator === undefined ? ARG_DEFAULTS.machineType.value : "n1-standard-4";
}

/**
 * Boot disk with GPUs: Debian 12 takes ~3 GB of its 10; Google's installer adds the kernel headers,
 * DKMS and the NVIDIA driver (~1.5 GB), budgetml the CUDA 12 runtime libraries with cuDNN 9 (~3 GB,
 * images/vm/gpuDriver.ts); a CUDA build of PyTorch with NVIDIA's wheels is ~6 GB more. Below the
 * minimum the first boot runs out of space; the default leaves room for a model.
 */
export const GPU_MIN_DISK_GB = 30;
export const GPU_DEFAULT_DISK_GB = 50;

/** The first boot with a GPU reboots for the driver and installs CUDA: `pulumi up` waits longer. */
export const GPU_HEALTH_TIMEOUT_SECONDS = 1800;

/** What the accelerator check found. */
export interface AcceleratorCheck {
  problems: ArgProblem[];
  /** Things Google may still accept: a zone missing from an old table, a GPU package without its install script. */
  warnings: string[];
  /** The VM's GPUs, when the arguments describe some that budgetml can serve. */
  gpus?: Gpus;
  /** false when Google offers the machine type only as Spot VMs: no on-demand fallback. */
  onDemand: boolean;
}

/** The arguments the check reads, typed loosely: a program in JavaScript may pass anything. */
export interface AcceleratorArgs {
  accelerator?: unknown;
  machineType?: unknown;
  zone?: unknown;
  provisioning?: unknown;
  diskSizeGb?: unknown;
  spotFallbackMinutes?: unknown;
  /** npm requirements by name (a JavaScript predictor's), to warn about GPU packages that need their install script. */
  npmRequirements?: Record<string, string>;
  allowScripts?: unknown;
  image?: unknown;
  replicas?: unknown;
}

/**
 * Checks everything about a deployment's GPUs, in Google's words where Google has them (see
 * contracts/accelerators.ts): the `accelerator` itself, which GPU attaches to which machine type in
 * which counts, machine types that carry their GPUs, the zone offering the GPU (a dated table:
 * refused while the table is recent, a warning once it is old), GPUs budgetml's driver cannot run,
 * the boot disk, and on-demand availability. Pure: no Pulumi, no I/O; `now` is the day checked for.
 */
export function acceleratorProblems(args: AcceleratorArgs, now: Date = new Date()): AcceleratorCheck {
  const problems: ArgProblem[] = [];
  const warnings: string[] = [];
  const problem = (propertyPath: string, message: string) =>
    problems.push({ propertyPath, reason: `${propertyPath}: ${message}` });
  const machineType = typeof args.machineType === "string" ? args.machineType : defaultMachineType(args.accelerator);

  const attached = attachedGpus(args.accelerator, problem);
  if (isAcceleratorOptimized(machineType) && !ACCELERATOR_MACHINE_TYPES[machineType])
    problem(
      "machineType",
      `"${machineType}" is not a machine type with GPUs budgetml knows (${Object.keys(ACCELERATOR_MACHINE_TYPES).join(", ")}, or N1 with an accelerator)`,
    );
  const carried = ACCELERATOR_MACHINE_TYPES[machineType];
  if (attached && carried)
    problem(
      "accelerator",
      `${machineType} comes with its GPUs (${carried.count} × ${carried.gpu}): leave accelerator out`,
    );
  else if (attached) {
    const model = GPU_MODELS[attached.type];
    if (!model.n1)
      problem(
        "accelerator.type",
        `${attached.type} is not attached to a VM: it comes with the machine types that carry it (${machineTypesCarrying(attached.type).join(", ")}): set machineType to one and leave accelerator out`,
      );
    else if (!n1Shape(machineType))
      problem(
        "machineType",
        `Google: "${guestAcceleratorRefusals(machineType, [attached])[0]}" GPUs attach to N1 machine types (like n1-standard-4); G2, A2 and A3 types come with theirs`,
      );
    else if (!model.n1[attached.count])
      problem(
        "accelerator.count",
        `${attached.count} × ${attached.type} cannot attach to an N1 VM: Google offers ${countsOf(model)}`,
      );
    else {
      const [refusal] = guestAcceleratorRefusals(machineType, [attached]);
      if (refusal)
        problem(
          "machineType",
          `${machineType} is too large for ${attached.count} × ${attached.type}; Google: "${refusal}"`,
        );
    }
  }

  const gpus = problems.length === 0 ? gpusOf(machineType, attached) : undefined;
  const model = gpus && GPU_MODELS[gpus.type];
  if (gpus && model && needsProprietaryDriver(model)) {
    problem(
      "accelerator.type",
      `${gpus.type} is a ${model.architecture} GPU: budgetml installs NVIDIA's driver with Google's installer, whose driver is NVIDIA's open kernel modules, and those need a Turing or newer GPU (NVIDIA: "For older GPUs from the Maxwell, Pascal, or Volta architectures, the open-source GPU kernel modules are not compatible"). Use nvidia-tesla-t4, or an L4 (machineType g2-standard-4)`,
    );
  }
  if (!gpus || problems.length > 0) return { problems, warnings, onDemand: true };

  if (typeof args.zone === "string") {
    const offering = zonesOffering(gpus.type);
    if (offering.length > 0 && !offering.includes(args.zone)) {
      const region = args.zone.replace(/-[a-z]$/, "");
      const nearby = offering.filter((zone) => zone.startsWith(`${region}-`));
      const said = `${args.zone} does not offer ${gpus.type} in Google's GPU regions and zones table as budgetml read it on ${GPU_ZONES_READ} (${GPU_ZONES_SOURCE}); ${nearby.length ? `zones of ${region} that do: ${nearby.join(", ")}` : `no zone of ${region} did`}`;
      const age = gpuZonesAgeDays(now);
      if (age <= GPU_ZONES_STALE_DAYS) problem("zone", said);
      else
        warnings.push(
          `zone: ${said}. That table is ${age} days old, so Google may offer it there now: check with gcloud compute accelerator-types list --filter="zone:${args.zone}"`,
        );
    }
  }
  if (typeof args.diskSizeGb === "number" && args.diskSizeGb < GPU_MIN_DISK_GB)
    problem(
      "diskSizeGb",
      `${args.diskSizeGb} GB is too small with GPUs: the NVIDIA driver, its kernel headers and the CUDA 12 libraries need about 5 GB beside Debian's; give at least ${GPU_MIN_DISK_GB} (the default with a GPU is ${GPU_DEFAULT_DISK_GB})`,
    );
  // The replicas' instance templates (components/replicas/) attach no GPUs and keep the standard
  // group's live migration, which Google refuses for a VM with GPUs: one GPU VM, or none.
  if (args.replicas !== undefined)
    problem(
      "replicas",
      `GPUs are served by one VM (with its restarter): leave replicas out with ${gpus.count} × ${gpus.type}`,
    );
  const onDemand = carried?.onDemand ?? true;
  if (!onDemand) {
    if (args.provisioning === "standard")
      problem(
        "provisioning",
        `${machineType} runs only as a Spot (or Flex-start) VM: Google does not offer it on demand`,
      );
    if (typeof args.spotFallbackMinutes === "number" && args.spotFallbackMinutes > 0)
      problem(
        "spotFallbackMinutes",
        `${machineType} runs only as a Spot (or Flex-start) VM, so there is no on-demand fallback: set 0 (the default for it)`,
      );
  }
  if (args.image !== undefined)
    problem(
      "image",
      "a custom image runs under docker without access to the GPUs (budgetml installs no NVIDIA container toolkit): with an accelerator, deploy the predictor itself",
    );
  const allowScripts = Array.isArray(args.allowScripts) ? args.allowScripts : [];
  if (args.npmRequirements?.["onnxruntime-node"] !== undefined && !allowScripts.includes("onnxruntime-node"))
    warnings.push(
      `allowScripts: onnxruntime-node fetches its CUDA execution provider in its install script; without "onnxruntime-node" in allowScripts it can run on the CPU only`,
    );
  return { problems, warnings, gpus, onDemand };
}

/**
 * The accelerator checks as a validator of the args pipeline (components/args/validateArgs.ts):
 * problems with their property paths (`accelerator.count`), and warnings. A JavaScript predictor's
 * npm requirements are read to warn about GPU packages whose install script must run (a malformed
 * list is argRules' problem to report).
 */
export function acceleratorFindings(args: CheckedArgs, now: Date): ArgFinding[] {
  const python = typeof args.predictor === "string" && args.predictor.endsWith(".py");
  let npmRequirements: Record<string, string> | undefined;
  if (!python && args.requirementsFile === undefined) {
    try {
      npmRequirements = parseRequirements(args.requirements);
    } catch {
      npmRequirements = undefined;
    }
  }
  const { problems, warnings } = acceleratorProblems({ ...args, npmRequirements }, now);
  return [...problems, ...warnings.map((reason) => ({ propertyPath: reason.split(":")[0], reason, warning: true }))];
}

/** The GPUs `accelerator` asks for, or undefined (none, or malformed: then `problem` was told why). */
function attachedGpus(accelerator: unknown, problem: (path: string, message: string) => void): Gpus | undefined {
  if (accelerator === undefined) return undefined;
  if (typeof accelerator !== "object" || accelerator === null || Array.isArray(accelerator)) {
    problem(
      "accelerator",
      `expected { type, count? } like { type: "nvidia-tesla-t4" }, got ${JSON.stringify(accelerator)}`,
    );
    return undefined;
  }
  const { type, count = 1, ...unknown } = accelerator as { type?: unknown; count?: unknown };
  let ok = true;
  for (const key of Object.keys(unknown)) {
    problem(`accelerator.${key}`, "is not an accelerator field (type, count)");
    ok = false;
  }
  if (typeof type !== "string" || type === "") {
    problem("accelerator.type", `is required: a GPU type like "nvidia-tesla-t4", got ${JSON.stringify(type)}`);
    ok = false;
  } else if (RETIRED_GPUS[type]) {
    problem("accelerator.type", `${type}: ${RETIRED_GPUS[type]}`);
    ok = false;
  } else if (!GPU_MODELS[type]) {
    problem(
      "accelerator.type",
      `"${type}" is not a GPU type budgetml knows (${Object.keys(GPU_MODELS).join(", ")}; Google's GPU machine types, https://cloud.google.com/compute/docs/gpus)`,
    );
    ok = false;
  }
  if (typeof count !== "number" || !Number.isInteger(count) || count < 1 || count > 16) {
    problem("accelerator.count", `must be a whole number of GPUs (1, 2, 4 or 8), got ${JSON.stringify(count)}`);
    ok = false;
  }
  return ok ? { type: type as string, count: count as number } : undefined;
}

/** The accelerator-optimized machine types that carry `gpuType`. */
function machineTypesCarrying(gpuType: string): string[] {
  return Object.entries(ACCELERATOR_MACHINE_TYPES)
    .filter(([, carried]) => carried.gpu === gpuType)
    .map(([machineType]) => machineType);
}

/** The hardware a deployment gets from its arguments, defaults included (after validation). */
export interface Hardware {
  machineType: string;
  gpus: Gpus | undefined;
  diskSizeGb: number;
  /** How long `pulumi up` waits for the health check by default. */
  healthTimeoutSeconds: number;
  /** The spot fallback's default: none for a machine type Google offers only as Spot VMs. */
  spotFallbackMinutes: number;
}

/**
 * The machine, its GPUs and the defaults that follow from them (after validation): a bigger disk and
 * a longer first boot with GPUs, no spot fallback for a machine type offered only as Spot VMs. What
 * the args give is kept; without GPUs each default is the one of ARG_DEFAULTS.
 */
export function hardwareOf(args: {
  machineType?: string;
  accelerator?: Accelerator;
  diskSizeGb?: number;
  healthTimeoutSeconds?: number;
  spotFallbackMinutes?: number;
}): Hardware {
  const machineType = args.machineType ?? defaultMachineType(args.accelerator);
  const gpus = gpusOf(
    machineType,
    args.accelerator ? { type: args.accelerator.type, count: args.accelerator.count ?? 1 } : undefined,
  );
  const onDemand = ACCELERATOR_MACHINE_TYPES[machineType]?.onDemand ?? true;
  return {
    machineType,
    gpus,
    diskSizeGb: args.diskSizeGb ?? (gpus ? GPU_DEFAULT_DISK_GB : ARG_DEFAULTS.diskSizeGb.value),
    healthTimeoutSeconds:
      args.healthTimeoutSeconds ?? (gpus ? GPU_HEALTH_TIMEOUT_SECONDS : ARG_DEFAULTS.healthTimeoutSeconds.value),
    spotFallbackMinutes: args.spotFallbackMinutes ?? (onDemand ? ARG_DEFAULTS.spotFallbackMinutes.value : 0),
  };
}
