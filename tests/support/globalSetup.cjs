const shippedRuntime = require("./shippedRuntime.cjs");
const withoutCloudSdk = require("./withoutCloudSdk.cjs");

module.exports = function globalSetup() {
  withoutCloudSdk.setup();
  shippedRuntime.setup();
};
