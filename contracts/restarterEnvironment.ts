// The contract between the component that declares the restarter Cloud Function and the function
// itself: the environment variables it is configured with. The component sets the deployment's
// (which instance, its declared scheduling, whether it runs); the function reads those and the
// timing variables an operator or a test may set (their defaults live in the function's config).
// Where the function talks to Compute is `ENDPOINT_VARIABLES.compute` (googleEndpoints.ts).

/** The name of each variable, by what it holds. */
export const RESTARTER_VARIABLES = {
  /** The instance's project id (required). */
  project: "BUDGET_PROJECT",
  /** The instance's zone (required). */
  zone: "BUDGET_ZONE",
  /** The instance's name (required). */
  instance: "BUDGET_INSTANCE",
  /** The component's `provisioning`: the restarter switches the instance to it; unset: keep what it runs as. */
  declaredProvisioning: "BUDGET_DECLARED_PROVISIONING",
  /** Seconds down for lack of spot capacity before a switch to standard; 0: never. */
  spotFallbackSeconds: "BUDGET_SPOT_FALLBACK_SECONDS",
  /** The least seconds on standard after a fallback before a return to spot is tried. */
  spotReturnSeconds: "BUDGET_SPOT_RETURN_SECONDS",
  /** When a running fallback instance may be stopped and tried on spot (UTC `HH:MM-HH:MM`). */
  spotReturnWindow: "BUDGET_SPOT_RETURN_WINDOW",
  /** `false` while the model is parked: nothing starts the instance. */
  running: "BUDGET_RUNNING",
  /** How long one invocation may keep trying, in seconds. */
  restartBudgetSeconds: "BUDGET_RESTART_BUDGET_SECONDS",
  /** Between status reads while the instance is stopping, in ms. */
  restartPollMs: "BUDGET_RESTART_POLL_MS",
  /** First retry delay after a transient failure, in ms. */
  restartBackoffMs: "BUDGET_RESTART_BACKOFF_MS",
  /** How long a stop someone asked for is left alone, in seconds. */
  plannedStopGraceSeconds: "BUDGET_PLANNED_STOP_GRACE_SECONDS",
} as const;
