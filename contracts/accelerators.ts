// The contract between the component that declares a VM with GPUs, the Compute stand-in that
// accepts or refuses it as Google does, the restarter that switches its provisioning, and the VM's
// boot that installs the driver for them: which GPU models exist, which machine types carry which,
// which attach to N1 in which counts, and how the VM is told what it has.
//
// Source: Google's "GPU machine types" page, https://cloud.google.com/compute/docs/gpus (read
// 2026-12-06): "For the A and G series accelerator-optimized machine types, the specified GPU model
// automatically attaches to the instance. For the N1 general-purpose machine types, you can attach
// the GPU models specified"; "For N1 general-purpose machine types, except for the N1 shared-core
// (f1-micro and g1-small), you can attach a select set of GPU models"; "GPUs are not compatible
// with other machine types" (About GPUs, https://cloud.google.com/compute/docs/gpus/about-gpus).

/** A GPU model as the Compute API names it (`acceleratorType`), and what budgetml needs to know of it. */
export interface GpuModel {
  /** The accelerator type, e.g. `nvidia-tesla-t4`. */
  type: string;
  /** Google's name for it. */
  name: string;
  /** NVIDIA's architecture: it decides which driver can run it (see {@link needsProprietaryDriver}). */
  architecture: "Pascal" | "Volta" | "Turing" | "Ampere" | "Ada Lovelace" | "Hopper";
  /** GPU memory per GPU, GB. */
  memoryGb: number;
  /** How `nvidia-smi --query-gpu=name` names one (e.g. "Tesla T4", "NVIDIA L4"). */
  smiName: RegExp;
  /**
   * On N1: each count Google allows, with the most vCPUs and memory (GB) an N1 VM may have beside
   * that many (the N1 tables of the GPU machine types page). Absent: the GPU comes only with the
   * accelerator-optimized machine types that carry it.
   */
  n1?: Readonly<Record<number, { maxVcpus: number; maxMemoryGb: number }>>;
}

/** Every GPU model budgetml knows, by accelerator type. */
export const GPU_MODELS: Readonly<Record<string, GpuModel>> = {
  "nvidia-tesla-t4": {
    type: "nvidia-tesla-t4",
    name: "NVIDIA T4",
    architecture: "Turing",
    memoryGb: 16,
    smiName: /\bT4\b/,
    n1: {
      1: { maxVcpus: 48, maxMemoryGb: 312 },
      2: { maxVcpus: 48, maxMemoryGb: 312 },
      4: { maxVcpus: 96, maxMemoryGb: 624 },
    },
  },
  "nvidia-tesla-p4": {
    type: "nvidia-tesla-p4",
    name: "NVIDIA P4",
    architecture: "Pascal",
    memoryGb: 8,
    smiName: /\bP4\b/,
    n1: {
      1: { maxVcpus: 24, maxMemoryGb: 156 },
      2: { maxVcpus: 48, maxMemoryGb: 312 },
      4: { maxVcpus: 96, maxMemoryGb: 624 },
    },
  },
  "nvidia-tesla-p100": {
    type: "nvidia-tesla-p100",
    name: "NVIDIA P100",
    architecture: "Pascal",
    memoryGb: 16,
    smiName: /\bP100\b/,
    n1: {
      1: { maxVcpus: 16, maxMemoryGb: 104 },
      2: { maxVcpus: 32, maxMemoryGb: 208 },
      4: { maxVcpus: 96, maxMemoryGb: 624 },
    },
  },
  "nvidia-tesla-v100": {
    type: "nvidia-tesla-v100",
    name: "NVIDIA V100",
    architecture: "Volta",
    memoryGb: 16,
    smiName: /\bV100\b/,
    n1: {
      1: { maxVcpus: 12, maxMemoryGb: 78 },
      2: { maxVcpus: 24, maxMemoryGb: 156 },
      4: { maxVcpus: 48, maxMemoryGb: 312 },
      8: { maxVcpus: 96, maxMemoryGb: 624 },
    },
  },
  "nvidia-l4": { type: "nvidia-l4", name: "NVIDIA L4", architecture: "Ada Lovelace", memoryGb: 24, smiName: /\bL4\b/ },
  "nvidia-tesla-a100": {
    type: "nvidia-tesla-a100",
    name: "NVIDIA A100 40GB",
    architecture: "Ampere",
    memoryGb: 40,
    smiName: /A100.*40GB/,
  },
  "nvidia-a100-80gb": {
    type: "nvidia-a100-80gb",
    name: "NVIDIA A100 80GB",
    architecture: "Ampere",
    memoryGb: 80,
    smiName: /A100.*80GB/,
  },
  "nvidia-h100-80gb": {
    type: "nvidia-h100-80gb",
    name: "NVIDIA H100 80GB",
    architecture: "Hopper",
    memoryGb: 80,
    smiName: /H100/,
  },
  "nvidia-h100-mega-80gb": {
    type: "nvidia-h100-mega-80gb",
    name: "NVIDIA H100 80GB Mega",
    architecture: "Hopper",
    memoryGb: 80,
    smiName: /H100/,
  },
};

