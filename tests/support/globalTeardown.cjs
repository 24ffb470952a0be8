const shippedRuntime = require("./shippedRuntime.cjs");
const withoutCloudSdk = require("./withoutCloudSdk.cjs");

module.exports = function globalTeardown() {
  shippedRuntime.teardown();
  withoutCloudSdk.teardown();
};
