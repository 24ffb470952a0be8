module.exports = require("./shippedRuntime.cjs").setup;
