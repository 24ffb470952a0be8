import { InstancesClient } from "@google-cloud/compute";
import {
  checkFunctionRuntime,
  esbuildTargetFor,
  FUNCTION_RUNTIMES,
  RESTARTER_RUNTIME,
} from "../../functions/functionRuntimes";
import { schedulingFor, schedulingRefusals, schedulingSwitch, type Provisioning } from "../../contracts/scheduling";
import { createComputeClients } from "../../functions/restarter/computeClients";
import { startComputeServer, SimulatedInstance } from "../../local/standins/computeServer";
import { startMetadataServer } from "../../local/standins/metadataServer";
import { validateArgs } from "../../components/args/validateArgs";
import { join } from "node:path";

const day = (iso: string) => new Date(`${iso}T12:00:00Z`);

describe("Cloud Run functions runtimes (functions/functionRuntimes.ts)", () => {
  it("uses nodejs24 for the restarter, GA and not decommissioned before 2028-10-31", () => {
    expect(RESTARTER_RUNTIME).toBe("nodejs24");
    expect(FUNCTION_RUNTIMES.find((r) => r.id === "nodejs24")).toMatchObject({ decommission: "2028-10-31" });
    expect(esbuildTargetFor(RESTARTER_RUNTIME)).toBe("node24");
  });

  it("refuses a runtime from its decommission date on, in Google's words", () => {
    expect(checkFunctionRuntime("nodejs20", day("2026-10-29")).ok).toBe(true);
    const refused = checkFunctionRuntime("nodejs20", day("2026-10-30"));
    expect(refused).toEqual({
      ok: false,
      error: expect.stringMatching(
        /^Runtime nodejs20 is decommissioned and no longer allowed \(since 2026-10-30\)\. Please use the latest Node\.js runtime for Cloud Functions: nodejs24/,
      ),
    });
  });

  it("warns within 180 days of a decommission date, not before", () => {
    expect(checkFunctionRuntime("nodejs22", day("2027-05-03"))).toEqual({
      ok: true,
      runtime: expect.objectContaining({ id: "nodejs22" }),
    });
    const warned = checkFunctionRuntime("nodejs22", day("2027-05-04"));
    expect(warned.ok && warned.warning).toMatch(/^Runtime nodejs22 is decommissioned on 2027-10-31 \(in 180 days\)/);
  });

  it("makes preview warn (and still pass) for the default runtime near its end, and fail after it", () => {
    const args = {
      predictor: join(__dirname, "..", "..", "examples", "sentiment", "predictor.ts"),
      zone: "us-central1-a",
      region: "us-central1",
    };
    expect(validateArgs("m", args, day("2026-11-25"))).toEqual([]);
    expect(validateArgs("m", args, day("2028-06-01"))).toEqual([
      expect.stringMatching(/^functionRuntime: Runtime nodejs24 is decommissioned on 2028-10-31/),
    ]);
    expect(() => validateArgs("m", args, day("2028-10-31"))).toThrow(
      /functionRuntime: Runtime nodejs24 is decommissioned and no longer allowed/,
    );
  });

  it("refuses preview and unknown runtimes", () => {
    expect(checkFunctionRuntime("nodejs26", day("2026-11-25"))).toEqual({
      ok: false,
      error: expect.stringMatching(/^Runtime nodejs26 is in Preview/),
    });
    expect(checkFunctionRuntime("nodejs99", day("2026-11-25"))).toEqual({
      ok: false,
      error: expect.stringMatching(/^Runtime nodejs99 is not supported/),
    });
  });
});

describe("instance scheduling as the Compute API accepts it (contracts/scheduling.ts)", () => {
  it.each<Provisioning>(["spot", "preemptible", "standard"])(
    "declares %s scheduling that Google accepts",
    (provisioning) => {
      expect(schedulingRefusals(schedulingFor(provisioning))).toEqual([]);
    },
  );

  it("refuses what Google refuses, with Google's messages", () => {
    expect(
      schedulingRefusals({
        provisioningModel: "STANDARD",
        preemptible: true,
        automaticRestart: false,
        onHostMaintenance: "TERMINATE",
      }),
    ).toEqual([
      "Invalid value for field 'resource.scheduling.provisioningModel': 'STANDARD'. For preemptible, only allowed provisioning_model value is SPOT",
    ]);
    expect(
      schedulingRefusals({ provisioningModel: "SPOT", automaticRestart: true, onHostMaintenance: "MIGRATE" }),
    ).toEqual([
      "Invalid value for field 'resource.scheduling.preemptible': 'true'. Scheduling must have preemptible be false when AutomaticRestart is true.",
      "Invalid value for field 'resource.scheduling.preemptible': 'true'. Scheduling must have preemptible be false when OnHostMaintenance isn't TERMINATE.",
    ]);
  });

  it("makes the Compute stand-in refuse an illegal setScheduling, as Google does, and accept a legal one", async () => {
    const metadata = await startMetadataServer({ projectId: "budget-proj" });
    const backend = new SimulatedInstance(10);
    backend.set("TERMINATED");
    const compute = await startComputeServer({
      project: "budget-proj",
      zone: "us-central1-a",
      instance: "vm",
      backend,
    });
    const previousHost = process.env.GCE_METADATA_HOST;
    process.env.GCE_METADATA_HOST = metadata.host;
    try {
      const url = new URL(compute.url);
      const client = new InstancesClient({ apiEndpoint: url.hostname, port: Number(url.port), protocol: "http" });
      const target = { project: "budget-proj", zone: "us-central1-a", instance: "vm" };
      await expect(
        client.setScheduling({
          ...target,
          schedulingResource: {
            provisioningModel: "STANDARD",
            preemptible: true,
            automaticRestart: false,
            onHostMaintenance: "TERMINATE",
          },
        }),
      ).rejects.toThrow(/For preemptible, only allowed provisioning_model value is SPOT/);
      const [instance] = await client.get(target);
      expect(instance.scheduling?.provisioningModel).toBe("SPOT"); // unchanged by the refused call
      // Legal once the spot VM's termination action is cleared (see tests/standins/computeServer.test.ts).
      await createComputeClients(url).setScheduling(target, schedulingSwitch("standard"));
      const [after] = await client.get(target);
      expect(after.scheduling?.provisioningModel).toBe("STANDARD");
      await client.close();
    } finally {
      if (previousHost === undefined) delete process.env.GCE_METADATA_HOST;
      else process.env.GCE_METADATA_HOST = previousHost;
      backend.dispose();
      await compute.close();
      await metadata.close();
    }
  });

  it("will not stand in for an instance Google would never have created", async () => {
    const backend = new SimulatedInstance(10);
    await expect(
      startComputeServer({
        project: "p",
        zone: "us-central1-a",
        instance: "vm",
        backend,
        scheduling: { provisioningModel: "STANDARD", preemptible: true },
      }),
    ).rejects.toThrow(
      /Compute stand-in: Invalid value for field 'resource\.scheduling\.provisioningModel': 'STANDARD'/,
    );
  });
});
