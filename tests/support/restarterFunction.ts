import type { Server } from "node:http";
import type { AddressInfo } from "node:net";

/** The restarter function, loaded by the Functions Framework's own test server on loopback. */
export interface ServedRestarter {
  /** Where to POST CloudEvents. */
  url: string;
  close(): Promise<void>;
}

/**
 * Sets `env` in this process (the function reads its configuration at cold start), loads the real
 * function module and serves it with the framework's test server on a free loopback port.
 */
export async function serveRestarterFunction(env: Record<string, string>): Promise<ServedRestarter> {
  Object.assign(process.env, env);
  require("../../functions/restarter/index");
  const { getTestServer } = require("@google-cloud/functions-framework/testing") as typeof import("@google-cloud/functions-framework/testing");
  const server: Server = getTestServer("restartInstance");
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
