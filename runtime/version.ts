// A named import, so that bundles inline just the version, not the whole package.json (whose
// scripts changing must not change the runtime bundle the VM runs).
import { version } from "../package.json";

/** The runtime's version, reported by the health check and the docs. */
export const RUNTIME_VERSION: string = version;
