// The Google clients' HTTP layer (gaxios 7) loads its fetch with a dynamic import(), which Jest's
// CommonJS sandbox only allows under --experimental-vm-modules. Fail fast with the fix, rather
// than with a puzzling error deep inside a client.
const flag = "--experimental-vm-modules";
if (!process.execArgv.includes(flag) && !(process.env.NODE_OPTIONS ?? "").includes(flag)) {
  throw new Error(`Run Jest through "npm test" or "npm run jest -- <paths>": it needs node ${flag}.`);
}

/** Type checking runs once in `npm test` (tsc --noEmit); ts-jest only transpiles, which keeps both cores for the servers under test. */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/tests"],
  testMatch: ["**/*.test.ts"],
  // tests/vm boots a whole Debian system as root: its own command, `npm run test:vm` (tests/vm/jest.config.js).
  testPathIgnorePatterns: ["/node_modules/", "<rootDir>/tests/vm/"],
  transform: { "^.+\\.ts$": ["ts-jest", {}] },
  testTimeout: 30000,
  maxWorkers: 2,
};
