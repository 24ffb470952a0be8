// Adaptive batching's two settings, as the component takes them (`maxBatchSize`, `maxBatchWaitMs`),
// as the instance metadata carries them to the VM and as `budgetml serve` reads them (flags
// `--max-batch-size`, `--max-batch-wait-ms`, environment `BUDGET_MAX_BATCH_SIZE`,
// `BUDGET_MAX_BATCH_WAIT_MS`): one range and one default for every side.

/** Requests per batch: 1 (the default) is no batching. */
export const MAX_BATCH_SIZE = { min: 1, max: 4096, integer: true, default: 1 } as const;

/** The longest a request is held for others to join its batch while the model is idle, in ms. */
export const MAX_BATCH_WAIT_MS = { min: 0, max: 60_000, integer: true, default: 10 } as const;

/**
 * Predictions admitted at once per worker when batching is on and none is set: one batch running
 * and the next one filling.
 */
export function inFlightForBatches(maxBatchSize: number): number {
  return 2 * maxBatchSize;
}
