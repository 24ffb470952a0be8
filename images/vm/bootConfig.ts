import * as gcpMetadata from "gcp-metadata";

/** What the instance metadata tells the boot (names only; secret values come from Secret Manager). */
export interface BootConfig {
  bucket: string;
  runtimeObject: string;
  predictorObject: string;
  entrypoint: string;
  username: string;
  passwordSecret: string;
  tokenSecret: string;
  /** The public hostname Caddy serves and gets a certificate for. */
  hostname: string;
  topic: string;
  image: string;
  /** Email for the certificate authorities; empty when not given. */
  acmeEmail: string;
  /** With a custom domain: the external IP, on which Caddy answers the health check over HTTP. */
  healthIp: string;
}

const REQUIRED = ["budget-bucket", "budget-predictor-object", "budget-username", "budget-password-secret", "budget-token-secret"];

/** Reads the boot configuration from the metadata server; names every missing key at once. */
export async function readBootConfig(): Promise<BootConfig> {
  const attributes = (await gcpMetadata.instance({ property: "attributes/", params: { recursive: "true" } })) as Record<string, string>;
  const missing = REQUIRED.filter((key) => !attributes[key]);
  if (missing.length > 0) throw new Error(`instance metadata is missing ${missing.join(", ")}`);
  const domain = attributes["budget-domain"] ?? "";
  const externalIp = String(await gcpMetadata.instance("network-interfaces/0/access-configs/0/external-ip"));
  const hostname = domain || `${externalIp.replace(/\./g, "-")}.sslip.io`;
  return {
    bucket: attributes["budget-bucket"],
    runtimeObject: attributes["budget-runtime-object"] ?? "",
    predictorObject: attributes["budget-predictor-object"],
    entrypoint: attributes["budget-entrypoint"] ?? "",
    username: attributes["budget-username"],
    passwordSecret: attributes["budget-password-secret"],
    tokenSecret: attributes["budget-token-secret"],
    hostname,
    topic: attributes["budget-topic"] ?? "",
    image: attributes["budget-image"] ?? "",
    acmeEmail: attributes["budget-acme-email"] ?? "",
    healthIp: domain ? externalIp : "",
  };
}
