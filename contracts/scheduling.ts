// The contract between the component that creates the instance, the restarter that may switch
// its provisioning, and the Compute stand-in that starts it: the scheduling block per model.

/** How an instance is provisioned. */
export type Provisioning = "spot" | "preemptible" | "standard";

/** The instance's `scheduling` block as the Compute API takes it (the fields budgetml sets). */
export interface Scheduling {
  provisioningModel?: string;
  preemptible?: boolean;
  automaticRestart?: boolean;
  onHostMaintenance?: string;
  instanceTerminationAction?: string;
}

/**
 * The scheduling block for a provisioning model, as the Compute API accepts it. One definition for
 * the component that creates the instance, the restarter that may switch it, and the Compute
 * stand-in that checks what it is sent.
 */
export function schedulingFor(provisioning: Provisioning): Scheduling {
  switch (provisioning) {
    case "spot":
      // STOP (not DELETE) keeps the boot disk, so a restart only starts services.
      return {
        provisioningModel: "SPOT",
        preemptible: true,
        automaticRestart: false,
        onHostMaintenance: "TERMINATE",
        instanceTerminationAction: "STOP",
      };
    case "preemptible":
      // Legacy preemptible VMs carry no provisioningModel: the API rejects STANDARD with preemptible
      // ("For preemptible, only allowed provisioning_model value is SPOT"), and SPOT would make it a
      // Spot VM. Compute docs, "Preemptible VM instances" / "Spot VMs": a VM whose provisioningModel
      // is omitted and whose preemptible is true is a preemptible VM.
      return { preemptible: true, automaticRestart: false, onHostMaintenance: "TERMINATE" };
    case "standard":
      return {
        provisioningModel: "STANDARD",
        preemptible: false,
        automaticRestart: true,
        onHostMaintenance: "MIGRATE",
      };
  }
}

/**
 * Google's refusals of a scheduling block, in the API's own words (`field` is the path the API
 * names: `resource.scheduling` on insert, `resource` on setScheduling). Empty when Google accepts it.
 */
export function schedulingRefusals(scheduling: Scheduling, field = "resource.scheduling"): string[] {
  const refusals: string[] = [];
  const preemptible = scheduling.preemptible === true || scheduling.provisioningModel === "SPOT";
  if (scheduling.provisioningModel !== undefined && !["SPOT", "STANDARD"].includes(scheduling.provisioningModel)) {
    refusals.push(`Invalid value for field '${field}.provisioningModel': '${scheduling.provisioningModel}'.`);
  }
  if (scheduling.preemptible === true && scheduling.provisioningModel === "STANDARD") {
    refusals.push(
      `Invalid value for field '${field}.provisioningModel': 'STANDARD'. For preemptible, only allowed provisioning_model value is SPOT`,
    );
  }
  if (preemptible && scheduling.automaticRestart === true) {
    refusals.push(
      `Invalid value for field '${field}.preemptible': 'true'. Scheduling must have preemptible be false when AutomaticRestart is true.`,
    );
  }
  if (preemptible && scheduling.onHostMaintenance !== undefined && scheduling.onHostMaintenance !== "TERMINATE") {
    refusals.push(
      `Invalid value for field '${field}.preemptible': 'true'. Scheduling must have preemptible be false when OnHostMaintenance isn't TERMINATE.`,
    );
  }
  return refusals;
}
