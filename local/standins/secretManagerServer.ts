import { timingSafeEqual } from "node:crypto";
import { googleError, listenOnLoopback, type LoopbackServer } from "./listen";

/** Options of {@link startSecretManagerServer}. */
export interface SecretManagerServerOptions {
  /**
   * The only bearer token accepted: the one the metadata stand-in hands this run's "VM" (its
   * `accessToken`). Any other caller — another local process with a made-up token — gets 401, as
   * Google answers a token it did not issue.
   */
  accessToken: string;
}

/**
 * A loopback stand-in for Secret Manager's REST `versions:access`, holding secrets in memory under
 * their ids (`projects/P/secrets/S`). `@google-cloud/secret-manager` reaches it with its REST
 * fallback and `apiEndpoint`/`port`/`protocol: "http"`.
 */
export async function startSecretManagerServer(secrets: Record<string, string>, options: SecretManagerServerOptions): Promise<LoopbackServer & { accessed: string[] }> {
  const accessed: string[] = [];
  const expected = Buffer.from(`Bearer ${options.accessToken}`);
  const server = await listenOnLoopback((req, res) => {
    const given = Buffer.from(req.headers.authorization ?? "");
    if (given.length === 0) return googleError(res, 401, "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return googleError(res, 401, "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.");
    }
    const match = /^\/v1\/(projects\/[^/]+\/secrets\/[^/]+)\/versions\/([^/:]+):access$/.exec(new URL(req.url ?? "/", "http://x").pathname);
    if (!match) return googleError(res, 404, `No stand-in for ${req.method} ${req.url}`);
    const value = secrets[match[1]];
    if (value === undefined) return googleError(res, 404, `Secret [${match[1]}] not found or has no versions.`);
    accessed.push(match[1]);
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ name: `${match[1]}/versions/1`, payload: { data: Buffer.from(value).toString("base64") } }));
  });
  return { ...server, accessed };
}
