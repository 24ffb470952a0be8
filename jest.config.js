// The Google clients' HTTP layer (gaxios 7) loads its fetch with a dynamic import(), which Jest's
// CommonJS sandbox only allows under --experimental-vm-modules. Fail fast with the fix, rather
// than with a puzzling error deep inside a client.
const flag = "--experimental-vm-modules";
if (!process.execArgv.includes(flag) && !(process.env.NODE_OPTIONS ?? "").includes(flag)) {
  throw new Error(`Run Jest through "npm test" or "npm run jest -- <paths>": it needs node ${flag}.`);
}

/**
 * Type checking runs once in `npm test` (tsc --noEmit); Jest's transform only strips the types, with
 * esbuild (tests/support/esbuildTransform.cjs), which keeps the cores for the servers under test.
 */
const common = {
  testEnvironment: "node",
  roots: ["<rootDir>/tests"],
  transform: { "^.+\\.ts$": "<rootDir>/tests/support/esbuildTransform.cjs" },
};

/**
 * One run of every test. HTTP behaviour runs against the runtime's server in the Jest process
 * (tests/support/inProcessRuntime.ts); what only a process shows — serve, workers, signals and
 * drain, the Python host, the soak, the hostile-request and smoke suites of tests/shipped/ — runs
 * `serve` processes of the runtime bundle's server.cjs, as the VM starts it, built once per run by
 * the global setup (tests/support/runtimeTarget.ts).
 */
module.exports = {
  ...common,
  testTimeout: 30000,
  // Much of the suite waits on the processes it tests (boots, roll-outs, preemptions): a third worker
  // fills 2 cores. 4 was no faster on the loaded shared machine, and a timing-sensitive test
  // (tests/runtime/queueWait.test.ts) failed there once at 4.
  maxWorkers: 3,
  testSequencer: "<rootDir>/tests/support/testSequencer.cjs",
  globalSetup: "<rootDir>/tests/support/globalSetup.cjs",
  globalTeardown: "<rootDir>/tests/support/globalTeardown.cjs",
  testMatch: ["**/*.test.ts"],
  // tests/vm boots a whole Debian system as root: its own command, `npm run test:vm` (tests/vm/jest.config.js).
  testPathIgnorePatterns: ["/node_modules/", "<rootDir>/tests/vm/"],
};
