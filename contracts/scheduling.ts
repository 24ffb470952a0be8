// The contract between the component that creates the instance, the restarter that may switch
// its provisioning, and the Compute stand-in that starts it: the scheduling block per model.

/** How an instance is provisioned. */
export type Provisioning = "spot" | "preemptible" | "standard";

/**
 * The scheduling block for a provisioning model, as the Compute API accepts it. One definition for
 * the component that creates the instance and the restarter that may switch it.
 */
export function schedulingFor(provisioning: Provisioning) {
  switch (provisioning) {
    case "spot":
      // STOP (not DELETE) keeps the boot disk, so a restart only starts services.
      return { provisioningModel: "SPOT", preemptible: true, automaticRestart: false, onHostMaintenance: "TERMINATE", instanceTerminationAction: "STOP" };
    case "preemptible":
      return { provisioningModel: "STANDARD", preemptible: true, automaticRestart: false, onHostMaintenance: "TERMINATE" };
    case "standard":
      return { provisioningModel: "STANDARD", preemptible: false, automaticRestart: true, onHostMaintenance: "MIGRATE" };
  }
}
