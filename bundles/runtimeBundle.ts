import { copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { SWAGGER_UI_FILES, swaggerUiAssetDir } from "../runtime/docsAssets";
import { PYTHON_HOST_SCRIPT } from "../runtime/python/pythonHost";
import { RUNTIME_VERSION } from "../runtime/version";
import { packDeterministic, type BuiltBundle } from "./archive";
import { packageRoot } from "./packageRoot";

const ROOT = packageRoot();

/** The programs the VM runs from the runtime bundle, each one self-contained file. */
export const RUNTIME_ENTRIES: Record<string, string> = {
  "server.cjs": join(ROOT, "runtime", "main.ts"),
  "boot.cjs": join(ROOT, "images", "vm", "boot.ts"),
};

/**
 * Builds the runtime bundle the VM extracts: every entry in {@link RUNTIME_ENTRIES} with all its
 * dependencies inlined (the VM has no node_modules for the runtime), Swagger UI's files in
 * `swagger-ui/`, the Python predictor host in `python/`, and a package.json. The same sources give the same object name.
 */
export async function buildRuntimeBundle(outDir: string): Promise<BuiltBundle> {
  const work = await mkdtemp(join(tmpdir(), "budgetml-runtime-"));
  try {
    await build({
      entryPoints: Object.fromEntries(Object.entries(RUNTIME_ENTRIES).map(([file, source]) => [file.replace(/\.cjs$/, ""), source])),
      outdir: work,
      outExtension: { ".js": ".cjs" },
      bundle: true,
      platform: "node",
      format: "cjs",
      target: "node20",
      // esbuild compiles .ts predictors when run from source; the VM only loads prebuilt .cjs ones.
      external: ["esbuild"],
      logLevel: "silent",
      legalComments: "none",
    });
    await mkdir(join(work, "swagger-ui"));
    const assets = swaggerUiAssetDir();
    for (const file of SWAGGER_UI_FILES) await copyFile(join(assets, file), join(work, "swagger-ui", file));
    await mkdir(join(work, "python"));
    await copyFile(join(ROOT, "runtime", "python", PYTHON_HOST_SCRIPT), join(work, "python", PYTHON_HOST_SCRIPT));
    await writeFile(join(work, "package.json"), `${JSON.stringify({ name: "budgetml-runtime", version: RUNTIME_VERSION, private: true, main: "server.cjs" }, null, 2)}\n`);
    const files = [...Object.keys(RUNTIME_ENTRIES), "package.json", `python/${PYTHON_HOST_SCRIPT}`, ...SWAGGER_UI_FILES.map((file) => `swagger-ui/${file}`)];
    return await packDeterministic("runtime", work, files, outDir);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
