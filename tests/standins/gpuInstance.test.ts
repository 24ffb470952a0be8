import { InstancesClient } from "@google-cloud/compute";
import { schedulingFor, schedulingSwitch, type Scheduling } from "../../contracts/scheduling";
import type { Gpus } from "../../contracts/accelerators";
import { createComputeClients } from "../../functions/restarter/computeClients";
import { startComputeServer, SimulatedInstance } from "../../local/standins/computeServer";
import { useMetadataStandIn } from "../support/metadataStandIn";

// The Compute stand-in with a VM that has GPUs must refuse what Google refuses of one: GPUs on a
// machine type they do not attach to or in counts Google does not offer, in a zone that does not
// offer them, and — on creation and on every later setScheduling — live migration, in Google's words.
const PROJECT = "budget-proj";
const ZONE = "us-central1-a";
const target = { project: PROJECT, zone: ZONE, instance: "gpu-vm" };

useMetadataStandIn({ projectId: PROJECT });

async function standIn(options: {
  machineType: string;
  guestAccelerators?: Gpus[];
  scheduling?: Scheduling;
  zone?: string;
  now?: () => Date;
}) {
  const backend = new SimulatedInstance(10);
  backend.set("TERMINATED");
  const compute = await startComputeServer({ ...target, backend, ...options });
  const url = new URL(compute.url);
  const instances = new InstancesClient({ apiEndpoint: url.hostname, port: Number(url.port), protocol: "http" });
  return {
    compute,
    instances,
    restarter: createComputeClients(url),
    read: async () => (await instances.get(target))[0],
    close: async () => {
      backend.dispose();
      await instances.close();
      await compute.close();
    },
  };
}

const t4: Gpus[] = [{ type: "nvidia-tesla-t4", count: 1 }];

describe("a VM with GPUs behind the Compute stand-in", () => {
  it("refuses to be created as Google refuses: GPUs on the wrong machine type, or live migration", async () => {
    await expect(standIn({ machineType: "e2-small", guestAccelerators: t4 })).rejects.toThrow(
      "Compute stand-in: [e2-small, nvidia-tesla-t4] features are not compatible for creating instance.",
    );
    await expect(
      standIn({ machineType: "n1-standard-4", guestAccelerators: t4, scheduling: schedulingFor("standard") }),
    ).rejects.toThrow("Compute stand-in: Instances with guest accelerators do not support live migration.");
    // A G2 machine type carries its L4: the same rule holds without guestAccelerators.
    await expect(standIn({ machineType: "g2-standard-4", scheduling: schedulingFor("standard") })).rejects.toThrow(
      "Instances with guest accelerators do not support live migration.",
    );
    const ok = await standIn({
      machineType: "g2-standard-4",
      scheduling: schedulingFor("standard", { gpus: true }),
    });
    await ok.close();
  });

  it("refuses a GPU count Google does not offer, too many vCPUs beside it, and a zone without the GPU", async () => {
    await expect(
      standIn({ machineType: "n1-standard-4", guestAccelerators: [{ type: "nvidia-tesla-t4", count: 3 }] }),
    ).rejects.toThrow(
      "Compute stand-in: Invalid value for field 'resource.guestAccelerators[0].acceleratorCount': '3'. nvidia-tesla-t4 attaches to N1 in counts of 1, 2 or 4.",
    );
    await expect(standIn({ machineType: "n1-standard-64", guestAccelerators: t4 })).rejects.toThrow(
      "Compute stand-in: Invalid value for field 'resource.guestAccelerators[0].acceleratorCount': '1'. At most 48 vCPUs can be used along with 1 accelerator cards in an instance.",
    );
    // us-central1-d offers neither a T4 nor an L4 (contracts/gpuZones.ts): Google finds no such resource there.
    const onTableDay = () => new Date("2026-12-06T12:00:00Z");
    await expect(
      standIn({ machineType: "n1-standard-4", guestAccelerators: t4, zone: "us-central1-d", now: onTableDay }),
    ).rejects.toThrow(
      "Compute stand-in: The resource 'projects/budget-proj/zones/us-central1-d/acceleratorTypes/nvidia-tesla-t4' was not found",
    );
    await expect(standIn({ machineType: "g2-standard-4", zone: "us-central1-d", now: onTableDay })).rejects.toThrow(
      "Compute stand-in: The resource 'projects/budget-proj/zones/us-central1-d/machineTypes/g2-standard-4' was not found",
    );
    // Once the table is old, Google may offer the GPU there since: the stand-in no longer refuses on it.
    const yearsLater = await standIn({
      machineType: "n1-standard-4",
      guestAccelerators: t4,
      zone: "us-central1-d",
      now: () => new Date("2028-01-01T00:00:00Z"),
    });
    await yearsLater.close();
    const accepted = await standIn({
      machineType: "n1-standard-8",
      guestAccelerators: [{ type: "nvidia-tesla-t4", count: 2 }],
      now: onTableDay,
    });
    await accepted.close();
  });

  it("refuses a switch to standard that would live-migrate, and takes the one that keeps TERMINATE", async () => {
    const s = await standIn({ machineType: "n1-standard-4", guestAccelerators: t4 });
    try {
      await expect(s.restarter.setScheduling(target, schedulingSwitch("standard"))).rejects.toMatchObject({
        code: 400,
        message: expect.stringContaining("Instances with guest accelerators do not support live migration."),
      });
      expect(s.compute.scheduling).toEqual(schedulingFor("spot"));
      await s.restarter.setScheduling(target, schedulingSwitch("standard", { gpus: true }));
      expect((await s.read()).scheduling).toMatchObject(schedulingFor("standard", { gpus: true }));
      // Later changes too: Google's client asking for MIGRATE on the standard GPU VM is refused.
      await expect(
        s.instances.setScheduling({ ...target, schedulingResource: { onHostMaintenance: "MIGRATE" } }),
      ).rejects.toThrow("Instances with guest accelerators do not support live migration.");
      expect(s.compute.scheduling).toEqual(schedulingFor("standard", { gpus: true }));
    } finally {
      await s.close();
    }
  }, 90_000);

  it("describes its machine type and GPUs as instances.get does, for the restarter to see them", async () => {
    const s = await standIn({ machineType: "n1-standard-4", guestAccelerators: t4 });
    try {
      const read = await s.read();
      expect(read.machineType).toMatch(/\/zones\/us-central1-a\/machineTypes\/n1-standard-4$/);
      expect(read.guestAccelerators).toEqual([
        expect.objectContaining({
          acceleratorType: expect.stringMatching(/\/zones\/us-central1-a\/acceleratorTypes\/nvidia-tesla-t4$/),
          acceleratorCount: 1,
        }),
      ]);
    } finally {
      await s.close();
    }
  });
});
