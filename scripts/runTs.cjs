// `node scripts/runTs.cjs FILE.ts [args]`: runs a TypeScript entry from source, compiled in memory
// by esbuild the way the build does (dependencies left to node_modules). Tests and benchmarks use it.
const { buildSync } = require("esbuild");
const { resolve } = require("node:path");
const Module = require("node:module");

const entry = resolve(process.argv[2]);
process.argv.splice(2, 1); // the entry sees its own arguments, as if run directly
// Cluster workers re-run this script with the entry again in front of the same arguments.
const cluster = require("node:cluster");
if (cluster.isPrimary) cluster.setupPrimary({ exec: __filename, args: [entry, ...process.argv.slice(2)] });
const { outputFiles } = buildSync({
  entryPoints: [entry],
  bundle: true,
  packages: "external",
  platform: "node",
  format: "cjs",
  target: "node20",
  write: false,
  logLevel: "silent",
});
const compiled = new Module(entry);
compiled.filename = entry;
compiled.paths = Module._nodeModulePaths(require("node:path").dirname(entry));
compiled._compile(outputFiles[0].text, entry);
