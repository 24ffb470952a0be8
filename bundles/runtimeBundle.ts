import { mkdtempSync, rmSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { SWAGGER_UI_FILES, swaggerUiAssetDir } from "../runtime/routes/docsAssets";
import { PYTHON_HOST_SCRIPT } from "../runtime/predictor/python/pythonHost";
import { RUNTIME_VERSION } from "../runtime/version";
import { packDeterministic, type BuiltBundle } from "./archive";
import { BUNDLE_DEFAULTS } from "./esbuildDefaults";
import { packageRoot } from "./packageRoot";
import { prebuiltArtifacts } from "./prebuilt";

/** The programs the VM runs from the runtime bundle, each one self-contained file. */
export const RUNTIME_ENTRIES: Record<string, string> = {
  "server.cjs": join("runtime", "cli", "main.ts"),
  "boot.cjs": join("images", "vm", "boot.ts"),
};

/**
 * The runtime bundle the VM extracts, written to `outDir`: the one prebuilt into the installed
 * package when there is one (see {@link prebuiltArtifacts}), else built from source by
 * {@link compileRuntimeBundle} — once per process: its sources are the code this process runs,
 * which does not change under it, and `budgetml local` evaluates the program again at each update.
 */
export async function buildRuntimeBundle(outDir: string): Promise<BuiltBundle> {
  const prebuilt = prebuiltArtifacts();
  const { dir, objectName, sha256 } = prebuilt
    ? { dir: prebuilt.dir, ...prebuilt.manifest.runtime }
    : await builtFromSource();
  await mkdir(outDir, { recursive: true });
  const file = join(outDir, objectName);
  await copyFile(join(dir, objectName), file);
  return { file, objectName, sha256 };
}

let fromSource: Promise<BuiltBundle & { dir: string }> | undefined;

/** This process's build from source, in a folder of its own removed when the process exits. */
function builtFromSource(): Promise<BuiltBundle & { dir: string }> {
  fromSource ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), "budgetml-runtime-built-"));
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
    return { ...(await compileRuntimeBundle(dir)), dir };
  })().catch((error: unknown) => {
    fromSource = undefined; // a failed build is not kept: the next call tries again
    throw error;
  });
  return fromSource;
}

/**
 * Builds the runtime bundle from source: every entry in {@link RUNTIME_ENTRIES} with all its
 * dependencies inlined (the VM has no node_modules for the runtime), Swagger UI's files in
 * `swagger-ui/`, the Python predictor host in `python/`, and a package.json. The same sources
 * give the same object name.
 */
export async function compileRuntimeBundle(outDir: string): Promise<BuiltBundle> {
  const root = packageRoot();
  const work = await mkdtemp(join(tmpdir(), "budgetml-runtime-"));
  try {
    await build({
      ...BUNDLE_DEFAULTS,
      absWorkingDir: root, // paths in the bundle's comments are relative to this: the same on every machine
      entryPoints: Object.fromEntries(
        Object.entries(RUNTIME_ENTRIES).map(([file, source]) => [file.replace(/\.cjs$/, ""), join(root, source)]),
      ),
      outdir: work,
      outExtension: { ".js": ".cjs" },
      // esbuild compiles .ts predictors when run from source; the VM only loads prebuilt .cjs ones.
      external: ["esbuild"],
    });
    await mkdir(join(work, "swagger-ui"));
    const assets = swaggerUiAssetDir();
    for (const file of SWAGGER_UI_FILES) await copyFile(join(assets, file), join(work, "swagger-ui", file));
    await mkdir(join(work, "python"));
    await copyFile(
      join(root, "runtime", "predictor", "python", PYTHON_HOST_SCRIPT),
      join(work, "python", PYTHON_HOST_SCRIPT),
    );
    await writeFile(
      join(work, "package.json"),
      `${JSON.stringify({ name: "budgetml-runtime", version: RUNTIME_VERSION, private: true, main: "server.cjs" }, null, 2)}\n`,
    );
    const files = [
      ...Object.keys(RUNTIME_ENTRIES),
      "package.json",
      `python/${PYTHON_HOST_SCRIPT}`,
      ...SWAGGER_UI_FILES.map((file) => `swagger-ui/${file}`),
    ];
    return await packDeterministic("runtime", work, files, outDir);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
