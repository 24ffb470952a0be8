import type { AccessPolicy } from "./accessPolicy";
import { googleError, listenOnLoopback, type LoopbackServer } from "./listen";

/**
 * A loopback stand-in for Secret Manager's REST `versions:access`, holding secrets in memory under
 * their ids (`projects/P/secrets/S`). `@google-cloud/secret-manager` reaches it with its REST
 * fallback and `apiEndpoint`/`port`/`protocol: "http"`. A caller needs `secretmanager.versions.access`
 * on the secret.
 */
export async function startSecretManagerServer(
  secrets: Record<string, string>,
  access: AccessPolicy,
): Promise<LoopbackServer & { accessed: string[] }> {
  const accessed: string[] = [];
  const server = await listenOnLoopback((req, res) => {
    const match = /^\/v1\/(projects\/[^/]+\/secrets\/[^/]+)\/versions\/([^/:]+):access$/.exec(
      new URL(req.url ?? "/", "http://x").pathname,
    );
    if (!match) return googleError(res, 404, `No stand-in for ${req.method} ${req.url}`);
    const decision = access.check(req, "secretmanager.versions.access", `${match[1]}/versions/${match[2]}`);
    if (!decision.allowed) return googleError(res, decision.status, decision.message);
    const value = secrets[match[1]];
    if (value === undefined) return googleError(res, 404, `Secret [${match[1]}] not found or has no versions.`);
    accessed.push(match[1]);
    res.writeHead(200, { "content-type": "application/json" });
    res.end(
      JSON.stringify({ name: `${match[1]}/versions/1`, payload: { data: Buffer.from(value).toString("base64") } }),
    );
  });
  return { ...server, accessed };
}
