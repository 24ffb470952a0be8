import { request } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { ENDPOINT_VARIABLES } from "../../contracts/googleEndpoints";
import { ATTRIBUTES_FOLDER } from "../../contracts/instanceMetadata";
import { changedKeys, servedDeployment } from "../../contracts/servedDeployment";

/** The instance's attributes and their ETag, as the metadata server answered them. */
export interface AttributesSnapshot {
  etag: string;
  attributes: Record<string, string>;
}

/** How long one wait for a change may last before the metadata server answers with what it has. */
const WAIT_SECONDS = 300;

/**
 * Reads the instance attributes; with `lastEtag`, waits until they differ from that version. The
 * metadata server holds a `wait_for_change=true` request open until the content at the path
 * changes (or `timeout_sec` passes) before it sends any header, and answers at once when
 * `last_etag` is already stale — so no change between two waits is missed
 * (https://cloud.google.com/compute/docs/metadata/querying-metadata#waitforchange).
 *
 * Sent with node:http, which sets no time limit on a response's headers: `fetch` (undici) gives up
 * on headers after 300 s by default (`headersTimeout`, https://undici.nodejs.org/#/docs/api/Client),
 * exactly as long as the server holds a wait, so every quiet wait ended in an error and a retry.
 * This one ends only when the server answers, or `timeoutSeconds` + 30 s pass without an answer.
 */
export function readAttributes(
  lastEtag?: string,
  timeoutSeconds = WAIT_SECONDS,
  signal?: AbortSignal,
): Promise<AttributesSnapshot> {
  const params = new URLSearchParams({
    recursive: "true",
    ...(lastEtag ? { wait_for_change: "true", last_etag: lastEtag, timeout_sec: String(timeoutSeconds) } : {}),
  });
  const host = process.env[ENDPOINT_VARIABLES.metadata] ?? "metadata.google.internal";
  return new Promise((resolve, reject) => {
    const req = request(
      `http://${host}/computeMetadata/v1/instance/${ATTRIBUTES_FOLDER}?${params}`,
      { headers: { "Metadata-Flavor": "Google" }, signal: AbortSignal.timeout((timeoutSeconds + 30) * 1000) },
      (response) => {
        let body = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => (body += chunk));
        response.on("error", reject);
        response.on("end", () => {
          if (response.statusCode !== 200)
            return reject(
              new Error(`metadata server answered ${response.statusCode} for instance/${ATTRIBUTES_FOLDER}`),
            );
          try {
            resolve({
              etag: String(response.headers.etag ?? ""),
              attributes: JSON.parse(body) as Record<string, string>,
            });
          } catch (error) {
            reject(error as Error);
          }
        });
      },
    );
    req.on("error", reject);
    req.end();
    // Given up (the watch is stopping): the request and its socket end now, not when the poll would.
    const abort = () => req.destroy(signal?.reason as Error);
    if (signal?.aborted) abort();
    signal?.addEventListener("abort", abort, { once: true });
    req.once("close", () => signal?.removeEventListener("abort", abort));
  });
}

/**
 * Metadata updates do not re-run the startup script (Google runs it at boot only), so this is how a
 * running VM learns that what it serves changed — new bundles or image, a new login, hostname or
 * certificate contact: every field the metadata contract rolls out (`servedDeployment`). It waits
 * on the attributes and calls `onChange` with the new ones each time that changes. Changes that
 * arrive while `onChange` runs are seen at the next wait (its `last_etag` is already stale).
 * Errors are logged and retried; this returns only once `signal` aborts (the watcher never aborts
 * it: it follows the deployment for as long as the VM runs).
 *
 * At its start it also calls `onChange` when the attributes name another deployment than
 * `rolledOut` (the last boot's): a new runtime restarts the watcher, and a change made before the
 * new watcher first reads them would otherwise never be acted on.
 */
export async function followDeployment(
  onChange: (attributes: Record<string, string>) => Promise<void>,
  log: (message: string) => void,
  rolledOut: () => string | undefined,
  signal?: AbortSignal,
): Promise<void> {
  let known: AttributesSnapshot | undefined;
  const rollOut = async (attributes: Record<string, string>, changed: string[]) => {
    log(`instance metadata changed ${changed.join(", ")}: rolling out`);
    await onChange(attributes).catch((error: Error) =>
      log(`FAILED: rolling out ${changed.join(", ")}: ${error.message}`),
    );
  };
  while (!signal?.aborted) {
    try {
      if (!known) {
        const first = await readAttributes(undefined, undefined, signal);
        const named = servedDeployment(first.attributes);
        const last = rolledOut();
        known = first;
        if (last !== undefined && last !== named) await rollOut(first.attributes, changedKeys(last, named));
      }
      const next = await readAttributes(known.etag, undefined, signal);
      const changed = changedKeys(servedDeployment(known.attributes), servedDeployment(next.attributes));
      if (changed.length > 0) await rollOut(next.attributes, changed);
      known = next;
    } catch (error) {
      if (signal?.aborted) return;
      log(`deployment watch: ${(error as Error).message}; retrying`);
      await sleep(1000, undefined, { signal }).catch(() => undefined); // cut short when the watch stops
    }
  }
}
