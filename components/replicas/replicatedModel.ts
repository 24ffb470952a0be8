import type * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import type { ModelContext } from "../context";
import { sslipHostname } from "../../contracts/instanceMetadata";
import { declareAutohealingCheck, declareInstanceGroup, regionZones, type InstanceGroup } from "./instanceGroups";
import { declareInstanceTemplate, type GroupRole, type TemplateSettings } from "./instanceTemplate";
import { declareLoadBalancer, declareLoadBalancerAddress, type ModelLoadBalancer } from "./loadBalancer";
import type { ReplicaPlan } from "./replicasArgs";

/** What a replicated model is declared from. */
export interface ReplicatedModelSettings extends Omit<TemplateSettings, "metadata" | "tag"> {
  plan: ReplicaPlan;
  /** The boot's instance metadata, given the load balancer's address each replica serves behind. */
  metadataFor(loadBalancerIp: pulumi.Output<string>): Record<string, pulumi.Input<string>>;
  /** What a replica's first boot reads (grants, secret versions, bundle objects). */
  bootNeeds: pulumi.Resource[];
  /** The custom hostname (domain and subdomain), if any. */
  customHostname: pulumi.Output<string> | undefined;
}

/** A replicated model's children a caller may depend on, and its public address. */
export interface ReplicatedModel extends ModelLoadBalancer {
  /** The groups: spot first, then the standard (on-demand) one; a group of zero replicas is not declared. */
  groups: gcp.compute.RegionInstanceGroupManager[];
  autoscalers: gcp.compute.RegionAutoscaler[];
  templates: gcp.compute.InstanceTemplate[];
  ipAddress: pulumi.Output<string>;
  /** The hostname the API answers on over HTTPS. */
  hostname: pulumi.Output<string>;
}

/**
 * A model on several VMs: a regional managed instance group of spot replicas (autoscaled between
 * the plan's bounds, or fixed) and, for `replicas.standard`, a fixed group of on-demand ones that
 * preemptions never touch, each replica booting as the single VM does but serving plain HTTP to
 * Google's external Application Load Balancer, which terminates HTTPS in front of them all.
 */
export function declareReplicatedModel(ctx: ModelContext, settings: ReplicatedModelSettings): ReplicatedModel {
  const address = declareLoadBalancerAddress(ctx);
  // The load balancer's Google-managed certificate needs a name that resolves to its address, even
  // where that address is loopback (the local cloud's, whose load balancer serves plain HTTP).
  const hostname = settings.customHostname ?? address.ip.apply((ip) => sslipHostname(ip));
  const tag = pulumi.interpolate`budgetml-${ctx.slug}-${ctx.suffix}`;
  const zones = regionZones(ctx);
  const autohealingCheck = declareAutohealingCheck(ctx);
  const metadata = settings.metadataFor(address.ip);
  const sizes: Array<[GroupRole, { min: number; max: number }]> = [
    ["spot", settings.plan.spot],
    ["standard", { min: settings.plan.standard, max: settings.plan.standard }],
  ];
  const declared = sizes
    .filter(([, size]) => size.max > 0)
    .map(([role, size]) => {
      const template = declareInstanceTemplate(ctx, role, { ...settings, metadata, tag });
      return {
        template,
        ...declareInstanceGroup(ctx, role, { template, size, zones, autohealingCheck, bootNeeds: settings.bootNeeds }),
      };
    });
  const groups = declared.map((d) => d.group);
  const loadBalancer = declareLoadBalancer(ctx, { address, groups, hostname, tag, network: settings.network });
  return {
    ...loadBalancer,
    groups,
    autoscalers: declared.flatMap((d: InstanceGroup) => (d.autoscaler ? [d.autoscaler] : [])),
    templates: declared.map((d) => d.template),
    ipAddress: address.ip,
    hostname,
  };
}
