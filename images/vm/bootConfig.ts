import * as gcpMetadata from "gcp-metadata";
import {
  ATTRIBUTES_FOLDER,
  publicHostname,
  readInstanceMetadata,
  type InstanceMetadata,
} from "../../contracts/instanceMetadata";
import { provisioningFromMetadata, type Provisioning } from "../../contracts/scheduling";
import { servedDeployment } from "../../contracts/servedDeployment";

/** What the instance metadata tells the boot (names only; secret values come from Secret Manager). */
export interface BootConfig extends Omit<InstanceMetadata, "domain"> {
  /** The public hostname Caddy serves and gets a certificate for. */
  hostname: string;
  /** With a custom domain: the external IP, on which Caddy answers the health check over HTTP. */
  healthIp: string;
  /** What these attributes make the VM serve (`servedDeployment`): recorded once rolled out. */
  deployment: string;
  /** The model this VM runs as now (the restarter may have switched it since it was created). */
  provisioning?: Provisioning;
}

/** Reads the boot configuration from the metadata server; names every missing key at once. */
export async function readBootConfig(): Promise<BootConfig> {
  const attributes = (await gcpMetadata.instance({
    property: ATTRIBUTES_FOLDER,
    params: { recursive: "true" },
  })) as Record<string, string>;
  const { domain, ...rest } = readInstanceMetadata(attributes);
  const externalIp = String(await gcpMetadata.instance("network-interfaces/0/access-configs/0/external-ip"));
  // Either key may be absent (see provisioningFromMetadata): a missing one reads as not set.
  const scheduling = (key: string) => gcpMetadata.instance(`scheduling/${key}`).then(String, () => undefined);
  const provisioning = provisioningFromMetadata({
    provisioningModel: await scheduling("provisioning-model"),
    preemptible: await scheduling("preemptible"),
  });
  // Behind the load balancer, the public address is the load balancer's.
  return {
    ...rest,
    hostname: domain || publicHostname(rest.loadBalancer || externalIp),
    healthIp: domain ? externalIp : "",
    deployment: servedDeployment(attributes),
    provisioning,
  };
}
