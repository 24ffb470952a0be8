import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import { childOptions, type ModelContext } from "./context";

/** The DNS record a user must create for a custom domain: an A record to the static address. */
export interface DnsRecord {
  /** The endpoint's hostname (`api.example.com`). */
  name: string;
  /**
   * The same name fully qualified, with the root's trailing dot (`api.example.com.`): the form a
   * Cloud DNS record set's `name` takes — the provider's own examples build it from the zone's
   * `dnsName` ("for instance \"example.com.\""): `` `frontend.${zone.dnsName}` `` (gcp.dns.RecordSet).
   */
  fqdn: string;
  /** The record type: always an A record. */
  type: "A";
  /** The endpoint's external IP address. */
  value: string;
}

/** The A record for `hostname` → `ip`. */
export function dnsRecordFor(hostname: string, ip: string): DnsRecord {
  return { name: hostname, fqdn: `${hostname.replace(/\.$/, "")}.`, type: "A", value: ip };
}

/** The public address and the firewall opening to it. */
export interface ModelNetwork {
  ipAddress: pulumi.Output<string>;
  /** The network tag the firewall rule targets; the instance carries it. */
  tag: pulumi.Output<string>;
}

/**
 * A static external address (or the one given), so the endpoint keeps its IP across preemptions,
 * and a firewall rule opening 80 and 443 to this instance's tag only. Port 80 serves Let's Encrypt's
 * HTTP challenge and the redirect to HTTPS.
 */
export function declareNetwork(
  ctx: ModelContext,
  staticIp: pulumi.Input<string> | undefined,
  network: pulumi.Input<string>,
): ModelNetwork {
  const ipAddress = staticIp
    ? pulumi.output(staticIp)
    : new gcp.compute.Address(
        `${ctx.name}-address`,
        {
          name: pulumi.interpolate`budgetml-${ctx.slug}-${ctx.suffix}`,
          project: ctx.project,
          region: ctx.region,
          labels: ctx.labels,
        },
        // A fixed name again: delete the old address before creating its replacement.
        childOptions(ctx, { deleteBeforeReplace: true }),
      ).address;
  const tag = pulumi.interpolate`budgetml-${ctx.slug}-${ctx.suffix}`;
  new gcp.compute.Firewall(
    `${ctx.name}-firewall`,
    {
      name: pulumi.interpolate`budgetml-${ctx.slug}-${ctx.suffix}-https`,
      project: ctx.project,
      network,
      direction: "INGRESS",
      allows: [{ protocol: "tcp", ports: ["80", "443"] }],
      sourceRanges: ["0.0.0.0/0"],
      targetTags: [tag],
    },
    // Moving to another `network` replaces the rule under the same name: delete the old one first.
    childOptions(ctx, { deleteBeforeReplace: true }),
  );
  return { ipAddress, tag };
}
