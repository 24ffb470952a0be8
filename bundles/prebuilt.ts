import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Artifacts `npm run build` puts inside the published package (dist/artifacts/), so a user's
 * `pulumi up` deploys exactly the runtime bundle and restarter source that were tested, with the
 * same names on every machine, and needs none of budgetml's sources.
 */
export interface PrebuiltArtifacts {
  /** The runtime bundle: file name inside the artifacts folder, and its sha256. */
  runtime: { objectName: string; sha256: string };
  /** Folder (inside the artifacts folder) holding the restarter's Cloud Functions source, and its hash. */
  restarter: { dir: string; hash: string };
}

export const ARTIFACTS_MANIFEST = "manifest.json";

/**
 * The artifacts shipped beside the running code, if any. Only the built package has them
 * (`dist/artifacts/` next to `dist/index.js` and `dist/cli.js`); run from source, this is
 * undefined and the bundles are built on demand.
 */
export function prebuiltArtifacts(
  codeDir: string = __dirname,
): { dir: string; manifest: PrebuiltArtifacts } | undefined {
  const dir = join(codeDir, "artifacts");
  const manifest = join(dir, ARTIFACTS_MANIFEST);
  if (!existsSync(manifest)) return undefined;
  return { dir, manifest: JSON.parse(readFileSync(manifest, "utf8")) as PrebuiltArtifacts };
}
