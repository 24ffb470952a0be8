import { schedulingFor } from "../../contracts/scheduling";
import type { Gpus } from "../../contracts/accelerators";
import { createComputeClients } from "../../functions/restarter/computeClients";
import { readRestarterConfig } from "../../functions/restarter/config";
import { keepInstanceRunning } from "../../functions/restarter/keepRunning";
import { startComputeServer, SimulatedInstance } from "../../local/standins/computeServer";
import { createLogger } from "../../contracts/cloudLogging";
import { testClock } from "../support/testClock";
import { useMetadataStandIn } from "../support/metadataStandIn";
import { waitFor } from "../support/waitFor";

// GPU spot capacity is the scarcest: the restarter's fallback to standard must work for a VM with
// GPUs, whose standard scheduling still stops on host maintenance (Google refuses live migration
// for it) — learnt from the instance itself, attached GPUs or a machine type that carries them.
const PROJECT = "budget-proj";
const ZONE = "us-central1-a";

useMetadataStandIn({ projectId: PROJECT });

const machines: Array<{ what: string; machineType: string; guestAccelerators?: Gpus[] }> = [
  {
    what: "an N1 VM with a T4",
    machineType: "n1-standard-4",
    guestAccelerators: [{ type: "nvidia-tesla-t4", count: 1 }],
  },
  { what: "a G2 VM (its L4 comes with the machine type)", machineType: "g2-standard-4" },
];

describe.each(machines)("the spot fallback for $what", ({ machineType, guestAccelerators }) => {
  it("switches it to standard without live migration after 10 minutes without capacity, and back to spot after 6 hours", async () => {
    const clock = testClock();
    const vm = new SimulatedInstance(20, clock.now);
    let spotCapacity = false;
    const instance = `gpu-${machineType}`;
    const compute = await startComputeServer({
      project: PROJECT,
      zone: ZONE,
      instance,
      backend: vm,
      machineType,
      guestAccelerators,
      scheduling: schedulingFor("spot", { gpus: true }),
      spotCapacity: () => spotCapacity,
    });
    const clients = createComputeClients(new URL(compute.url));
    const config = readRestarterConfig({
      BUDGET_PROJECT: PROJECT,
      BUDGET_ZONE: ZONE,
      BUDGET_INSTANCE: instance,
      BUDGET_COMPUTE_ENDPOINT: compute.url,
      BUDGET_RESTART_BUDGET_SECONDS: "30", // wall-clock: a first call fetches a token, slow on a loaded machine
      BUDGET_RESTART_BACKOFF_MS: "50",
    });
    const errors: string[] = [];
    const logger = createLogger({
      level: "error",
      destination: { write: (line: string) => void errors.push(JSON.parse(line).message) },
    });
    try {
      vm.set("TERMINATED");
      clock.advance(11 * 60_000); // down 11 minutes for lack of spot capacity
      expect(await keepInstanceRunning(clients, config, logger, clock)).toMatchObject({
        did: "started",
        switched: [{ to: "standard", why: "no_spot_capacity" }],
      });
      expect(errors).toEqual([]);
      expect(compute.scheduling).toEqual(schedulingFor("standard", { gpus: true }));
      await waitFor(() => vm.facts().status === "RUNNING", { timeoutMs: 5000, intervalMs: 10 });

      spotCapacity = true;
      clock.advance(6 * 60 * 60_000); // its first stop six hours later returns it to spot
      vm.set("TERMINATED");
      expect(await keepInstanceRunning(clients, config, logger, clock)).toMatchObject({
        did: "started",
        switched: [{ to: "spot", why: "return" }],
      });
      expect(compute.scheduling).toEqual(schedulingFor("spot", { gpus: true }));
    } finally {
      vm.dispose();
      await compute.close();
    }
  }, 90_000);
});
