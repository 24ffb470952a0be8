// Jest starts the longest test files first when its cache holds their last durations; on a fresh
// clone (CI) it has none and starts the largest files first, which left the longest ones —
// whole local deployments, the packed package, the VM's boot — to start late and end the run
// alone. These files, the longest measured (`npm run jest -- --runInBand`, 2 cores), go first,
// in this order; the rest follow in Jest's own order.
const { existsSync } = require("node:fs");
const { join } = require("node:path");
const Sequencer = require("@jest/test-sequencer").default;

const LONGEST_FIRST = [
  "package/packedPackage.test.ts",
  "boot/boot.test.ts",
  "local/local.test.ts",
  "local/dayTwo.test.ts",
  "python/vm/pythonInstall.test.ts",
  "boot/switch.test.ts",
  "python/pythonPredictor.test.ts",
  "local/replicas.test.ts",
  "shipped/hostileRequests.test.ts",
  "components/budgetModel.test.ts",
  "boot/cudaRequirements.test.ts",
  "local/gpu.test.ts",
  "restarter/provisioning.test.ts",
  "restarter/restarter.test.ts",
];

for (const file of LONGEST_FIRST)
  if (!existsSync(join(__dirname, "..", file)))
    throw new Error(`tests/support/testSequencer.cjs lists tests/${file}, which does not exist`);

class LongestFirst extends Sequencer {
  sort(tests) {
    const rank = (test) => LONGEST_FIRST.findIndex((file) => test.path.endsWith(`/tests/${file}`));
    const listed = tests.filter((test) => rank(test) >= 0).sort((a, b) => rank(a) - rank(b));
    return [...listed, ...super.sort(tests.filter((test) => rank(test) < 0))];
  }
}

module.exports = LongestFirst;
