import { SecretManagerServiceClient } from "@google-cloud/secret-manager";
import { ENDPOINT_VARIABLES, gaxEndpointOptions } from "../../contracts/googleEndpoints";
import { secretVersionName } from "../../contracts/instanceMetadata";

/**
 * Reads each secret version the metadata names (a secret without a version: its latest) with the
 * VM's own service account (application default credentials from the metadata server). `SECRET_MANAGER_ENDPOINT` (http://host:port) points the
 * client at a stand-in; the REST transport is used either way.
 */
export async function readSecrets(
  names: string[],
  endpoint = process.env[ENDPOINT_VARIABLES.secretManager],
): Promise<string[]> {
  const client = new SecretManagerServiceClient({
    fallback: true,
    ...gaxEndpointOptions(endpoint),
  } as ConstructorParameters<typeof SecretManagerServiceClient>[0]);
  try {
    return await Promise.all(
      names.map(async (name) => {
        try {
          const [version] = await client.accessSecretVersion({ name: secretVersionName(name) });
          return Buffer.from(version.payload?.data as Uint8Array).toString("utf8");
        } catch (error) {
          throw new Error(`cannot read secret ${name}: ${(error as Error).message.split("\n")[0]}`);
        }
      }),
    );
  } finally {
    await client.close();
  }
}
