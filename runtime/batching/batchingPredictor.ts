import type { Predictor, PredictRequest, PredictResult } from "../predictor/predictor";
import { AdaptiveBatcher, type BatchLimits } from "./adaptiveBatcher";

/** Adaptive batching, when on: see {@link AdaptiveBatcher}. */
export type BatchingOptions = BatchLimits;

/**
 * The predictor the prediction gate calls: the loaded one as it is, or — with batching — an
 * adapter with the same `predict` contract that submits each request to an {@link AdaptiveBatcher}
 * over the predictor's `predictBatch`. Throws when batching is asked of a predictor without
 * `predictBatch` (the runtime reports it as a load failure).
 */
export function batchingPredictor(
  predictor: Predictor,
  batching: BatchingOptions | undefined,
  observe?: (size: number, durationMs: number) => void,
): Predictor {
  if (!batching || batching.maxBatchSize <= 1) return predictor;
  const predictBatch = predictor.predictBatch?.bind(predictor);
  if (!predictBatch)
    throw new Error(
      `batching is on (maxBatchSize ${batching.maxBatchSize}) but the predictor has no predictBatch() method` +
        " (predict_batch() for a Python class)",
    );
  const batcher = new AdaptiveBatcher<PredictRequest, PredictResult>(
    // An `Error` among the results rejects its request alone; the gate answers it as a thrown one
    // (asPredictorError). Anything but a list is taken as no results.
    async (requests) => {
      const results = (await predictBatch(requests)) as { map?: unknown } | undefined;
      const isList = typeof results?.map === "function";
      return (isList ? results : undefined) as Array<PredictResult | Error>;
    },
    batching,
    observe,
  );
  return { predict: (request) => batcher.submit(request) };
}
