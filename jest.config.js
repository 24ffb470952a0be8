/** Type checking runs once in `npm test` (tsc --noEmit); ts-jest only transpiles, which keeps 2 cores free for the servers under test. */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/tests"],
  testMatch: ["**/*.test.ts"],
  transform: { "^.+\\.ts$": ["ts-jest", {}] },
  testTimeout: 30000,
  maxWorkers: 2,
};
