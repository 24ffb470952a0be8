// Runs cli.ts from source for tests: esbuild compiles it on the fly, exactly as the build does.
const { buildSync } = require("esbuild");
const { join } = require("node:path");
const Module = require("node:module");

const entry = join(__dirname, "..", "..", "cli.ts");
const { outputFiles } = buildSync({ entryPoints: [entry], bundle: true, packages: "external", platform: "node", format: "cjs", write: false, logLevel: "silent" });
const cli = new Module(entry);
cli.filename = entry;
cli.paths = Module._nodeModulePaths(join(__dirname, "..", ".."));
cli._compile(outputFiles[0].text, entry);
