import {
  acceleratorSpec,
  gpusOf,
  guestAcceleratorRefusals,
  instanceHasGpus,
  n1Shape,
  parseAcceleratorSpec,
} from "../../contracts/accelerators";
import { GPU_ZONES_READ, gpuZonesAgeDays, zonesOffering } from "../../contracts/gpuZones";
import {
  liveMigrationRefusal,
  mergeScheduling,
  schedulingFor,
  schedulingRefusals,
  schedulingSwitch,
} from "../../contracts/scheduling";
import { npmGpuEnv, pythonCudaBuilds } from "../../images/vm/cudaBuilds";
import { gpuMismatch, parseGpuQuery } from "../../contracts/gpuCheck";

// The GPU contract between the component, the Compute stand-in, the restarter and the VM's boot,
// tested as the pure functions it is.
describe("which GPUs a VM has", () => {
  it("takes the GPUs an accelerator-optimized machine type carries, else the attached ones", () => {
    expect(gpusOf("g2-standard-4")).toEqual({ type: "nvidia-l4", count: 1 });
    expect(gpusOf("g2-standard-24")).toEqual({ type: "nvidia-l4", count: 2 });
    expect(gpusOf("a2-highgpu-2g")).toEqual({ type: "nvidia-tesla-a100", count: 2 });
    expect(gpusOf("a3-highgpu-8g")).toEqual({ type: "nvidia-h100-80gb", count: 8 });
    expect(gpusOf("n1-standard-4", { type: "nvidia-tesla-t4", count: 2 })).toEqual({
      type: "nvidia-tesla-t4",
      count: 2,
    });
    expect(gpusOf("n1-standard-4")).toBeUndefined();
    expect(gpusOf("e2-small")).toBeUndefined();
  });

  it("tells a GPU instance from what instances.get answers: the machine type's URL or its guestAccelerators", () => {
    const zone = "https://www.googleapis.com/compute/v1/projects/p/zones/us-central1-a";
    expect(instanceHasGpus({ machineType: `${zone}/machineTypes/g2-standard-8` })).toBe(true);
    expect(instanceHasGpus({ machineType: `${zone}/machineTypes/n1-standard-4` })).toBe(false);
    expect(
      instanceHasGpus({
        machineType: `${zone}/machineTypes/n1-standard-4`,
        guestAccelerators: [{ acceleratorCount: 1 }],
      }),
    ).toBe(true);
    expect(instanceHasGpus({ machineType: null, guestAccelerators: null })).toBe(false);
  });

  it("names them in the metadata as type:count, and refuses anything else", () => {
    expect(parseAcceleratorSpec(acceleratorSpec({ type: "nvidia-tesla-t4", count: 4 }))).toEqual({
      type: "nvidia-tesla-t4",
      count: 4,
    });
    for (const bad of ["nvidia-tesla-t4", "nvidia-tesla-t4:0", "T4:1", "nvidia-tesla-t4:1; rm -rf /", ""])
      expect(() => parseAcceleratorSpec(bad)).toThrow(/is not an accelerator like nvidia-tesla-t4:1/);
  });

  it("knows N1 shapes: predefined and custom", () => {
    expect(n1Shape("n1-standard-4")).toEqual({ vcpus: 4, memoryGb: 15 });
    expect(n1Shape("n1-highmem-8")).toEqual({ vcpus: 8, memoryGb: 52 });
    expect(n1Shape("n1-custom-8-409600")).toEqual({ vcpus: 8, memoryGb: 400 });
    expect(n1Shape("f1-micro")).toBeUndefined();
    expect(n1Shape("e2-standard-4")).toBeUndefined();
  });
});

