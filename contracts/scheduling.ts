// The contract between the component that creates the instance, the restarter that may switch
// its provisioning, and the Compute stand-in that starts it: the scheduling block per model, how
// `instances.setScheduling` changes it, and the labels that say what the instance runs as.

/** How an instance is provisioned. */
export type Provisioning = "spot" | "preemptible" | "standard";

/** The models the restarter switches between (a legacy preemptible VM is never switched to: see {@link satisfies}). */
export type SwitchTarget = "spot" | "standard";

/** The instance's `scheduling` block as the Compute API takes it (the fields budgetml sets). */
export interface Scheduling {
  provisioningModel?: string;
  preemptible?: boolean;
  automaticRestart?: boolean;
  onHostMaintenance?: string;
  instanceTerminationAction?: string;
}

/**
 * A body for `instances.setScheduling`: a field left out stays as it is, `null` clears it. That is
 * how gcloud's `compute instances set-scheduling` talks to the API: it sends only the flags given,
 * and for `--clear-instance-termination-action` an explicit null (apitools' `IncludeFields`) —
 * /usr/lib/google-cloud-sdk/lib/surface/compute/instances/set_scheduling.py.
 */
export type SchedulingUpdate = { [K in keyof Scheduling]?: Scheduling[K] | null };

/**
 * The label the restarter keeps on the instance: the provisioning model it runs as (or is being
 * switched to). The component sets it at creation, the restarter after every switch.
 */
export const PROVISIONING_LABEL = "budgetml-provisioning";

/** The label that marks an instance switched to standard for lack of spot capacity, and since when (epoch s). */
export const FALLBACK_LABEL = "budgetml-fallback-since";

/** What about the VM itself changes its scheduling: whether it has GPUs. @default none */
export interface SchedulingHardware {
  gpus?: boolean;
}

/**
 * The scheduling block for a provisioning model, as the Compute API accepts it. One definition for
 * the component that creates the instance, the restarter that may switch it, and the Compute
 * stand-in that checks what it is sent. A VM with GPUs cannot live-migrate, whatever its model:
 * "Instances with guest accelerators do not support live migration" (see {@link liveMigrationRefusal}),
 * so a standard one stops on host maintenance too (and restarts by itself afterwards).
 */
export function schedulingFor(provisioning: Provisioning, hardware: SchedulingHardware = {}): Scheduling {
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
        onHostMaintenance: hardware.gpus ? "TERMINATE" : "MIGRATE",
      };
  }
}

/**
 * The `setScheduling` body that turns an instance of any model into `target`: every field
 * {@link schedulingFor} sets, and an explicit null for a field the target must not have. A spot
 * VM's `instanceTerminationAction: STOP` survives a body that leaves it out, and Google refuses it
 * on a standard VM ("You cannot specify a termination action for a VM instance that has the
 * standard provisioning model"): gcloud's `--clear-instance-termination-action` exists for this
 * ("required when you are updating a VM such that its previously specified termination action is
 * no longer allowed", command_lib/compute/instances/flags.py).
 */
export function schedulingSwitch(target: SwitchTarget, hardware: SchedulingHardware = {}): SchedulingUpdate {
  const wanted = schedulingFor(target, hardware);
  return { ...wanted, instanceTerminationAction: wanted.instanceTerminationAction ?? null };
}

/**
 * What `setScheduling` leaves on the instance: the fields the body names are set (or cleared by
 * `null`), every other field stays as it was (set_scheduling.py sends only what is given).
 */
export function mergeScheduling(current: Scheduling, update: SchedulingUpdate): Scheduling {
  const merged: Record<string, unknown> = { ...current };
  for (const [field, value] of Object.entries(update)) {
    if (value === null) delete merged[field];
    else if (value !== undefined) merged[field] = value;
  }
  return merged as Scheduling;
}

/** The provisioning model a scheduling block describes (no model and preemptible: a legacy preemptible VM). */
export function provisioningOf(scheduling: Scheduling): Provisioning {
  if (scheduling.provisioningModel === "SPOT") return "spot";
  if (scheduling.provisioningModel === undefined && scheduling.preemptible === true) return "preemptible";
  return "standard";
}

/**
 * Whether an instance running as `live` serves a declaration of `declared`. A spot VM serves a
 * declared `preemptible`: same price and preemption, without the 24 h limit. The API cannot turn
 * an existing VM into a legacy preemptible one (gcloud's set-scheduling has no flag that clears a
 * provisioning model), so the restarter never tries.
 */
export function satisfies(live: Provisioning, declared: Provisioning): boolean {
  return live === declared || (declared === "preemptible" && live === "spot");
}

