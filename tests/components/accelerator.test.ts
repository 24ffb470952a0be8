import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
// The harness puts Pulumi's mocks in place before the component is loaded.
import { deploy, value } from "./pulumiHarness";
import { acceleratorProblems, GPU_DEFAULT_DISK_GB, GPU_MIN_DISK_GB } from "../../components/acceleratorArgs";
import { GPU_PRICE_DATE } from "../../components/gpuPrices";
import { estimateMonthlyCost } from "../../components/pricing";
import { validateArgs } from "../../components/args/validateArgs";
import { GPU_ZONES_READ, GPU_ZONES_STALE_DAYS } from "../../contracts/gpuZones";

// `accelerator` as `pulumi preview` meets it (the pure check, and validateArgs' property paths), and
// the declarations a GPU deployment makes under Pulumi's mocks.
const predictor = join(__dirname, "..", "..", "examples", "sentiment", "predictor.ts");
const tableDay = new Date(`${GPU_ZONES_READ}T12:00:00Z`);

/** The property paths and reasons of a check, for compact assertions. */
const problemsOf = (args: Parameters<typeof acceleratorProblems>[0], now = tableDay) =>
  acceleratorProblems(args, now).problems.map((p) => `${p.propertyPath} | ${p.reason}`);

describe("the accelerator check (pure, with property paths)", () => {
  it("accepts a T4 on N1, and an L4 on G2 without an accelerator, in a zone that offers it", () => {
    expect(acceleratorProblems({ accelerator: { type: "nvidia-tesla-t4" }, zone: "us-central1-a" }, tableDay)).toEqual({
      problems: [],
      warnings: [],
      gpus: { type: "nvidia-tesla-t4", count: 1 },
      onDemand: true,
    });
    expect(acceleratorProblems({ machineType: "g2-standard-24", zone: "us-central1-c" }, tableDay)).toMatchObject({
      problems: [],
      gpus: { type: "nvidia-l4", count: 2 },
    });
    expect(acceleratorProblems({ machineType: "e2-small" }, tableDay)).toEqual({
      problems: [],
      warnings: [],
      onDemand: true,
    });
  });

  it("refuses a malformed accelerator, field by field", () => {
    expect(problemsOf({ accelerator: "nvidia-tesla-t4" })).toEqual([
      'accelerator | accelerator: expected { type, count? } like { type: "nvidia-tesla-t4" }, got "nvidia-tesla-t4"',
    ]);
    expect(problemsOf({ accelerator: { type: "", count: 1.5, kind: "gpu" } })).toEqual([
      "accelerator.kind | accelerator.kind: is not an accelerator field (type, count)",
      'accelerator.type | accelerator.type: is required: a GPU type like "nvidia-tesla-t4", got ""',
      "accelerator.count | accelerator.count: must be a whole number of GPUs (1, 2, 4 or 8), got 1.5",
    ]);
    expect(problemsOf({ accelerator: { type: "nvidia-tesla-k80" } })).toEqual([
      "accelerator.type | accelerator.type: nvidia-tesla-k80: NVIDIA K80 reached its end of support on Compute Engine (https://cloud.google.com/compute/docs/eol/k80-eol)",
    ]);
    expect(problemsOf({ accelerator: { type: "nvidia-rtx-9090" } })[0]).toMatch(
      /^accelerator\.type \| accelerator\.type: "nvidia-rtx-9090" is not a GPU type budgetml knows \(nvidia-tesla-t4, /,
    );
  });

  it("says which GPU goes with which machine family, in Google's words where Google has them", () => {
    expect(problemsOf({ accelerator: { type: "nvidia-tesla-t4" }, machineType: "e2-standard-4" })).toEqual([
      'machineType | machineType: Google: "[e2-standard-4, nvidia-tesla-t4] features are not compatible for creating instance." GPUs attach to N1 machine types (like n1-standard-4); G2, A2 and A3 types come with theirs',
    ]);
    expect(problemsOf({ accelerator: { type: "nvidia-tesla-t4", count: 3 } })).toEqual([
      "accelerator.count | accelerator.count: 3 × nvidia-tesla-t4 cannot attach to an N1 VM: Google offers 1, 2 or 4",
    ]);
    expect(problemsOf({ accelerator: { type: "nvidia-tesla-t4" }, machineType: "n1-standard-64" })).toEqual([
      "machineType | machineType: n1-standard-64 is too large for 1 × nvidia-tesla-t4; Google: \"Invalid value for field 'resource.guestAccelerators[0].acceleratorCount': '1'. At most 48 vCPUs can be used along with 1 accelerator cards in an instance.\"",
    ]);
    expect(problemsOf({ accelerator: { type: "nvidia-l4" } })).toEqual([
      "accelerator.type | accelerator.type: nvidia-l4 is not attached to a VM: it comes with the machine types that carry it (g2-standard-4, g2-standard-8, g2-standard-12, g2-standard-16, g2-standard-24, g2-standard-32, g2-standard-48, g2-standard-96): set machineType to one and leave accelerator out",
    ]);
    expect(problemsOf({ accelerator: { type: "nvidia-l4" }, machineType: "g2-standard-4" })).toEqual([
      "accelerator | accelerator: g2-standard-4 comes with its GPUs (1 × nvidia-l4): leave accelerator out",
    ]);
    expect(problemsOf({ machineType: "g2-standard-6" })[0]).toMatch(
      /^machineType \| machineType: "g2-standard-6" is not a machine type with GPUs budgetml knows/,
    );
  });

  it("refuses the GPUs its driver cannot run: Pascal and Volta need NVIDIA's proprietary modules", () => {
    expect(problemsOf({ accelerator: { type: "nvidia-tesla-v100" } })).toEqual([
      expect.stringMatching(
        /^accelerator\.type \| accelerator\.type: nvidia-tesla-v100 is a Volta GPU: budgetml installs NVIDIA's driver with Google's installer, whose driver is NVIDIA's open kernel modules, and those need a Turing or newer GPU/,
      ),
    ]);
    expect(problemsOf({ accelerator: { type: "nvidia-tesla-p4" } })[0]).toMatch(/nvidia-tesla-p4 is a Pascal GPU/);
  });

  it("refuses a zone without the GPU while the table is recent, and only warns once it is old", () => {
    const lFour = { machineType: "g2-standard-4", zone: "us-central1-f" };
    expect(problemsOf(lFour)).toEqual([
      "zone | zone: us-central1-f does not offer nvidia-l4 in Google's GPU regions and zones table as budgetml read it on 2026-12-06 (https://cloud.google.com/compute/docs/gpus/gpu-regions-zones); zones of us-central1 that do: us-central1-a, us-central1-b, us-central1-c",
    ]);
    const old = new Date(tableDay.getTime() + (GPU_ZONES_STALE_DAYS + 1) * 86_400_000);
    const aged = acceleratorProblems(lFour, old);
    expect(aged.problems).toEqual([]);
    expect(aged.warnings).toEqual([
      expect.stringMatching(
        /^zone: us-central1-f does not offer nvidia-l4 .*\. That table is 181 days old, so Google may offer it there now: check with gcloud compute accelerator-types list --filter="zone:us-central1-f"$/,
      ),
    ]);
    expect(problemsOf({ accelerator: { type: "nvidia-tesla-t4" }, zone: "me-central2-a" })[0]).toMatch(
      /zone: me-central2-a does not offer nvidia-tesla-t4 .*; no zone of me-central2 did$/,
    );
  });

  it("refuses a disk too small for the driver and CUDA, a custom image, replicas, and on demand where Google sells only spot", () => {
    expect(problemsOf({ accelerator: { type: "nvidia-tesla-t4" }, diskSizeGb: 20 })).toEqual([
      `diskSizeGb | diskSizeGb: 20 GB is too small with GPUs: the NVIDIA driver, its kernel headers and the CUDA 12 libraries need about 5 GB beside Debian's; give at least ${GPU_MIN_DISK_GB} (the default with a GPU is 50)`,
    ]);
    expect(problemsOf({ accelerator: { type: "nvidia-tesla-t4" }, diskSizeGb: GPU_MIN_DISK_GB })).toEqual([]);
    expect(problemsOf({ machineType: "g2-standard-4", image: "repo/model:1" })[0]).toMatch(
      /^image \| image: a custom image runs under docker without access to the GPUs/,
    );
    expect(problemsOf({ machineType: "a3-highgpu-1g", provisioning: "standard", spotFallbackMinutes: 10 })).toEqual([
      "provisioning | provisioning: a3-highgpu-1g runs only as a Spot (or Flex-start) VM: Google does not offer it on demand",
      "spotFallbackMinutes | spotFallbackMinutes: a3-highgpu-1g runs only as a Spot (or Flex-start) VM, so there is no on-demand fallback: set 0 (the default for it)",
    ]);
    expect(problemsOf({ machineType: "g2-standard-4", replicas: { min: 2 } })).toEqual([
      "replicas | replicas: GPUs are served by one VM (with its restarter): leave replicas out with 1 × nvidia-l4",
    ]);
    expect(acceleratorProblems({ machineType: "a3-highgpu-1g" }, tableDay)).toMatchObject({ onDemand: false });
    expect(acceleratorProblems({ machineType: "a3-highgpu-8g" }, tableDay)).toMatchObject({ onDemand: true });
  });

  it("warns when onnxruntime-node may not fetch its CUDA execution provider", () => {
    const npmRequirements = { "onnxruntime-node": "1.30.0" };
    const t4 = { accelerator: { type: "nvidia-tesla-t4" }, npmRequirements };
    expect(acceleratorProblems(t4, tableDay).warnings).toEqual([
      'allowScripts: onnxruntime-node fetches its CUDA execution provider in its install script; without "onnxruntime-node" in allowScripts it can run on the CPU only',
    ]);
    expect(acceleratorProblems({ ...t4, allowScripts: ["onnxruntime-node"] }, tableDay).warnings).toEqual([]);
  });
});

describe("validateArgs with an accelerator", () => {
  it("reports each problem under its own property path, accelerator.count included", () => {
    let thrown: unknown;
    try {
      validateArgs(
        "m",
        { predictor, zone: "us-central1-a", accelerator: { type: "nvidia-tesla-t4", count: 3 }, diskSizeGb: 12 },
        tableDay,
      );
    } catch (error) {
      thrown = error;
    }
    expect(pulumi.InputPropertiesError.isInstance(thrown)).toBe(true);
    expect((thrown as pulumi.InputPropertiesError).errors.map((e) => e.propertyPath)).toEqual(["accelerator.count"]);
    expect(() =>
      validateArgs("m", { predictor, zone: "us-central1-f", machineType: "g2-standard-4", diskSizeGb: 20 }, tableDay),
    ).toThrow(/zone: us-central1-f does not offer nvidia-l4.*; diskSizeGb: 20 GB is too small with GPUs/);
    const old = new Date(tableDay.getTime() + 400 * 86_400_000);
    expect(validateArgs("m", { predictor, zone: "us-central1-f", machineType: "g2-standard-4" }, old)).toEqual([
      expect.stringMatching(/^zone: us-central1-f does not offer nvidia-l4 .* That table is 400 days old/),
    ]);
  });
});

describe("the cost of GPUs", () => {
  it("prices the GPU at its spot and on-demand price with its machine, and says what the fallback costs a day", () => {
    const t4 = estimateMonthlyCost("n1-standard-4", "spot", 50, true, { type: "nvidia-tesla-t4", count: 1 });
    expect(t4).toMatchObject({ monthlyUsd: 174.53, onDemandMonthlyUsd: 402.85, fallbackExtraUsdPerDay: 7.51 });
    expect(t4.note).toMatch(/GPU and its machine: 2026-12-06/);
    const l4 = estimateMonthlyCost("g2-standard-4", "spot", 50, true, { type: "nvidia-l4", count: 1 });
    expect(l4).toMatchObject({ monthlyUsd: 214.39, onDemandMonthlyUsd: 524.64, fallbackExtraUsdPerDay: 10.2 });
    const standard = estimateMonthlyCost("g2-standard-4", "standard", 50, true, { type: "nvidia-l4", count: 1 });
    expect(standard).toMatchObject({ monthlyUsd: 524.64, fallbackExtraUsdPerDay: 0 });
    // A GPU not in the table gets no estimate rather than the machine's price alone.
    expect(
      estimateMonthlyCost("a3-highgpu-8g", "spot", 50, true, { type: "nvidia-h100-80gb", count: 8 }),
    ).toMatchObject({
      monthlyUsd: undefined,
      note: expect.stringMatching(/^a3-highgpu-8g with 8 × nvidia-h100-80gb is not in budgetml's price table/),
    });
  });
});

describe("the GPU cost table of docs/gpus.md", () => {
  it("says what monthlyCost says for each row (default 50 GB disk), with the table's date", () => {
    const page = readFileSync(join(__dirname, "..", "..", "docs", "gpus.md"), "utf8");
    const section = page.slice(page.indexOf("## What it costs"));
    const table = section.slice(section.indexOf("| machine | GPU |"));
    const rows = table.slice(0, table.indexOf("\n\n")).split("\n").slice(2);
    expect(rows.length).toBeGreaterThanOrEqual(4);
    const names: Record<string, string> = {
      T4: "nvidia-tesla-t4",
      L4: "nvidia-l4",
      "A100 40GB": "nvidia-tesla-a100",
    };
    for (const row of rows) {
      const [machine, gpu, spotHourly, onDemandHourly, spot, onDemand, fallback] = row
        .split("|")
        .slice(1, -1)
        .map((cell) => cell.trim());
      const [, count, model] = /^(\d+) × (.+)$/.exec(gpu) ?? [];
      const gpus = { type: names[model], count: Number(count) };
      const estimate = estimateMonthlyCost(machine, "spot", GPU_DEFAULT_DISK_GB, true, gpus);
      expect([spot, onDemand, fallback].map(Number)).toEqual([
        estimate.monthlyUsd,
        estimate.onDemandMonthlyUsd,
        estimate.fallbackExtraUsdPerDay,
      ]);
      const hourly = (provisioning: "spot" | "standard") =>
        (estimateMonthlyCost(machine, provisioning, 0, true, gpus).monthlyUsd! - 0.005 * 730) / 730;
      expect(Number(spotHourly)).toBeCloseTo(hourly("spot"), 2);
      expect(Number(onDemandHourly)).toBeCloseTo(hourly("standard"), 2);
    }
    expect(section).toContain(`list prices read ${GPU_PRICE_DATE}`);
  });
});

describe("a GPU deployment under Pulumi mocks", () => {
  it("attaches a T4 to an N1 VM that stops on host maintenance even on demand, with a bigger disk and a longer wait", async () => {
    const m = await deploy("tfour", { accelerator: { type: "nvidia-tesla-t4" }, provisioning: "standard" });
    const instance = m.child("gcp:compute/instance:Instance", "instance").inputs;
    expect(instance.machineType).toBe("n1-standard-4");
    expect(instance.guestAccelerators).toEqual([{ type: "nvidia-tesla-t4", count: 1 }]);
    expect(instance.scheduling).toEqual({
      provisioningModel: "STANDARD",
      preemptible: false,
      automaticRestart: true,
      onHostMaintenance: "TERMINATE",
    });
    expect(instance.bootDisk.initializeParams.size).toBe(50);
    expect(instance.metadata["budget-accelerator"]).toBe("nvidia-tesla-t4:1");
    expect(m.child("command:local:Command", "wait-healthy").inputs.environment.BUDGET_WAIT_SECONDS).toBe("1800");
    expect(await value(m.model.monthlyCost)).toMatchObject({ monthlyUsd: 402.85, fallbackExtraUsdPerDay: 0 });
  }, 60_000);

  it("declares a G2 VM without attached GPUs (it carries its L4), spot, with the fallback on", async () => {
    const m = await deploy("lfour", { machineType: "g2-standard-4", diskSizeGb: 80 });
    const instance = m.child("gcp:compute/instance:Instance", "instance").inputs;
    expect(instance.guestAccelerators).toBeUndefined();
    expect(instance.scheduling).toMatchObject({ provisioningModel: "SPOT", onHostMaintenance: "TERMINATE" });
    expect(instance.bootDisk.initializeParams.size).toBe(80);
    expect(instance.metadata["budget-accelerator"]).toBe("nvidia-l4:1");
    const env = m.child("gcp:cloudfunctionsv2/function:Function", "restarter").inputs.serviceConfig
      .environmentVariables;
    expect(env.BUDGET_SPOT_FALLBACK_SECONDS).toBe("600");
    expect(await value(m.model.monthlyCost)).toMatchObject({ onDemandMonthlyUsd: 527.64 });
  }, 60_000);

  it("turns the spot fallback off for a machine type Google offers only as Spot VMs", async () => {
    const m = await deploy("hundred", { machineType: "a3-highgpu-1g", zone: "us-central1-a" });
    const env = m.child("gcp:cloudfunctionsv2/function:Function", "restarter").inputs.serviceConfig
      .environmentVariables;
    expect(env.BUDGET_SPOT_FALLBACK_SECONDS).toBe("0");
    expect(m.child("gcp:compute/instance:Instance", "instance").inputs.metadata["budget-accelerator"]).toBe(
      "nvidia-h100-80gb:1",
    );
  }, 60_000);

  it("declares no GPU at all without one: no accelerator metadata, the CPU defaults", async () => {
    const m = await deploy("cpu");
    const instance = m.child("gcp:compute/instance:Instance", "instance").inputs;
    expect(instance.guestAccelerators).toBeUndefined();
    expect(instance.metadata["budget-accelerator"]).toBeUndefined();
    expect(instance.bootDisk.initializeParams.size).toBe(20);
    expect(m.child("command:local:Command", "wait-healthy").inputs.environment.BUDGET_WAIT_SECONDS).toBe("900");
  }, 60_000);
});
