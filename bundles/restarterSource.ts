import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { build } from "esbuild";
import { esbuildTargetFor, RESTARTER_RUNTIME } from "../functions/functionRuntimes";
import { packageRoot } from "./packageRoot";

const ROOT = packageRoot();

/** The restarter's Cloud Functions source directory, and a hash of its contents. */
export interface RestarterSource {
  dir: string;
  hash: string;
}

/**
 * Writes the restarter's source for Cloud Functions into `outDir`: `index.js` (our code bundled by
 * esbuild) and a package.json whose dependencies Cloud Build installs — the Google clients and the
 * functions framework stay packages, as Cloud Functions expects. Deploy it with
 * `new pulumi.asset.FileArchive(dir)`; `hash` changes exactly when the code does. The code is
 * compiled for the function runtime it will run on (`runtime`, default the restarter's).
 */
export async function buildRestarterSource(outDir: string, runtime: string = RESTARTER_RUNTIME): Promise<RestarterSource> {
  await mkdir(outDir, { recursive: true });
  const result = await build({
    entryPoints: [join(ROOT, "functions", "restarter", "index.ts")],
    outfile: join(outDir, "index.js"),
    bundle: true,
    packages: "external",
    platform: "node",
    format: "cjs",
    target: esbuildTargetFor(runtime),
    metafile: true,
    logLevel: "silent",
    legalComments: "none",
  });
  const ours = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as { dependencies: Record<string, string> };
  const imported = new Set(
    Object.values(result.metafile.inputs)
      .flatMap((input) => input.imports)
      .filter((i) => i.external && !i.path.startsWith("node:"))
      .map((i) => (i.path.startsWith("@") ? i.path.split("/").slice(0, 2).join("/") : i.path.split("/")[0])),
  );
  const dependencies = Object.fromEntries([...imported].sort().map((name) => [name, ours.dependencies[name] ?? "*"]));
  const manifest = { name: "budgetml-restarter", private: true, main: "index.js", engines: { node: `>=${esbuildTargetFor(runtime).slice(4)}` }, dependencies };
  await writeFile(join(outDir, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  const hash = createHash("sha256");
  for (const file of ["index.js", "package.json"]) hash.update(await readFile(join(outDir, file)));
  return { dir: outDir, hash: hash.digest("hex").slice(0, 16) };
}
