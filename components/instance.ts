import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import { packageRoot } from "../bundles/packageRoot";
import { childOptions, type ModelContext } from "./context";
import { FALLBACK_LABEL, PROVISIONING_LABEL, schedulingFor } from "../contracts/scheduling";
import { SHUTDOWN_SCRIPT_KEY, STARTUP_SCRIPT_KEY } from "../contracts/instanceMetadata";
import { ACCELERATOR_MACHINE_TYPES, type Gpus } from "../contracts/accelerators";

/** What the instance is told through its metadata (names only: no secret value). */
export interface InstanceSettings {
  machineType: string;
  /** The VM's GPUs: attached (N1) or carried by the machine type (G2, A2, A3); undefined for none. */
  gpus?: Gpus;
  diskSizeGb: number;
  provisioning: "spot" | "preemptible" | "standard";
  serviceAccountEmail: pulumi.Output<string>;
  ipAddress: pulumi.Output<string>;
  tag: pulumi.Output<string>;
  metadata: Record<string, pulumi.Input<string>>;
  /** VPC network and (optional) subnetwork of the instance's interface. */
  network: pulumi.Input<string>;
  subnetwork: pulumi.Input<string> | undefined;
  /** false: the model is parked, the instance kept stopped (TERMINATED). */
  running: boolean;
  /** What the first boot reads: grants on the bucket, secrets and topic, and the secret versions. */
  bootNeeds: pulumi.Resource[];
}

/**
 * Metadata as the instance gets it: keys with an empty plain value are left out, so the boot
 * sees "not set" rather than an empty string (and the metadata diff stays small).
 */
export function metadataWithoutEmpty(
  metadata: Record<string, pulumi.Input<string>>,
): Record<string, pulumi.Input<string>> {
  return Object.fromEntries(Object.entries(metadata).filter(([, value]) => value !== "" && value !== undefined));
}

const bootScript = (file: string) => readFileSync(join(packageRoot(), "images", "vm", file), "utf8");

/**
 * What a budgetml VM boots as, whether an instance or a group's template makes it: its account
 * (the cloud-platform scope; its roles limit it), scheduling, network tag, labels, and the
 * metadata holding the startup and shutdown scripts beside the boot's configuration.
 */
export function vmBootProperties(
  ctx: ModelContext,
  settings: Pick<InstanceSettings, "serviceAccountEmail" | "provisioning" | "tag" | "metadata" | "gpus">,
) {
  return {
    serviceAccount: {
      email: settings.serviceAccountEmail,
      scopes: ["https://www.googleapis.com/auth/cloud-platform"],
    },
    // A VM with GPUs never live-migrates (contracts/scheduling.ts).
    scheduling: schedulingFor(settings.provisioning, { gpus: settings.gpus !== undefined }),
    tags: [settings.tag],
    labels: ctx.labels,
    metadata: metadataWithoutEmpty({
      [STARTUP_SCRIPT_KEY]: bootScript("startup.sh"),
      [SHUTDOWN_SCRIPT_KEY]: bootScript("shutdown.sh"),
      ...settings.metadata,
    }),
  };
}

/**
 * The VM: Debian 12 on the chosen machine (with its GPUs), its boot disk kept across preemptions
 * (spot instances STOP rather than delete), the startup script that brings the runtime up behind
 * HTTPS, and the shutdown script that signals the restart topic and drains.
 */
export function declareInstance(ctx: ModelContext, settings: InstanceSettings): gcp.compute.Instance {
  return new gcp.compute.Instance(
    `${ctx.name}-instance`,
    {
      name: pulumi.interpolate`budgetml-${ctx.slug}-${ctx.suffix}`,
      project: ctx.project,
      zone: ctx.zone,
      machineType: settings.machineType,
      bootDisk: {
        initializeParams: {
          image: "debian-cloud/debian-12",
          size: settings.diskSizeGb,
          type: "pd-balanced",
          labels: ctx.labels,
        },
      },
      networkInterfaces: [
        {
          network: settings.network,
          ...(settings.subnetwork ? { subnetwork: settings.subnetwork } : {}),
          accessConfigs: [{ natIp: settings.ipAddress }],
        },
      ],
      ...vmBootProperties(ctx, settings),
      // Attached GPUs only: a G2/A2/A3 machine type brings its own.
      ...(settings.gpus && !ACCELERATOR_MACHINE_TYPES[settings.machineType]
        ? { guestAccelerators: [{ type: settings.gpus.type, count: settings.gpus.count }] }
        : {}),
      // The restarter keeps this label on the instance (contracts/scheduling.ts).
      labels: { ...ctx.labels, [PROVISIONING_LABEL]: settings.provisioning },
      // A changed bundle or machine type needs the VM stopped for the update: allow it.
      allowStoppingForUpdate: true,
      desiredStatus: settings.running ? "RUNNING" : "TERMINATED",
    },
    childOptions(ctx, {
      dependsOn: [...ctx.apis, ...settings.bootNeeds],
      // The name is fixed (it carries the model's suffix, not a random one per replacement), so a
      // replacement must delete the old instance first, or Google refuses the new one: name taken.
      deleteBeforeReplace: true,
      // The restarter owns the instance's provisioning once it exists: it switches the stopped VM
      // (setScheduling) to the declared model — so a changed `provisioning` reaches it through the
      // restarter's environment, as a stop and a start with the disk kept — and to standard and back
      // when spot capacity runs out. The provider would instead replace the VM on a changed
      // provisioning model (scheduling.provisioning_model and scheduling.preemptible are ForceNew in
      // the Google provider the gcp provider is built from: GoogleCloudPlatform/magic-modules,
      // mmv1/third_party/terraform/services/compute/resource_compute_instance.go.tmpl), and after a
      // `pulumi refresh` would try to undo the restarter's fallback. Ignoring changes keeps the
      // provider off both: the program's scheduling and provisioning label are used when the
      // instance is created, never later.
      ignoreChanges: ["scheduling", `labels["${FALLBACK_LABEL}"]`, `labels["${PROVISIONING_LABEL}"]`],
    }),
  );
}
