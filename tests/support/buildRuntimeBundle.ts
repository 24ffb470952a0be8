// `node scripts/runTs.cjs tests/support/buildRuntimeBundle.ts OUT_DIR`: builds the runtime bundle
// from source as `pulumi up` and `npm run build` do, and prints the archive's path.
import { compileRuntimeBundle } from "../../bundles/runtimeBundle";

void compileRuntimeBundle(process.argv[2]).then((bundle) => process.stdout.write(bundle.file));
