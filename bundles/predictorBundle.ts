import { existsSync, readFileSync } from "node:fs";
import { execFile } from "node:child_process";
import { copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, extname, join, resolve } from "node:path";
import { promisify } from "node:util";
import { build } from "esbuild";
import { packDeterministic, type BuiltBundle } from "./archive";
import { PREDICTOR_FILE_LOADERS } from "../runtime/predictor/predictor";
import { BUNDLE_DEFAULTS } from "./esbuildDefaults";
import { PREDICTOR_FILES } from "../contracts/predictorFiles";
import { buildPythonPredictorBundle, parsePipRequirements } from "./pythonPredictorBundle";

const run = promisify(execFile);

/** What to bundle. */
export interface PredictorBundleOptions {
  /** The predictor file (.ts, .js, .cjs, .mjs, or .py). */
  predictor: string;
  /** Exported class name. @default "Predictor", else the default export */
  entrypoint?: string;
  /**
   * npm packages installed on the VM beside the predictor: names with optional versions
   * (`["sharp@0.33", "sentiment"]`), or the path of a package.json whose dependencies to use.
   * These stay out of the bundle; every other import is bundled in. For a .py predictor: pip
   * requirements (`["scikit-learn==1.5.2"]`) or the path of a requirements.txt. @default none
   */
  requirements?: string[] | string;
  /**
   * npm requirements whose install scripts may run on the VM (e.g. `["sharp"]` if it must build).
   * Every other package is installed with its scripts off: a package's install script runs with
   * the installing user's rights, and a compromised dependency would get them. Scripts run as the
   * runtime's unprivileged user either way. @default none
   */
  allowScripts?: string[];
  /** Where the .tgz is written. */
  outDir: string;
}

// npm's rules for package names, with an optional @version/range after it.
const REQUIREMENT = /^((?:@[a-z0-9-~][a-z0-9-._~]*\/)?[a-z0-9-~][a-z0-9-._~]*)(?:@([^\s@]+))?$/;

/** Turns the requirements option into `{name: range}`; throws a precise error for a bad entry. */
export function parseRequirements(requirements: string[] | string | undefined): Record<string, string> {
  if (requirements === undefined) return {};
  if (typeof requirements === "string") {
    if (!existsSync(requirements))
      throw new Error(
        `requirements: ${requirements} does not exist (expected a package.json or a list of package names)`,
      );
    const manifest = JSON.parse(readFileSync(requirements, "utf8")) as { dependencies?: Record<string, string> };
    return { ...(manifest.dependencies ?? {}) };
  }
  const parsed: Record<string, string> = {};
  for (const requirement of requirements) {
    const match = REQUIREMENT.exec(requirement);
    if (!match)
      throw new Error(`requirements: "${requirement}" is not an npm package name (like "sharp" or "sharp@0.33")`);
    parsed[match[1]] = match[2] ?? "*";
  }
  return parsed;
}

/**
 * Bundles a predictor for the VM: `predictor.cjs` (esbuild; its requirements left external),
 * `package.json` listing them, and `manifest.json` — or, for a .py file, see
 * {@link buildPythonPredictorBundle}. The same inputs give the same object name.
 */
