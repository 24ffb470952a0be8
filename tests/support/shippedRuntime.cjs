// Jest global setup and teardown: builds the runtime bundle once, with the code `pulumi up` and
// `npm run build` use, and extracts it into a temporary folder, far from any node_modules, for the
// `serve` process tests (tests/support/runtimeTarget.ts).
const { execFileSync } = require("node:child_process");
const { existsSync, mkdirSync, mkdtempSync, rmSync } = require("node:fs");
const { tmpdir } = require("node:os");
const { join } = require("node:path");

const ROOT = join(__dirname, "..", "..");

module.exports.setup = function buildShippedRuntime() {
  const work = mkdtempSync(join(tmpdir(), "budgetml-shipped-runtime-"));
  const archive = execFileSync(
    process.execPath,
    [join(ROOT, "scripts", "runTs.cjs"), join(__dirname, "buildRuntimeBundle.ts"), join(work, "out")],
    { encoding: "utf8", cwd: ROOT },
  );
  const extracted = join(work, "runtime");
  mkdirSync(extracted);
  execFileSync("tar", ["-xzf", archive, "-C", extracted]);
  if (!existsSync(join(extracted, "server.cjs"))) throw new Error(`the runtime bundle ${archive} has no server.cjs`);
  process.env.BUDGET_TEST_RUNTIME_DIR = extracted;
  process.env.BUDGET_TEST_RUNTIME_WORK = work;
};

module.exports.teardown = function removeShippedRuntime() {
  if (process.env.BUDGET_TEST_RUNTIME_WORK)
    rmSync(process.env.BUDGET_TEST_RUNTIME_WORK, { recursive: true, force: true });
};