/** GPU models Google no longer offers, and where it says so. */
export const RETIRED_GPUS: Readonly<Record<string, string>> = {
  "nvidia-tesla-k80":
    "NVIDIA K80 reached its end of support on Compute Engine (https://cloud.google.com/compute/docs/eol/k80-eol)",
};

/** An accelerator-optimized machine type: the GPUs it carries, and whether it may run on demand. */
export interface AcceleratorMachineType {
  gpu: string;
  count: number;
  /**
   * false: Google offers it only as Spot (or Flex-start) VMs, never with the standard provisioning
   * model — the A3 High shapes with 1, 2 or 4 GPUs (GPU machine types, A3 High). A spot VM of this
   * type has no on-demand fallback.
   */
  onDemand: boolean;
}

/** The accelerator-optimized machine types budgetml knows: G2 (L4), A2 (A100), A3 (H100). */
export const ACCELERATOR_MACHINE_TYPES: Readonly<Record<string, AcceleratorMachineType>> = {
  ...Object.fromEntries(
    (
      [
        ["g2-standard-4", 1],
        ["g2-standard-8", 1],
        ["g2-standard-12", 1],
        ["g2-standard-16", 1],
        ["g2-standard-24", 2],
        ["g2-standard-32", 1],
        ["g2-standard-48", 4],
        ["g2-standard-96", 8],
      ] as const
    ).map(([machineType, count]) => [machineType, { gpu: "nvidia-l4", count, onDemand: true }]),
  ),
  ...Object.fromEntries(
    ([1, 2, 4, 8] as const).map((count) => [
      `a2-highgpu-${count}g`,
      { gpu: "nvidia-tesla-a100", count, onDemand: true },
    ]),
  ),
  "a2-megagpu-16g": { gpu: "nvidia-tesla-a100", count: 16, onDemand: true },
  ...Object.fromEntries(
    ([1, 2, 4, 8] as const).map((count) => [
      `a2-ultragpu-${count}g`,
      { gpu: "nvidia-a100-80gb", count, onDemand: true },
    ]),
  ),
  ...Object.fromEntries(
    ([1, 2, 4, 8] as const).map((count) => [
      `a3-highgpu-${count}g`,
      { gpu: "nvidia-h100-80gb", count, onDemand: count === 8 },
    ]),
  ),
  "a3-megagpu-8g": { gpu: "nvidia-h100-mega-80gb", count: 8, onDemand: true },
};

/** The families whose every machine type carries GPUs: a type budgetml does not list there is refused, not guessed. */
const ACCELERATOR_FAMILIES = /^(a2|a3|a4|a4x|g2|g4)-/;

/** GPUs on a VM: their accelerator type and how many. */
export interface Gpus {
  type: string;
  count: number;
}

/** Whether the machine type belongs to an accelerator-optimized family (it carries its GPUs). */
export function isAcceleratorOptimized(machineType: string): boolean {
  return ACCELERATOR_FAMILIES.test(machineType);
}

/**
 * The GPUs a VM has: those its accelerator-optimized machine type carries, else the ones attached
 * (an N1 VM's `guestAccelerators`); undefined for none. Not a validation: see the component's
 * `acceleratorProblems` and {@link guestAcceleratorRefusals}.
 */
export function gpusOf(machineType: string, attached?: Gpus): Gpus | undefined {
  const carried = ACCELERATOR_MACHINE_TYPES[machineType];
  if (carried) return { type: carried.gpu, count: carried.count };
  return attached && attached.count > 0 ? attached : undefined;
}

/**
 * Whether an instance as the Compute API describes it has GPUs: attached ones
 * (`guestAccelerators`), or an accelerator-optimized machine type (`machineType` may be the API's
 * URL, `…/machineTypes/g2-standard-4`). The restarter reads this from `instances.get`.
 */
export function instanceHasGpus(instance: {
  machineType?: string | null;
  guestAccelerators?: ReadonlyArray<{ acceleratorCount?: number | null }> | null;
}): boolean {
  const machineType = (instance.machineType ?? "").split("/").pop() ?? "";
  return (
    isAcceleratorOptimized(machineType) ||
    (instance.guestAccelerators ?? []).some((accelerator) => (accelerator.acceleratorCount ?? 0) > 0)
  );
}

/**
 * Whether NVIDIA's open kernel modules — what Google's installer installs (see
 * images/vm/gpuDriver.ts) — cannot drive this GPU: "For older GPUs from the Maxwell, Pascal, or
 * Volta architectures, the open-source GPU kernel modules are not compatible with your platform"
 * (NVIDIA, https://developer.nvidia.com/blog/nvidia-transitions-fully-towards-open-source-gpu-kernel-modules/).
 */
