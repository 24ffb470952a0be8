// `npm run build`: the package's JavaScript in dist/ — the `budgetml` CLI and the library entry,
// bundled by esbuild with their dependencies left to node_modules — and dist/artifacts/, the
// runtime bundle and restarter source that `pulumi up` uploads (bundles/prebuilt.ts), built once
// here so every user of a release deploys the same, tested bytes. Type declarations are built
// separately (`npm run build:types`, part of `prepack`).
import { execFileSync } from "node:child_process";
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

// `budgetml serve predictor.py` runs this script beside the CLI (runtime/predictor/python/pythonHost.ts finds it).
await mkdir("dist/python", { recursive: true });
await copyFile("runtime/predictor/python/budgetml_host.py", "dist/python/budgetml_host.py");
execFileSync(process.execPath, ["scripts/runTs.cjs", "bundles/prebuild.ts", "dist/artifacts"], { stdio: "inherit" });
