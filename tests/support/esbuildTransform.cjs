// Jest's transform for the TypeScript sources and tests: esbuild strips the types, nothing more.
// Type checking runs once over the whole tree in `npm test` (tsc --noEmit); checking again per file
// here would only spend the cores the servers under test need.
const { transformSync } = require("esbuild");
const { createHash } = require("node:crypto");
const esbuildVersion = require("esbuild/package.json").version;

const ownSource = require("node:fs").readFileSync(__filename);

module.exports = {
  process(sourceText, sourcePath) {
    const { code, map } = transformSync(sourceText, {
      loader: "ts",
      format: "cjs",
      target: "node20",
      sourcefile: sourcePath,
      sourcemap: "external",
      sourcesContent: false,
      // tsconfig.json's `isolatedModules: true` makes each file transpilable on its own.
      tsconfigRaw: { compilerOptions: { esModuleInterop: true, target: "ES2022" } },
    });
    return { code, map };
  },
  getCacheKey(sourceText, sourcePath) {
    return createHash("sha256")
      .update(esbuildVersion)
      .update(ownSource)
      .update(sourcePath)
      .update(sourceText)
      .digest("hex");
  },
};
