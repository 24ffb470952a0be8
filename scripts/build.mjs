// Builds the package's JavaScript into dist/ with esbuild: the `budgetml` CLI and the library entry.
// Dependencies stay external (they come from node_modules); the archives uploaded to the VM are
// built on demand by bundles/ at deploy time, not here.
import { copyFile, mkdir } from "node:fs/promises";
import { build } from "esbuild";

await build({
  entryPoints: { cli: "cli.ts", index: "index.ts" },
  outdir: "dist",
  bundle: true,
  packages: "external",
  platform: "node",
  format: "cjs",
  target: "node20",
  sourcemap: true,
  logLevel: "warning",
});

// `budgetml serve predictor.py` runs this script beside the CLI (runtime/python/pythonHost.ts finds it).
await mkdir("dist/python", { recursive: true });
await copyFile("runtime/python/budgetml_host.py", "dist/python/budgetml_host.py");
