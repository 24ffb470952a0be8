import { createServer, type RequestListener } from "node:http";
import type { AddressInfo } from "node:net";

/** A loopback HTTP server on a free port, and how to stop it. */
export interface LoopbackServer {
  url: string;
  host: string;
  port: number;
  close(): Promise<void>;
}

/** Starts `handler` on 127.0.0.1 at a free port: every stand-in of a Google endpoint is one of these. */
export async function listenOnLoopback(handler: RequestListener): Promise<LoopbackServer> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const STATUS: Record<number, string> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  412: "FAILED_PRECONDITION",
  429: "RESOURCE_EXHAUSTED",
  500: "INTERNAL",
  503: "UNAVAILABLE",
};

/**
 * Google's JSON error body; `reason` is the API-specific one clients read (e.g. notFound), `status`
 * the canonical one when it is not the usual one for `code` (400 FAILED_PRECONDITION).
 */
export function googleError(
  res: import("node:http").ServerResponse,
  code: number,
  message: string,
  reason?: string,
  status = STATUS[code] ?? "UNKNOWN",
): void {
  res.writeHead(code, { "content-type": "application/json; charset=UTF-8" });
  res.end(
    JSON.stringify({
      error: { code, message, status, errors: [{ message, domain: "global", reason: reason ?? status.toLowerCase() }] },
    }),
  );
}
