// The Google clients' HTTP layer (gaxios 7) loads its fetch with a dynamic import(), which Jest's
// CommonJS sandbox only allows under --experimental-vm-modules. Fail fast with the fix, rather
// than with a puzzling error deep inside a client.
const flag = "--experimental-vm-modules";
if (!process.execArgv.includes(flag) && !(process.env.NODE_OPTIONS ?? "").includes(flag)) {
  throw new Error(`Run Jest through "npm test" or "npm run jest -- <paths>": it needs node ${flag}.`);
}

/** Type checking runs once in `npm test` (tsc --noEmit); ts-jest only transpiles, which keeps both cores for the servers under test. */
const common = {
  testEnvironment: "node",
  roots: ["<rootDir>/tests"],
  transform: { "^.+\\.ts$": ["ts-jest", {}] },
};

/**
 * Two projects: every test against the sources, and the runtime's HTTP tests (tests/runtime and tests/python, but
 * not its in-process unit tests) once more against the runtime bundle's server.cjs as the VM
 * starts it — one suite, two targets (tests/support/runtimeTarget.ts).
 */
module.exports = {
  testTimeout: 30000,
  maxWorkers: 2,
  globalSetup: "<rootDir>/tests/support/globalSetup.cjs",
  globalTeardown: "<rootDir>/tests/support/globalTeardown.cjs",
  projects: [
    // tests/vm boots a whole Debian system as root: its own command, `npm run test:vm` (tests/vm/jest.config.js).
    {
      ...common,
      displayName: "source",
      testMatch: ["**/*.test.ts"],
      testPathIgnorePatterns: ["/node_modules/", "<rootDir>/tests/vm/"],
    },
    {
      ...common,
      displayName: "shipped runtime bundle",
      testMatch: ["<rootDir>/tests/runtime/**/*.test.ts", "<rootDir>/tests/python/**/*.test.ts"],
      // In-process unit tests of the runtime's parts, not of a serve process: sources only.
      testPathIgnorePatterns: [
        "/node_modules/",
        "/tests/runtime/unit/",
        "/tests/runtime/loader\\.test\\.ts$",
        "/tests/runtime/cli\\.test\\.ts$",
        "/tests/python/vm/",
        "/tests/python/unit/",
      ],
      setupFiles: ["<rootDir>/tests/support/targetShippedBundle.cjs"],
    },
  ],
};
