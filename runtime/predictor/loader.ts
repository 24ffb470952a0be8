import { mkdtemp, writeFile } from "node:fs/promises";
import Module from "node:module";
import { tmpdir } from "node:os";
import { basename, dirname, extname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { createLogger, type Logger } from "../../contracts/cloudLogging";
import { PREDICTOR_FILE_LOADERS, type Predictor, type PredictorClass } from "./predictor";
import { PythonPredictor } from "./python/pythonPredictor";
import { storageClientOptions } from "../../contracts/googleEndpoints";

/** The loaded predictor and the name it was found under. */
export interface LoadedPredictor {
  instance: Predictor;
  /** `<file>:<export>`, reported by the health check. */
  name: string;
}

const LOADABLE = new Set([".ts", ".mts", ".cts", ".js", ".cjs", ".mjs", ".py"]);

/**
 * Finds the predictor class in a module and instantiates it (without calling `load`).
 * `location` is a local path or `gs://bucket/object`. A `.py` file runs in a Python process of
 * its own (runtime/predictor/python/); `logger` receives that process's output, and a process whose every
 * running prediction has outlived `predictTimeoutMs` is restarted (see PythonPredictor).
 */
export async function loadPredictor(
  location: string,
  entrypoint?: string,
  logger?: Logger,
  predictTimeoutMs?: number,
): Promise<LoadedPredictor> {
  const file = location.startsWith("gs://") ? await downloadFromBucket(location) : resolve(location);
  const extension = extname(file);
  if (!LOADABLE.has(extension)) {
    throw new Error(
      `predictor ${location}: expected a .ts, .js, .cjs, .mjs or .py file, got "${extension || "no extension"}"`,
    );
  }
  if (extension === ".py") {
    const instance = new PythonPredictor({
      predictorPath: file,
      entrypoint,
      logger: logger ?? createLogger(),
      abandonAfterMs: predictTimeoutMs,
    });
    return { instance, name: instance.name };
  }
  const exports = await importModule(file, extension);
  const { PredictorClass, exportName } = pickClass(exports, entrypoint, location);
  const instance = new PredictorClass();
  if (typeof instance.predict !== "function") {
    throw new Error(`predictor ${location}: class "${exportName}" has no predict() method`);
  }
  return { instance, name: `${basename(file)}:${exportName}` };
}

async function importModule(file: string, extension: string): Promise<Record<string, unknown>> {
  if (extension === ".mjs") return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  if (extension === ".ts" || extension === ".mts" || extension === ".cts") return compileTypeScript(file);
  // A CommonJS predictor is loaded as Node loads it, path resolved at run time.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(file) as Record<string, unknown>;
}

/**
 * Compiles a TypeScript predictor with esbuild and evaluates it as if it lived at its own path,
 * so its imports resolve from the user's project exactly as they would from a `.js` file there.
 * esbuild is loaded lazily: the VM only ever loads the prebuilt `.cjs` bundle.
 */
async function compileTypeScript(file: string): Promise<Record<string, unknown>> {
  const esbuild = await import("esbuild");
  const result = await esbuild.build({
    entryPoints: [file],
    bundle: true,
    packages: "external",
    loader: PREDICTOR_FILE_LOADERS,
    platform: "node",
    format: "cjs",
    target: "node20",
    write: false,
    logLevel: "silent",
  });
  const compiled = new Module(file) as Module & { _compile(code: string, filename: string): void };
  compiled.filename = file;
  compiled.paths = (Module as unknown as { _nodeModulePaths(dir: string): string[] })._nodeModulePaths(dirname(file));
  compiled._compile(result.outputFiles[0].text, file);
  return compiled.exports as Record<string, unknown>;
}

function pickClass(exports: Record<string, unknown>, entrypoint: string | undefined, location: string) {
  const candidates = entrypoint ? [entrypoint] : ["Predictor", "default"];
  for (const exportName of candidates) {
    const value =
      exports[exportName] ?? (exportName === "default" && typeof exports === "function" ? exports : undefined);
    if (typeof value === "function") return { PredictorClass: value as PredictorClass, exportName };
  }
  const found = Object.keys(exports).filter((k) => typeof exports[k] === "function");
  throw new Error(
    `predictor ${location}: no class exported as ${candidates.map((c) => `"${c}"`).join(" or ")}` +
      (found.length ? ` (exported: ${found.join(", ")})` : " (it exports no class)"),
  );
}

async function downloadFromBucket(location: string): Promise<string> {
  const match = /^gs:\/\/([^/]+)\/(.+)$/.exec(location);
  if (!match) throw new Error(`predictor ${location}: expected gs://bucket/object`);
  const [, bucket, object] = match;
  const { Storage } = await import("@google-cloud/storage");
  const target = join(await mkdtemp(join(tmpdir(), "budgetml-predictor-")), basename(object));
  try {
    const [contents] = await new Storage(storageClientOptions).bucket(bucket).file(object).download();
    await writeFile(target, contents);
  } catch (error) {
    throw new Error(`predictor ${location}: could not download it: ${(error as Error).message}`);
  }
  return target;
}
