import type { AccessPolicy } from "./accessPolicy";
import { googleError, listenOnLoopback, type LoopbackServer } from "./listen";

/**
 * Secret id (`projects/P/secrets/S`) → its versions: a plain string is one version (1); a list
 * holds versions 1, 2, … in order, `undefined` for a destroyed one. Read live: later additions are served.
 */
export type SecretStore = Record<string, string | Array<string | undefined>>;

/** The versions of a secret in the store, 1 first. */
export function versionsOf(store: SecretStore, secret: string): Array<string | undefined> {
  const held = store[secret];
  return held === undefined ? [] : typeof held === "string" ? [held] : held;
}

/**
 * A loopback stand-in for Secret Manager's REST `versions:access`. `@google-cloud/secret-manager`
 * reaches it with its REST fallback and `apiEndpoint`/`port`/`protocol: "http"`. A caller needs
 * `secretmanager.versions.access` on the secret. As Google does: versions are numbered from 1,
 * `latest` is the newest, and a destroyed version (`latest` included) is refused with 400
 * FAILED_PRECONDITION "Secret Version [NAME] is in DESTROYED state."
 * (https://cloud.google.com/secret-manager/docs/destroy-secret-version; the answer as Google gives
 * it in google-github-actions/get-secretmanager-secrets#268).
 */
export async function startSecretManagerServer(
  secrets: SecretStore,
  access: AccessPolicy,
): Promise<LoopbackServer & { accessed: string[] }> {
  const accessed: string[] = [];
  const server = await listenOnLoopback((req, res) => {
    const match = /^\/v1\/(projects\/[^/]+\/secrets\/[^/]+)\/versions\/([^/:]+):access$/.exec(
      new URL(req.url ?? "/", "http://x").pathname,
    );
    if (!match) return googleError(res, 404, `No stand-in for ${req.method} ${req.url}`);
    const [, secret, asked] = match;
    const decision = access.check(req, "secretmanager.versions.access", `${secret}/versions/${asked}`);
    if (!decision.allowed) return googleError(res, decision.status, decision.message);
    const versions = versionsOf(secrets, secret);
    const number = asked === "latest" ? versions.length : Number(asked);
    if (!Number.isInteger(number) || number < 1 || number > versions.length)
      return googleError(
        res,
        404,
        versions.length === 0
          ? `Secret [${secret}] not found or has no versions.`
          : `Secret Version [${secret}/versions/${asked}] not found.`,
      );
    const name = `${secret}/versions/${number}`;
    const value = versions[number - 1];
    if (value === undefined)
      return googleError(res, 400, `Secret Version [${name}] is in DESTROYED state.`, undefined, "FAILED_PRECONDITION");
    accessed.push(secret);
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ name, payload: { data: Buffer.from(value).toString("base64") } }));
  });
  return { ...server, accessed };
}
