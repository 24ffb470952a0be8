// `node scripts/runTs.cjs bundles/prebuild.ts OUT_DIR`, run by `npm run build`: writes the
// artifacts the published package ships (see prebuilt.ts) into OUT_DIR.
import { rm, writeFile } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { ARTIFACTS_MANIFEST, type PrebuiltArtifacts } from "./prebuilt";
import { compileRestarterSource } from "./restarterSource";
import { compileRuntimeBundle } from "./runtimeBundle";

async function prebuild(outDir: string): Promise<void> {
  await rm(outDir, { recursive: true, force: true });
  const [runtime, restarter] = await Promise.all([
    compileRuntimeBundle(outDir),
    compileRestarterSource(join(outDir, "restarter")),
  ]);
  const manifest: PrebuiltArtifacts = {
    runtime: { objectName: runtime.objectName, sha256: runtime.sha256 },
    restarter: { dir: basename(restarter.dir), hash: restarter.hash },
  };
  await writeFile(join(outDir, ARTIFACTS_MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
  process.stdout.write(`prebuilt ${runtime.objectName} and the restarter source (${restarter.hash}) into ${outDir}\n`);
}

const outDir = process.argv[2];
if (!outDir) {
  process.stderr.write("usage: prebuild.ts OUT_DIR\n");
  process.exit(2);
}
prebuild(resolve(outDir)).catch((error: Error) => {
  process.stderr.write(`prebuild failed: ${error.stack ?? error.message}\n`);
  process.exit(1);
});
