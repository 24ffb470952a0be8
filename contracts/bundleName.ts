import { createHash } from "node:crypto";

// The contract between what `pulumi up` uploads and what the VM accepts: a bundle's object name
// carries the first 16 hex digits of its sha256 (64 bits: finding other bytes with the same prefix
// takes about 2^64 hashes), so the boot can check what it downloaded against the name it was given.
// startup.sh checks the runtime bundle the same way in bash (verify_bundle).

/** `<kind>-<16 hex>.tgz`. */
export const BUNDLE_NAME = /^(runtime|predictor)-([0-9a-f]{16})\.tgz$/;

/** The object name for a bundle of `kind` whose bytes hash to `sha256` (hex). */
export function bundleObjectName(kind: string, sha256: string): string {
  return `${kind}-${sha256.slice(0, 16)}.tgz`;
}

/** The 16 hex digits in a bundle's name; throws unless `object` is a bundle name. */
export function expectedHashPrefix(object: string): string {
  const match = BUNDLE_NAME.exec(object);
  if (!match) throw new Error(`${object} is not a bundle name (<runtime|predictor>-<16 hex digits of its sha256>.tgz)`);
  return match[2];
}

/** Throws unless `object` is a bundle name and `bytes` hash to it. */
export function verifyBundleBytes(object: string, bytes: Uint8Array): void {
  const prefix = expectedHashPrefix(object);
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  if (!sha256.startsWith(prefix)) throw new Error(`${object} does not match its name: its sha256 is ${sha256}`);
}