/** The model the restarter switches to for a declaration: a legacy preemptible declaration is served by spot. */
export function switchTargetFor(declared: Provisioning): SwitchTarget {
  return declared === "standard" ? "standard" : "spot";
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
  // The API's words, as reported against instance inserts (e.g. cloudpilot-ai/karpenter-provider-gcp#155,
  // GoogleCloudPlatform/cluster-toolkit#4435); a missing provisioningModel is the standard default.
  if (scheduling.instanceTerminationAction !== undefined && scheduling.provisioningModel !== "SPOT") {
    refusals.push(
      `Invalid value for field '${field}.instanceTerminationAction': '${scheduling.instanceTerminationAction}'. You cannot specify a termination action for a VM instance that has the standard provisioning model (default). To use instance termination action, the VM instance must use the Spot, Reservation-Bound or Flex Start provisioning model.`,
    );
  }
  return refusals;
}

/**
 * Google's refusal of a scheduling block for a VM with GPUs that would live-migrate on host
 * maintenance (`onHostMaintenance` MIGRATE, the standard model's default when left out), in the
 * API's words: "Instances with guest accelerators do not support live migration." (error 400,
 * reason badRequest, as reported against instance inserts with GPUs: openshift/release#63296,
 * GoogleCloudPlatform/python-docs-samples#10272; Google's "Add or remove GPUs": a VM with GPUs
 * must be set to terminate on host maintenance, it cannot be live-migrated). Undefined when accepted.
 */
export function liveMigrationRefusal(scheduling: Scheduling, hardware: SchedulingHardware): string | undefined {
  if (!hardware.gpus || (scheduling.onHostMaintenance ?? "MIGRATE") === "TERMINATE") return undefined;
  return "Instances with guest accelerators do not support live migration.";
}

/** A daily window in UTC, in minutes after midnight; it may wrap past midnight (`22:00-02:00`). */
export interface UtcWindow {
  startMinute: number;
  endMinute: number;
}

/** When the restarter may try a running on-demand fallback back on spot, unless told otherwise (UTC). */
export const DEFAULT_SPOT_RETURN_WINDOW = "03:00-05:00";

const WINDOW = /^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$/;

/** Why `text` is not a window `HH:MM-HH:MM` (UTC), if it is not. */
export function utcWindowProblem(text: string): string | undefined {
  const match = WINDOW.exec(text);
  if (!match) return `"${text}" is not a UTC window like "03:00-05:00" (HH:MM-HH:MM, 24-hour clock)`;
  if (match[1] === match[3] && match[2] === match[4]) return `"${text}" is an empty window: start and end are equal`;
  return undefined;
}

/** Parses `HH:MM-HH:MM` (UTC); throws the problem for anything else. */
export function parseUtcWindow(text: string): UtcWindow {
  const problem = utcWindowProblem(text);
  if (problem) throw new Error(problem);
  const [, startH, startM, endH, endM] = WINDOW.exec(text) as RegExpExecArray;
  return { startMinute: Number(startH) * 60 + Number(startM), endMinute: Number(endH) * 60 + Number(endM) };
}

/** Whether the instant `epochMs` falls in the window (start included, end excluded). */
export function inUtcWindow(window: UtcWindow, epochMs: number): boolean {
  const date = new Date(epochMs);
  const minute = date.getUTCHours() * 60 + date.getUTCMinutes();
  return window.startMinute < window.endMinute
    ? minute >= window.startMinute && minute < window.endMinute
    : minute >= window.startMinute || minute < window.endMinute;
}

/**
 * What the metadata server shows a VM of its scheduling, under `instance/scheduling/`
 * (https://cloud.google.com/compute/docs/metadata/predefined-metadata-keys: `preemptible`,
 * `automatic-restart`, `on-host-maintenance`). Google's own ClusterFuzz also reads
 * `provisioning-model` to tell a Spot VM, and tolerates either key being absent
 * (google/clusterfuzz src/clusterfuzz/_internal/google_cloud_utils/compute_metadata.py,
 * `is_preemptible`). The metadata stand-in serves these keys; the VM's boot reads them back with
 * {@link provisioningFromMetadata}.
 */
export function schedulingMetadata(scheduling: Scheduling): Record<string, string> {
  const flag = (value: boolean | undefined) => (value ? "TRUE" : "FALSE");
  return {
    preemptible: flag(scheduling.preemptible ?? scheduling.provisioningModel === "SPOT"),
    "automatic-restart": flag(scheduling.automaticRestart),
    "on-host-maintenance": scheduling.onHostMaintenance ?? "MIGRATE",
    ...(scheduling.provisioningModel ? { "provisioning-model": scheduling.provisioningModel } : {}),
  };
}

/**
 * The model a VM runs as, from its `instance/scheduling/provisioning-model` (absent on some VMs)
 * and `instance/scheduling/preemptible` keys: SPOT is spot; preemptible without SPOT is a legacy
 * preemptible VM; anything else is standard.
 */
export function provisioningFromMetadata(keys: { provisioningModel?: string; preemptible?: string }): Provisioning {
  if (keys.provisioningModel === "SPOT") return "spot";
  return keys.preemptible === "TRUE" ? "preemptible" : "standard";
}