describe("Google's refusals of GPUs on a machine type (insert)", () => {
  it("accepts a T4 on N1 in Google's counts, and nothing on other machine types, in the API's words", () => {
    for (const count of [1, 2, 4])
      expect(guestAcceleratorRefusals("n1-standard-4", [{ type: "nvidia-tesla-t4", count }])).toEqual([]);
    expect(guestAcceleratorRefusals("e2-standard-2", [{ type: "nvidia-tesla-t4", count: 1 }])).toEqual([
      "[e2-standard-2, nvidia-tesla-t4] features are not compatible for creating instance.",
    ]);
    expect(guestAcceleratorRefusals("g1-small", [{ type: "nvidia-tesla-t4", count: 1 }])).toEqual([
      "[g1-small, nvidia-tesla-t4] features are not compatible for creating instance.",
    ]);
    // An L4 is not attached: G2 machine types carry it.
    expect(guestAcceleratorRefusals("n1-standard-4", [{ type: "nvidia-l4", count: 1 }])).toEqual([
      "[n1-standard-4, nvidia-l4] features are not compatible for creating instance.",
    ]);
  });

  it("refuses more vCPUs than the GPU count allows, and counts Google does not offer", () => {
    expect(guestAcceleratorRefusals("n1-standard-64", [{ type: "nvidia-tesla-t4", count: 1 }])).toEqual([
      "Invalid value for field 'resource.guestAccelerators[0].acceleratorCount': '1'. At most 48 vCPUs can be used along with 1 accelerator cards in an instance.",
    ]);
    expect(guestAcceleratorRefusals("n1-standard-64", [{ type: "nvidia-tesla-t4", count: 4 }])).toEqual([]);
    expect(guestAcceleratorRefusals("n1-standard-4", [{ type: "nvidia-tesla-t4", count: 3 }])).toEqual([
      "Invalid value for field 'resource.guestAccelerators[0].acceleratorCount': '3'. nvidia-tesla-t4 attaches to N1 in counts of 1, 2 or 4.",
    ]);
    expect(guestAcceleratorRefusals("n1-custom-8-409600", [{ type: "nvidia-tesla-t4", count: 1 }])).toEqual([
      "Invalid value for field 'resource.guestAccelerators[0].acceleratorCount': '1'. At most 312 GB of memory can be used along with 1 accelerator cards in an instance.",
    ]);
  });
});

describe("scheduling of a VM with GPUs", () => {
  it("never live-migrates: standard stops on host maintenance too, and Google refuses MIGRATE in its words", () => {
    const standard = schedulingFor("standard", { gpus: true });
    expect(standard).toEqual({
      provisioningModel: "STANDARD",
      preemptible: false,
      automaticRestart: true,
      onHostMaintenance: "TERMINATE",
    });
    expect(schedulingRefusals(standard)).toEqual([]);
    expect(liveMigrationRefusal(standard, { gpus: true })).toBeUndefined();
    expect(liveMigrationRefusal(schedulingFor("standard"), { gpus: true })).toBe(
      "Instances with guest accelerators do not support live migration.",
    );
    // Left out, onHostMaintenance is MIGRATE, the standard model's default.
    const { onHostMaintenance: _left, ...withoutMaintenance } = standard;
    expect(liveMigrationRefusal(withoutMaintenance, { gpus: true })).toBeDefined();
    expect(liveMigrationRefusal(schedulingFor("standard"), {})).toBeUndefined();
    expect(liveMigrationRefusal(schedulingFor("spot"), { gpus: true })).toBeUndefined();
  });

  it("switches a spot GPU VM to standard and back without ever asking for live migration", () => {
    const spot = schedulingFor("spot", { gpus: true });
    const standard = mergeScheduling(spot, schedulingSwitch("standard", { gpus: true }));
    expect(standard).toEqual(schedulingFor("standard", { gpus: true }));
    expect(schedulingRefusals(standard, "resource")).toEqual([]);
    expect(liveMigrationRefusal(standard, { gpus: true })).toBeUndefined();
    // Without the VM's GPUs in mind, the switch would ask for live migration, which Google refuses.
    expect(liveMigrationRefusal(mergeScheduling(spot, schedulingSwitch("standard")), { gpus: true })).toBeDefined();
    expect(mergeScheduling(standard, schedulingSwitch("spot", { gpus: true }))).toEqual(spot);
  });
});