export async function buildPredictorBundle(options: PredictorBundleOptions): Promise<BuiltBundle> {
  const predictor = resolve(options.predictor);
  if (!existsSync(predictor)) throw new Error(`predictor: file not found: ${options.predictor}`);
  if (extname(predictor) === ".py") {
    if (options.entrypoint !== undefined && !/^[A-Za-z_]\w*$/.test(options.entrypoint))
      throw new Error(`entrypoint: "${options.entrypoint}" is not a Python identifier`);
    const problem = allowScriptsProblem(options.allowScripts ?? [], { python: true });
    if (problem) throw new Error(problem);
    await mkdir(options.outDir, { recursive: true });
    return buildPythonPredictorBundle(
      predictor,
      options.entrypoint,
      parsePipRequirements(options.requirements),
      options.outDir,
    );
  }
  if (![".ts", ".mts", ".cts", ".js", ".cjs", ".mjs"].includes(extname(predictor))) {
    throw new Error(`predictor: expected a .ts, .js, .cjs, .mjs or .py file, got ${options.predictor}`);
  }
  if (options.entrypoint !== undefined && !/^[A-Za-z_$][\w$]*$/.test(options.entrypoint)) {
    throw new Error(`entrypoint: "${options.entrypoint}" is not a JavaScript identifier`);
  }
  const dependencies = parseRequirements(options.requirements);
  const work = await mkdtemp(join(tmpdir(), "budgetml-predictor-"));
  try {
    await build({
      ...BUNDLE_DEFAULTS,
      // Paths in the bundle's comments are relative to this: the same name from any working directory.
      absWorkingDir: dirname(predictor),
      entryPoints: [predictor],
      outfile: join(work, "predictor.cjs"),
      loader: PREDICTOR_FILE_LOADERS,
      external: Object.keys(dependencies).flatMap((name) => [name, `${name}/*`]),
    }).catch((error: { errors?: Array<{ text: string }> }) => {
      const first = error.errors?.[0]?.text ?? String(error);
      throw new Error(
        `predictor: cannot bundle ${options.predictor}: ${first}${/Could not resolve "([^"]+)"/.test(first) ? " (add the package to requirements, or install it)" : ""}`,
      );
    });
    const allowScripts = checkAllowScripts(options.allowScripts, dependencies);
    const manifest = {
      entrypoint: options.entrypoint ?? "",
      requirements: dependencies,
      ...(allowScripts.length > 0 ? { allowScripts } : {}),
    };
    await writeFile(
      join(work, PREDICTOR_FILES.npmManifest),
      `${JSON.stringify({ name: "budgetml-predictor", private: true, dependencies }, null, 2)}\n`,
    );
    await writeFile(join(work, PREDICTOR_FILES.manifest), `${JSON.stringify(manifest, null, 2)}\n`);
    const files: string[] = [PREDICTOR_FILES.javascript, PREDICTOR_FILES.npmManifest, PREDICTOR_FILES.manifest];
    if (Object.keys(dependencies).length > 0) {
      await lockRequirements(work, typeof options.requirements === "string" ? options.requirements : undefined);
      files.push(PREDICTOR_FILES.npmLock);
    }
    await mkdir(options.outDir, { recursive: true });
    return await packDeterministic("predictor", work, files, options.outDir);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * Why `allowScripts` does not fit the predictor, if it does not: a .py predictor takes none, and
 * each name must be one of the npm `dependencies` (as {@link parseRequirements} gives them; not
 * checked when they are not known yet, e.g. a package.json read when the bundle is built).
 */
export function allowScriptsProblem(
  allowScripts: string[],
  predictor: { python: boolean; dependencies?: Record<string, string> },
): string | undefined {
  if (predictor.python)
    return allowScripts.length > 0
      ? "allowScripts: names npm requirements whose install scripts may run; a .py predictor has pip requirements"
      : undefined;
  const { dependencies } = predictor;
  if (!dependencies) return undefined;
  const unknown = allowScripts.filter((name) => !(name in dependencies));
  return unknown.length > 0
    ? `allowScripts: ${unknown.map((name) => `"${name}"`).join(", ")} ${unknown.length > 1 ? "are" : "is"} not among the requirements`
    : undefined;
}

function checkAllowScripts(allowScripts: string[] | undefined, dependencies: Record<string, string>): string[] {
  const problem = allowScriptsProblem(allowScripts ?? [], { python: false, dependencies });
  if (problem) throw new Error(problem);
  return [...new Set(allowScripts ?? [])].sort();
}

/**
 * Pins the requirements in `work/package-lock.json`, here, where `pulumi up` runs: the VM then
 * installs exactly these versions, checked against their integrity hashes, with `npm ci`. A
 * package-lock.json beside the user's requirements package.json is used as it is (npm ci refuses
 * it on the VM if it does not match); otherwise npm resolves one, without running any scripts.
 */
async function lockRequirements(work: string, requirementsFile: string | undefined): Promise<void> {
  const beside = requirementsFile ? join(dirname(resolve(requirementsFile)), PREDICTOR_FILES.npmLock) : undefined;
  if (beside && existsSync(beside)) {
    await copyFile(beside, join(work, PREDICTOR_FILES.npmLock));
    return;
  }
  await run(
    "npm",
    ["install", "--package-lock-only", "--ignore-scripts", "--prefer-offline", "--no-audit", "--no-fund"],
    { cwd: work, maxBuffer: 16 << 20 },
  ).catch((error: { stderr?: string; message: string }) => {
    throw new Error(
      `requirements: npm could not resolve them: ${(error.stderr || error.message).trim().split("\n").slice(-3).join(" ")}`,
    );
  });
}
