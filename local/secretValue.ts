import { secretVersionName } from "../contracts/instanceMetadata";

/**
 * The value of the secret version `name` (a secret alone: its latest) among the versions the
 * program declared, oldest first; undefined if it does not exist or was destroyed.
 */
export function secretValue(secrets: Record<string, Array<string | undefined>>, name: string): string | undefined {
  const version = secretVersionName(name);
  const secret = version.replace(/\/versions\/[^/]+$/, "");
  const versions = secrets[secret] ?? [];
  const number = version.endsWith("/latest") ? versions.length : Number(version.split("/").pop());
  return versions[number - 1];
}
