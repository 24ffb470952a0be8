import { SignJWT, jwtVerify } from "jose";

/** Issues and verifies the bearer tokens `POST /token` hands out: HS256 JWTs signed with `BUDGET_TOKEN`. */
export interface TokenService {
  issue(subject: string): Promise<{ token: string; expiresIn: number }>;
  /** The token's subject when its signature and expiry check out; `undefined` otherwise. */
  verify(token: string): Promise<string | undefined>;
  /**
   * Answers from the cache of verified tokens without waiting: the subject of a token verified
   * before and not expired, `undefined` for one known to be expired, `null` when the token must go
   * through {@link verify}. Lets the hot path skip a promise per request.
   */
  verifiedBefore(token: string): string | undefined | null;
}

const MAX_CACHED_TOKENS = 10_000;

/**
 * A token service whose verification checks each distinct token's signature once, then remembers
 * its subject and expiry keyed by the exact token string. A cache hit therefore proves the same
 * bytes were verified before; expiry is still checked on every request. This removes an HMAC and
 * a JSON parse from the hot path of every prediction without accepting anything jose would reject.
 */
export function createTokenService(signingKey: string, ttlSeconds: number, now: () => number = Date.now): TokenService {
  const key = new TextEncoder().encode(signingKey);
  const verified = new Map<string, { subject: string; expiresAtMs: number }>();

  return {
    async issue(subject) {
      const issuedAt = Math.floor(now() / 1000);
      const token = await new SignJWT({})
        .setProtectedHeader({ alg: "HS256", typ: "JWT" })
        .setSubject(subject)
        .setIssuedAt(issuedAt)
        .setExpirationTime(issuedAt + ttlSeconds)
        .sign(key);
      return { token, expiresIn: ttlSeconds };
    },

    verifiedBefore(token) {
      const hit = verified.get(token);
      if (!hit) return null;
      if (hit.expiresAtMs > now()) return hit.subject;
      verified.delete(token);
      return undefined;
    },

    async verify(token) {
      const known = this.verifiedBefore(token);
      if (known !== null) return known;
      try {
        const { payload } = await jwtVerify(token, key, {
          algorithms: ["HS256"],
          currentDate: new Date(now()),
          requiredClaims: ["sub", "exp"],
        });
        if (verified.size >= MAX_CACHED_TOKENS) verified.delete(verified.keys().next().value as string);
        verified.set(token, { subject: payload.sub as string, expiresAtMs: (payload.exp as number) * 1000 });
        return payload.sub;
      } catch {
        return undefined;
      }
    },
  };
}
