import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { copyFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { BuiltBundle } from "../../bundles/archive";
import type { PredictorBundleOptions } from "../../bundles/predictorBundle";
import type { RestarterSource } from "../../bundles/restarterSource";

// Component tests declare dozens of models from the same few predictors, and each declaration
// builds the predictor bundle and the restarter's source with esbuild — the same bytes each time.
// This cache builds each once per test file with the real builders, keyed by everything the build
// reads that a test can change (the predictor's bytes, the options, the function runtime), and
// copies the result to where the component asked for it. A failed build is not kept: bad input
// reaches the real builder, and its error, every time. (The runtime bundle needs no cache: the
// component deploys the one the global setup built, BUDGET_PREBUILT_ARTIFACTS.)

const CACHE_DIR = mkdtempSync(join(tmpdir(), "budgetml-test-bundles-"));
const builds = new Map<string, Promise<unknown>>();

function once<T>(key: string, build: (dir: string) => Promise<T>): Promise<T> {
  let built = builds.get(key) as Promise<T> | undefined;
  if (!built) {
    const dir = join(CACHE_DIR, createHash("sha256").update(key).digest("hex").slice(0, 16));
    built = build(dir);
    builds.set(key, built);
    built.catch(() => builds.delete(key));
  }
  return built;
}

const contentHash = (file: string) =>
  existsSync(file) && statSync(file).isFile() ? createHash("sha256").update(readFileSync(file)).digest("hex") : "";

async function copyBundle(bundle: BuiltBundle, outDir: string): Promise<BuiltBundle> {
  await mkdir(outDir, { recursive: true });
  const file = join(outDir, bundle.objectName);
  await copyFile(bundle.file, file);
  return { ...bundle, file };
}

/** {@link buildPredictorBundle} through the cache. */
export async function cachedPredictorBundle(
  build: (options: PredictorBundleOptions) => Promise<BuiltBundle>,
  options: PredictorBundleOptions,
): Promise<BuiltBundle> {
  const { outDir, ...inputs } = options;
  const requirementsFile = typeof inputs.requirements === "string" ? contentHash(resolve(inputs.requirements)) : "";
  const key = JSON.stringify({
    kind: "predictor",
    ...inputs,
    predictor: resolve(inputs.predictor),
    predictorBytes: contentHash(resolve(inputs.predictor)),
    requirementsFile,
  });
  return copyBundle(await once(key, (dir) => build({ ...options, outDir: dir })), outDir);
}

/** {@link buildRestarterSource} through the cache, per function runtime. */
export async function cachedRestarterSource(
  build: (outDir: string, runtime?: string) => Promise<RestarterSource>,
  files: readonly string[],
  outDir: string,
  runtime?: string,
): Promise<RestarterSource> {
  const source = await once(`restarter ${runtime ?? "default"}`, (dir) => build(dir, runtime));
  await mkdir(outDir, { recursive: true });
  for (const file of files) await copyFile(join(source.dir, file), join(outDir, file));
  return { ...source, dir: outDir };
}

/**
 * Routes the component's bundle builders through the cache, for the rest of this test file. Call
 * it before the component is loaded (tests/components/pulumiHarness.ts does).
 */
export function cacheBundleBuilds(): void {
  afterAll(() => rmSync(CACHE_DIR, { recursive: true, force: true }));
  jest.mock("../../bundles/predictorBundle", () => {
    const actual = jest.requireActual("../../bundles/predictorBundle");
    const cache = jest.requireActual("./bundleCache");
    return {
      ...actual,
      buildPredictorBundle: (options: PredictorBundleOptions) =>
        cache.cachedPredictorBundle(actual.buildPredictorBundle, options),
    };
  });
  jest.mock("../../bundles/restarterSource", () => {
    const actual = jest.requireActual("../../bundles/restarterSource");
    const cache = jest.requireActual("./bundleCache");
    return {
      ...actual,
      buildRestarterSource: (outDir: string, runtime?: string) =>
        cache.cachedRestarterSource(actual.buildRestarterSource, actual.RESTARTER_FILES, outDir, runtime),
    };
  });
}
