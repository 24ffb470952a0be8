// `npm run test:vm`: the VM boot on a Debian 12 root with systemd as PID 1 (root, namespaces,
// debootstrap). One test file, run alone: it boots a whole system and owns ports 80, 443 and 8080.
require("../../jest.config.js"); // its check: Jest must run under --experimental-vm-modules

module.exports = {
  rootDir: "../..",
  testEnvironment: "node",
  roots: ["<rootDir>/tests/vm"],
  transform: { "^.+\\.ts$": "<rootDir>/tests/support/esbuildTransform.cjs" },
  maxWorkers: 1,
  testTimeout: 10 * 60_000,
};
