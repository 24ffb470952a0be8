import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { EnvironmentVariable } from "../contracts/environmentVariable";

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

/** The variable that points a run from source at prebuilt artifacts. */
export const PREBUILT_ARTIFACTS_VARIABLE = "BUDGET_PREBUILT_ARTIFACTS";

/** What the component reads from the environment to build what it uploads (docs/configuration.md). */
export const BUILD_ENVIRONMENT: Record<typeof PREBUILT_ARTIFACTS_VARIABLE, EnvironmentVariable> = {
  [PREBUILT_ARTIFACTS_VARIABLE]: {
    meaning:
      "run from a checkout (not the installed package): a folder `npm run build` wrote (`dist/artifacts`) whose runtime bundle and restarter source are deployed instead of being built from source",
    default: "none: built from source, once per process",
    setBy: "tests (the global setup builds `dist/` once); a maintainer, to skip the build",
  },
};

/**
 * The artifacts shipped beside the running code: the built package has them (`dist/artifacts/`
 * next to `dist/index.js` and `dist/cli.js`). Run from source there are none, unless
 * `BUDGET_PREBUILT_ARTIFACTS` names a folder holding them; otherwise this is undefined and the
 * bundles are built on demand. Throws when that folder has no manifest.
 */
export function prebuiltArtifacts(
  codeDir: string = __dirname,
  env: NodeJS.ProcessEnv = process.env,
): { dir: string; manifest: PrebuiltArtifacts } | undefined {
  const beside = join(codeDir, "artifacts");
  const named = env[PREBUILT_ARTIFACTS_VARIABLE];
  const dir = existsSync(join(beside, ARTIFACTS_MANIFEST)) ? beside : named ? resolve(named) : undefined;
  if (!dir) return undefined;
  const manifest = join(dir, ARTIFACTS_MANIFEST);
  if (!existsSync(manifest))
    throw new Error(
      `${PREBUILT_ARTIFACTS_VARIABLE}=${named} has no ${ARTIFACTS_MANIFEST}: run \`npm run build\` (it writes dist/artifacts)`,
    );
  return { dir, manifest: JSON.parse(readFileSync(manifest, "utf8")) as PrebuiltArtifacts };
}
