/**
 * The files inside a predictor bundle, by the names both sides use: bundles/ writes them, the VM's
 * install step (images/vm/installPredictor.ts) reads them.
 */
export const PREDICTOR_FILES = {
  /** A JavaScript/TypeScript predictor, bundled by esbuild. */
  javascript: "predictor.cjs",
  /** Its npm requirements, as `dependencies`. */
  npmManifest: "package.json",
  /** Their exact versions and integrity hashes, resolved where `pulumi up` runs; the VM installs with `npm ci`. */
  npmLock: "package-lock.json",
  /** A Python predictor, the user's file as is. */
  python: "predictor.py",
  /** Its pip requirements, one specifier per line (may be empty). */
  pythonRequirements: "requirements.txt",
  /** `{ entrypoint, language, requirements, allowScripts? }`. */
  manifest: "manifest.json",
} as const;

/** The folder, inside an installed Python predictor, of the virtual environment its requirements go into. */
export const PYTHON_VENV_DIR = "venv";
