import { deploymentOfAttributes } from "./bundleId";

/** The instance's attributes and their ETag, as the metadata server answered them. */
export interface AttributesSnapshot {
  etag: string;
  attributes: Record<string, string>;
}

const metadataUrl = () =>
  `http://${process.env.GCE_METADATA_HOST ?? "metadata.google.internal"}/computeMetadata/v1/instance/attributes/`;

/**
 * Reads the instance attributes; with `lastEtag`, waits until they differ from that version. The
 * metadata server holds a `wait_for_change=true` request open until the content at the path
 * changes (or `timeout_sec` passes), and answers at once when `last_etag` is already stale — so
 * no change between two waits is missed
 * (https://cloud.google.com/compute/docs/metadata/querying-metadata#waitforchange).
 */
export async function readAttributes(lastEtag?: string, timeoutSeconds = 300): Promise<AttributesSnapshot> {
  const params = new URLSearchParams({
    recursive: "true",
    ...(lastEtag ? { wait_for_change: "true", last_etag: lastEtag, timeout_sec: String(timeoutSeconds) } : {}),
  });
  const response = await fetch(`${metadataUrl()}?${params}`, {
    headers: { "Metadata-Flavor": "Google" },
    signal: AbortSignal.timeout((timeoutSeconds + 30) * 1000),
  });
  if (response.status !== 200) throw new Error(`metadata server answered ${response.status} for instance/attributes/`);
  return { etag: response.headers.get("etag") ?? "", attributes: (await response.json()) as Record<string, string> };
}

/** Whether two snapshots name different bundles (or image). */
export function bundlesChanged(before: Record<string, string>, after: Record<string, string>): boolean {
  return deploymentOfAttributes(before) !== deploymentOfAttributes(after);
}

/**
 * Metadata updates do not re-run the startup script (Google runs it at boot only), so this is how a
 * running VM learns of new bundles: it waits on the attributes and calls `onChange` with the new
 * ones each time the bundle keys change. Changes that arrive while `onChange` runs are seen at the
 * next wait (its `last_etag` is already stale). Errors are logged and retried; this never returns.
 *
 * At its start it also calls `onChange` when the attributes name another deployment than
 * `rolledOut` (the last boot's, see `deploymentOf`): a new runtime restarts the watcher, and a
 * change made before the new watcher first reads them would otherwise never be acted on.
 */
export async function followBundles(
  onChange: (attributes: Record<string, string>) => Promise<void>,
  log: (message: string) => void,
  rolledOut: () => string | undefined,
): Promise<never> {
  let known: AttributesSnapshot | undefined;
  for (;;) {
    try {
      if (!known) {
        const first = await readAttributes();
        const named = deploymentOfAttributes(first.attributes);
        const last = rolledOut();
        known = first;
        if (last !== undefined && last !== named) {
          log(`instance metadata names ${named}, but the last boot rolled out ${last}: switching`);
          await onChange(first.attributes).catch((error: Error) =>
            log(`FAILED: switching to new bundles: ${error.message}`),
          );
        }
      }
      const next = await readAttributes(known.etag);
      if (bundlesChanged(known.attributes, next.attributes)) {
        log(
          `instance metadata names new bundles: ${next.attributes["budget-runtime-object"]} ${next.attributes["budget-predictor-object"]}${next.attributes["budget-image"] ? ` ${next.attributes["budget-image"]}` : ""}`,
        );
        await onChange(next.attributes).catch((error: Error) =>
          log(`FAILED: switching to new bundles: ${error.message}`),
        );
      }
      known = next;
    } catch (error) {
      log(`bundle watch: ${(error as Error).message}; retrying`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}
