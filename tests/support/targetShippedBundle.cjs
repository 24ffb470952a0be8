// Setup file of the "shipped runtime bundle" Jest project: the runtime HTTP tests start server.cjs.
process.env.BUDGET_TEST_RUNTIME = "bundle";