describe("the dated GPU zone table", () => {
  it("lists the zones that offer each GPU, and knows its age", () => {
    expect(zonesOffering("nvidia-tesla-t4")).toEqual(
      expect.arrayContaining(["us-central1-a", "us-central1-b", "us-central1-c", "us-central1-f"]),
    );
    expect(zonesOffering("nvidia-l4")).toContain("us-central1-a");
    expect(zonesOffering("nvidia-l4")).not.toContain("us-central1-f");
    expect(zonesOffering("nvidia-unknown")).toEqual([]);
    expect(gpuZonesAgeDays(new Date(`${GPU_ZONES_READ}T12:00:00Z`))).toBe(0);
    expect(gpuZonesAgeDays(new Date(Date.parse(GPU_ZONES_READ) + 200 * 86_400_000))).toBe(200);
  });
});

describe("packages on a VM with GPUs", () => {
  it("swaps Python packages for their CUDA builds, keeping versions and markers", () => {
    expect(
      pythonCudaBuilds([
        "onnxruntime==1.20.1",
        "ONNXRuntime>=1.19 ; python_version >= '3.9'",
        "jax",
        "tensorflow-cpu~=2.17",
        "torch==2.8.0",
        "numpy",
        "onnxruntime[extra]==1.20.1",
      ]),
    ).toEqual({
      requirements: [
        "onnxruntime-gpu==1.20.1",
        "onnxruntime-gpu>=1.19 ; python_version >= '3.9'",
        "jax[cuda12]",
        "tensorflow[and-cuda]~=2.17",
        "torch==2.8.0",
        "numpy",
        "onnxruntime[extra]==1.20.1",
      ],
      swapped: [
        "onnxruntime → onnxruntime-gpu",
        "ONNXRuntime → onnxruntime-gpu",
        "jax → jax[cuda12]",
        "tensorflow-cpu → tensorflow[and-cuda]",
      ],
    });
  });

  it("lets onnxruntime-node fetch its CUDA execution provider only where there are GPUs", () => {
    expect(npmGpuEnv(true)).toEqual({ ONNXRUNTIME_NODE_INSTALL: "cuda12" });
    expect(npmGpuEnv(false)).toEqual({ ONNXRUNTIME_NODE_INSTALL: "skip" });
  });
});

describe("what nvidia-smi says", () => {
  const t4 = "0, Tesla T4, GPU-8d1b0c4e-1111-2222-3333-444455556666, 595.84, 15360, 103, 37\n";
  it("reads its CSV answer", () => {
    expect(parseGpuQuery(t4)).toEqual([
      {
        index: 0,
        name: "Tesla T4",
        uuid: "GPU-8d1b0c4e-1111-2222-3333-444455556666",
        driverVersion: "595.84",
        memoryTotalMiB: 15360,
        memoryUsedMiB: 103,
        utilizationPercent: 37,
      },
    ]);
    expect(parseGpuQuery("0, NVIDIA L4, GPU-1, 595.84, 23034, [N/A], [N/A]")[0]).toMatchObject({
      memoryUsedMiB: 0,
      utilizationPercent: 0,
    });
    expect(() => parseGpuQuery("No devices were found")).toThrow(/unexpected line: "No devices were found"/);
  });

  it("compares it with the GPUs the deployment declares", () => {
    const devices = parseGpuQuery(t4);
    expect(gpuMismatch({ type: "nvidia-tesla-t4", count: 1 }, devices)).toBeUndefined();
    expect(gpuMismatch({ type: "nvidia-tesla-t4", count: 2 }, devices)).toBe(
      "expected 2 × nvidia-tesla-t4 (NVIDIA T4), nvidia-smi sees 1: Tesla T4",
    );
    expect(gpuMismatch({ type: "nvidia-l4", count: 1 }, devices)).toBe(
      "expected 1 × nvidia-l4 (NVIDIA L4), nvidia-smi sees 1: Tesla T4",
    );
    expect(gpuMismatch({ type: "nvidia-l4", count: 1 }, [])).toBe(
      "expected 1 × nvidia-l4 (NVIDIA L4), nvidia-smi sees 0: none",
    );
  });
});
