module.exports = require("./shippedRuntime.cjs").teardown;
