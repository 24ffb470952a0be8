import { bootEnv, type BootEnv } from "./bootEnvironment";

/**
 * Right after `pulumi up` the VM may boot before its grants have propagated (IAM changes take
 * effect "typically within 2 minutes, can take 7 minutes or longer" —
 * https://cloud.google.com/iam/docs/access-change-propagation) or before an object or secret
 * version it names is visible. Those answers — 403 and 404 — are retried with backoff for a few
 * minutes instead of failing the boot; anything else fails at once. The window counts from the
 * first refusal, so a slow first attempt (a large download on a busy machine) does not use it up.
 */
export async function retryWhileNotYetGranted<T>(
  what: string,
  attempt: () => Promise<T>,
  log: (message: string) => void,
  windowMs = retryWindowMs(),
): Promise<T> {
  let deadline: number | undefined;
  let delayMs = 1000;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      const status = notYetGranted(error);
      deadline ??= Date.now() + windowMs;
      if (!status || Date.now() + delayMs > deadline) throw error;
      log(`${what}: ${status}; retrying in ${delayMs / 1000} s (grants and new objects can take minutes to appear)`);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      delayMs = Math.min(delayMs * 2, 30_000);
    }
  }
}

/** `BUDGET_BOOT_RETRY_SECONDS` (tests shorten it). @default 420 — IAM's documented worst case. */
export function retryWindowMs(env: BootEnv = bootEnv()): number {
  const seconds = Number(env.BUDGET_BOOT_RETRY_SECONDS ?? 420);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : 420_000;
}

/**
 * "403 forbidden" / "404 not found" when the error is one of those, from any Google client: HTTP
 * status on JSON APIs (storage, gaxios), gRPC codes 7/5 on the REST-fallback clients (Secret Manager).
 */
function notYetGranted(error: unknown): string | undefined {
  const e = error as { code?: unknown; status?: unknown; response?: { status?: unknown } };
  const status = Number(e?.response?.status ?? e?.status ?? e?.code);
  if (status === 403 || status === 7) return "403 permission denied";
  if (status === 404 || status === 5) return "404 not found";
  return undefined;
}
