// Jest global setup and teardown: `npm run build` once — dist/cli.js, dist/index.js and the
// artifacts the package ships (dist/artifacts/) — so the tests run the CLI and the runtime bundle
// as the package ships them, and the component deploys them (BUDGET_PREBUILT_ARTIFACTS). The
// runtime bundle is extracted into a temporary folder, far from any node_modules, for the `serve`
// process tests (tests/support/runtimeTarget.ts). Nothing else writes dist/ during the run
// (tests/package/ packs a copy of the checkout).
const { execFileSync } = require("node:child_process");
const { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } = require("node:fs");
const { tmpdir } = require("node:os");
const { join } = require("node:path");

const ROOT = join(__dirname, "..", "..");

module.exports.setup = function buildShippedPackage() {
  execFileSync(process.execPath, [join(ROOT, "scripts", "build.mjs")], {
    cwd: ROOT,
    stdio: ["ignore", "ignore", "inherit"],
  });
  const artifacts = join(ROOT, "dist", "artifacts");
  const { runtime } = JSON.parse(readFileSync(join(artifacts, "manifest.json"), "utf8"));
  const work = mkdtempSync(join(tmpdir(), "budgetml-shipped-runtime-"));
  const extracted = join(work, "runtime");
  mkdirSync(extracted);
  execFileSync("tar", ["-xzf", join(artifacts, runtime.objectName), "-C", extracted]);
  if (!existsSync(join(extracted, "server.cjs")))
    throw new Error(`the runtime bundle ${runtime.objectName} has no server.cjs`);
  process.env.BUDGET_TEST_RUNTIME_DIR = extracted;
  process.env.BUDGET_TEST_RUNTIME_WORK = work;
  // The component, run from source in the tests, deploys these same artifacts instead of building
  // its own in every test file (bundles/prebuilt.ts).
  process.env.BUDGET_PREBUILT_ARTIFACTS = artifacts;
};

module.exports.teardown = function removeShippedRuntime() {
  if (process.env.BUDGET_TEST_RUNTIME_WORK)
    rmSync(process.env.BUDGET_TEST_RUNTIME_WORK, { recursive: true, force: true });
};
