import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import { childOptions, type ModelContext } from "../context";
import { vmBootProperties } from "../instance";

/** Which of the model's two groups a template or group belongs to. */
export type GroupRole = "spot" | "standard";

/** What every replica of a group boots with. */
export interface TemplateSettings {
  machineType: string;
  diskSizeGb: number;
  serviceAccountEmail: pulumi.Output<string>;
  /** The network tag the load balancer's firewall rule targets. */
  tag: pulumi.Output<string>;
  network: pulumi.Input<string>;
  subnetwork: pulumi.Input<string> | undefined;
  /** The instance metadata of contracts/instanceMetadata.ts (names only: no secret value). */
  metadata: Record<string, pulumi.Input<string>>;
}

/**
 * The instance template a group creates its replicas from: the single VM's boot — the same startup
 * and shutdown scripts, metadata, disk and least-privilege account — on a spot or standard VM. An
 * ephemeral external address lets a replica reach nodejs.org and Google's APIs; the firewall admits
 * only Google's front ends to it. Templates cannot change: new bundles make a new template (a new
 * name from `namePrefix`, created before the old one is deleted), and the group's rolling update
 * moves its VMs to it.
 */
export function declareInstanceTemplate(
  ctx: ModelContext,
  role: GroupRole,
  settings: TemplateSettings,
): gcp.compute.InstanceTemplate {
  return new gcp.compute.InstanceTemplate(
    `${ctx.name}-${role}-template`,
    {
      namePrefix: pulumi.interpolate`budgetml-${ctx.slug}-${ctx.suffix}-${role}-`,
      project: ctx.project,
      machineType: settings.machineType,
      disks: [
        {
          sourceImage: "debian-cloud/debian-12",
          diskSizeGb: settings.diskSizeGb,
          diskType: "pd-balanced",
          boot: true,
          autoDelete: true,
          labels: ctx.labels,
        },
      ],
      networkInterfaces: [
        {
          network: settings.network,
          ...(settings.subnetwork ? { subnetwork: settings.subnetwork } : {}),
          accessConfigs: [{}],
        },
      ],
      ...vmBootProperties(ctx, { ...settings, provisioning: role }),
    },
    childOptions(ctx),
  );
}
