// `node scripts/runTs.cjs tests/support/printBundleNames.ts OUT_DIR PREDICTOR`: builds the runtime,
// predictor and restarter bundles into OUT_DIR and prints their names as one JSON line. The
// determinism test runs it under different umasks and working directories.
import { join } from "node:path";
import { buildPredictorBundle } from "../../bundles/predictorBundle";
import { compileRestarterSource } from "../../bundles/restarterSource";
import { compileRuntimeBundle } from "../../bundles/runtimeBundle";

const [outDir, predictor] = process.argv.slice(2);
void Promise.all([
  compileRuntimeBundle(outDir),
  buildPredictorBundle({ predictor, requirements: ["sentiment@^5"], outDir }),
  compileRestarterSource(join(outDir, "restarter")),
]).then(([runtime, predictorBundle, restarter]) => {
  process.stdout.write(
    `${JSON.stringify({ runtime: runtime.objectName, predictor: predictorBundle.objectName, restarter: restarter.hash })}\n`,
  );
});
