/** The runtime's version, reported by the health check and the docs. */
export const RUNTIME_VERSION: string = (require("../package.json") as { version: string }).version;
