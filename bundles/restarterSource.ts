import { createHash } from "node:crypto";
import { cp, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { build } from "esbuild";
import { esbuildTargetFor, RESTARTER_RUNTIME } from "../contracts/functionRuntimes";
import { BUNDLE_DEFAULTS } from "./esbuildDefaults";
import { packageRoot } from "./packageRoot";
import { prebuiltArtifacts } from "./prebuilt";

/** The restarter's Cloud Functions source directory, and a hash of its contents. */
export interface RestarterSource {
  dir: string;
  hash: string;
}

/** The files Cloud Build receives, in the order they are hashed. */
export const RESTARTER_FILES = ["index.js", "package.json"];

/**
 * Writes the restarter's source for Cloud Functions into `outDir`: the copy prebuilt into the
 * installed package when there is one (it is compiled for {@link RESTARTER_RUNTIME}), else built
 * from source by {@link compileRestarterSource} for `runtime`. Deploy it with
 * `new pulumi.asset.FileArchive(dir)`; `hash` changes exactly when the code does.
 */
export async function buildRestarterSource(
  outDir: string,
  runtime: string = RESTARTER_RUNTIME,
): Promise<RestarterSource> {
  const prebuilt = prebuiltArtifacts();
  if (!prebuilt || runtime !== RESTARTER_RUNTIME) return compileRestarterSource(outDir, runtime);
  await mkdir(outDir, { recursive: true });
  await cp(join(prebuilt.dir, prebuilt.manifest.restarter.dir), outDir, { recursive: true });
  return { dir: outDir, hash: prebuilt.manifest.restarter.hash };
}

/**
 * Builds the restarter's source: `index.js` (our code bundled by esbuild, compiled for the
 * function runtime it will run on) and a package.json whose dependencies Cloud Build installs —
 * the Google clients and the functions framework stay packages, as Cloud Functions expects, at
 * the versions budgetml depends on.
 */
export async function compileRestarterSource(
  outDir: string,
  runtime: string = RESTARTER_RUNTIME,
): Promise<RestarterSource> {
  const root = packageRoot();
  await mkdir(outDir, { recursive: true });
  const result = await build({
    ...BUNDLE_DEFAULTS,
    absWorkingDir: root,
    entryPoints: [join(root, "functions", "restarter", "index.ts")],
    outfile: join(outDir, "index.js"),
    packages: "external",
    target: esbuildTargetFor(runtime),
    metafile: true,
  });
  const ours = JSON.parse(await readFile(join(root, "package.json"), "utf8")) as {
    dependencies: Record<string, string>;
  };
  const imported = new Set(
    Object.values(result.metafile.inputs)
      .flatMap((input) => input.imports)
      .filter((i) => i.external && !i.path.startsWith("node:"))
      .map((i) => (i.path.startsWith("@") ? i.path.split("/").slice(0, 2).join("/") : i.path.split("/")[0])),
  );
  const dependencies = Object.fromEntries([...imported].sort().map((name) => [name, ours.dependencies[name] ?? "*"]));
  const manifest = {
    name: "budgetml-restarter",
    private: true,
    main: "index.js",
    engines: { node: `>=${esbuildTargetFor(runtime).slice(4)}` },
    dependencies,
  };
  await writeFile(join(outDir, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  const hash = createHash("sha256");
  for (const file of RESTARTER_FILES) hash.update(await readFile(join(outDir, file)));
  return { dir: outDir, hash: hash.digest("hex").slice(0, 16) };
}