export function needsProprietaryDriver(model: GpuModel): boolean {
  return model.architecture === "Pascal" || model.architecture === "Volta";
}

/** How the instance metadata names the VM's GPUs (`budget-accelerator`): `<type>:<count>`, e.g. `nvidia-tesla-t4:1`. */
export function acceleratorSpec(gpus: Gpus): string {
  return `${gpus.type}:${gpus.count}`;
}

/** Reads a `<type>:<count>` spec (the metadata value, `BUDGET_ACCELERATOR`); throws what is wrong with it. */
export function parseAcceleratorSpec(spec: string): Gpus {
  const match = /^([a-z0-9-]+):([1-9]\d?)$/.exec(spec.trim());
  if (!match) throw new Error(`"${spec}" is not an accelerator like nvidia-tesla-t4:1 (type:count)`);
  return { type: match[1], count: Number(match[2]) };
}

/** An N1 machine type's vCPUs and memory (GB): predefined standard/highmem/highcpu, or custom `n1-custom-<vCPUs>-<MB>`. */
export function n1Shape(machineType: string): { vcpus: number; memoryGb: number } | undefined {
  const predefined = /^n1-(standard|highmem|highcpu)-(\d+)$/.exec(machineType);
  // Google's N1 shapes: 3.75 GB per vCPU (standard), 6.5 (highmem), 0.9 (highcpu).
  if (predefined) {
    const vcpus = Number(predefined[2]);
    return { vcpus, memoryGb: vcpus * { standard: 3.75, highmem: 6.5, highcpu: 0.9 }[predefined[1] as "standard"] };
  }
  const custom = /^n1-custom-(\d+)-(\d+)(-ext)?$/.exec(machineType);
  return custom ? { vcpus: Number(custom[1]), memoryGb: Number(custom[2]) / 1024 } : undefined;
}

/**
 * Google's refusals of an instance's machine type with its attached GPUs (insert), in the API's
 * words where they are known:
 * - a GPU on a machine type it does not attach to: "[e2-standard-2, nvidia-tesla-t4] features are
 *   not compatible for creating instance." (the API's error as gcloud prints it, quoted in
 *   kubernetes/test-infra#35205);
 * - more vCPUs than the GPU count allows: "Invalid value for field
 *   'resource.guestAccelerators[0].acceleratorCount': '1'. At most 8 vCPUs can be used along with 1
 *   accelerator cards in an instance." (quoted in google/deepvariant#70).
 * For a count Google does not offer and for memory beyond the limit the first sentence is the API's
 * own form for an invalid field; what follows it is budgetml's (Google's exact text is not known here).
 * Empty when Google accepts the combination; an unknown GPU type is Google's "not found", not listed here.
 */
export function guestAcceleratorRefusals(machineType: string, attached: readonly Gpus[]): string[] {
  const refusals: string[] = [];
  attached.forEach((gpu, index) => {
    const model = GPU_MODELS[gpu.type];
    const field = `resource.guestAccelerators[${index}].acceleratorCount`;
    const shape = n1Shape(machineType);
    if (!model || !model.n1 || !shape || isAcceleratorOptimized(machineType)) {
      refusals.push(`[${machineType}, ${gpu.type}] features are not compatible for creating instance.`);
      return;
    }
    const limits = model.n1[gpu.count];
    if (!limits) {
      refusals.push(
        `Invalid value for field '${field}': '${gpu.count}'. ${gpu.type} attaches to N1 in counts of ${countsOf(model)}.`,
      );
      return;
    }
    if (shape.vcpus > limits.maxVcpus)
      refusals.push(
        `Invalid value for field '${field}': '${gpu.count}'. At most ${limits.maxVcpus} vCPUs can be used along with ${gpu.count} accelerator cards in an instance.`,
      );
    else if (shape.memoryGb > limits.maxMemoryGb)
      refusals.push(
        `Invalid value for field '${field}': '${gpu.count}'. At most ${limits.maxMemoryGb} GB of memory can be used along with ${gpu.count} accelerator cards in an instance.`,
      );
  });
  return refusals;
}

/** The counts of a GPU Google attaches to N1, in words: "1, 2 or 4". */
export function countsOf(model: GpuModel): string {
  const counts = Object.keys(model.n1 ?? {});
  return counts.length > 1 ? `${counts.slice(0, -1).join(", ")} or ${counts[counts.length - 1]}` : counts.join("");
}

/**
 * The variable that tells a VM's boot it runs on a machine standing in for the VM without its GPUs
 * (the local deployment): value `cpu`. The boot then installs no driver and the runtime is not told
 * of GPUs, so the model serves on the CPU. Never set on a VM.
 */
export const GPU_STANDIN_VARIABLE = "BUDGET_GPU_STANDIN";
