import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import { childOptions, type ModelContext } from "../context";
import { AUTOHEALING_HEALTH_CHECK, SERVING_PORT, SERVING_PORT_NAME } from "../../contracts/loadBalancer";
import type { GroupRole } from "./instanceTemplate";

/** A group's size: fixed when `min` equals `max`, else autoscaled between them. */
export interface GroupSize {
  min: number;
  max: number;
}

/** One regional managed instance group, and its autoscaler when it has one. */
export interface InstanceGroup {
  group: gcp.compute.RegionInstanceGroupManager;
  autoscaler?: gcp.compute.RegionAutoscaler;
}

/**
 * Google's target CPU utilization for the autoscaler, and its default ("AutoscalingPolicy
 * cpuUtilization.utilizationTarget: … If not specified, the default is 0.6"): inference on these
 * machines is CPU-bound, so busy CPUs mean predictions queueing.
 */
export const AUTOSCALING_CPU_TARGET = 0.6;

/**
 * The region's zones a regional group spreads over (those UP): spot capacity differs per zone.
 * Under a mock engine that answers the look-up with nothing, the model's own zone.
 */
export function regionZones(ctx: ModelContext): pulumi.Output<string[]> {
  return gcp.compute
    .getZonesOutput({ project: ctx.project, region: ctx.region, status: "UP" }, { parent: ctx.parent })
    .apply(({ names }) => (names && names.length > 0 ? [...names].sort() : [ctx.zone]));
}

/** The autohealing check: the runtime's `GET /`, slower to give up than the load balancer's (contracts/loadBalancer.ts). */
export function declareAutohealingCheck(ctx: ModelContext): gcp.compute.HealthCheck {
  const { initialDelaySec: _initialDelay, requestPath, ...timing } = AUTOHEALING_HEALTH_CHECK;
  return new gcp.compute.HealthCheck(
    `${ctx.name}-autohealing-check`,
    {
      name: pulumi.interpolate`budgetml-${ctx.slug}-${ctx.suffix}-autohealing`,
      project: ctx.project,
      ...timing,
      httpHealthCheck: { port: SERVING_PORT, requestPath },
    },
    childOptions(ctx),
  );
}

/**
 * A regional managed instance group of replicas from `template`, over `zones`:
 * - it recreates a VM that stops without being asked to — a preempted spot VM included (Compute
 *   docs, "About repairing VMs in a MIG") — and autoheals one whose `GET /` keeps failing;
 * - the spot group uses the BALANCED distribution shape, which creates VMs in the zones that have
 *   capacity ("Regional MIG target distribution shape": recommended for highly available serving
 *   workloads), with proactive redistribution off as that shape requires; the standard group
 *   keeps the default EVEN shape;
 * - a new template rolls out by surge: new VMs first, the old ones deleted only once the new ones
 *   are healthy (maxUnavailable 0). A regional group's fixed maxSurge must be 0 or at least its
 *   number of zones (Pulumi gcp provider, RegionInstanceGroupManager updatePolicy.maxSurgeFixed);
 * - a fixed group has a target size; an autoscaled one does not (the provider: "should never be
 *   set" when an autoscaler is attached) and gets a CPU autoscaler between `min` and `max`, whose
 *   initialization period is the first boot's.
 */
export function declareInstanceGroup(
  ctx: ModelContext,
  role: GroupRole,
  settings: {
    template: gcp.compute.InstanceTemplate;
    size: GroupSize;
    zones: pulumi.Output<string[]>;
    autohealingCheck: gcp.compute.HealthCheck;
    /** What a replica's first boot reads: grants on the bucket and secrets, the secret versions, the bundles. */
    bootNeeds: pulumi.Resource[];
  },
): InstanceGroup {
  const fixed = settings.size.min === settings.size.max;
  const balanced = role === "spot";
  const group = new gcp.compute.RegionInstanceGroupManager(
    `${ctx.name}-${role}-group`,
    {
      name: pulumi.interpolate`budgetml-${ctx.slug}-${ctx.suffix}-${role}`,
      project: ctx.project,
      region: ctx.region,
      baseInstanceName: pulumi.interpolate`bm-${ctx.slug}-${ctx.suffix}-${role}`,
      versions: [{ name: "current", instanceTemplate: settings.template.selfLinkUnique }],
      ...(fixed ? { targetSize: settings.size.min } : {}),
      namedPorts: [{ name: SERVING_PORT_NAME, port: SERVING_PORT }],
      autoHealingPolicies: {
        healthCheck: settings.autohealingCheck.id,
        initialDelaySec: AUTOHEALING_HEALTH_CHECK.initialDelaySec,
      },
      distributionPolicyZones: settings.zones,
      distributionPolicyTargetShape: balanced ? "BALANCED" : "EVEN",
      updatePolicy: {
        type: "PROACTIVE",
        minimalAction: "REPLACE",
        replacementMethod: "SUBSTITUTE",
        maxSurgeFixed: settings.zones.apply((zones) => zones.length),
        maxUnavailableFixed: 0,
        instanceRedistributionType: balanced ? "NONE" : "PROACTIVE",
      },
    },
    // The name is fixed: a replacement (new zones) deletes the old group first.
    childOptions(ctx, { dependsOn: [...ctx.apis, ...settings.bootNeeds], deleteBeforeReplace: true }),
  );
  if (fixed) return { group };
  const autoscaler = new gcp.compute.RegionAutoscaler(
    `${ctx.name}-${role}-autoscaler`,
    {
      name: pulumi.interpolate`budgetml-${ctx.slug}-${ctx.suffix}-${role}`,
      project: ctx.project,
      region: ctx.region,
      target: group.id,
      autoscalingPolicy: {
        minReplicas: settings.size.min,
        maxReplicas: settings.size.max,
        cooldownPeriod: AUTOHEALING_HEALTH_CHECK.initialDelaySec,
        cpuUtilization: { target: AUTOSCALING_CPU_TARGET },
        mode: "ON",
      },
    },
    childOptions(ctx),
  );
  return { group, autoscaler };
}
