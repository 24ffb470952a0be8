import { createHash, timingSafeEqual } from "node:crypto";
import express, { type RequestHandler } from "express";
import typeis from "type-is";
import { ERRORS, HttpError } from "../http/errors";
import type { LoginGuard } from "./loginLimiter";
import type { TokenService } from "./tokens";

/** The one account the runtime serves. */
export interface Credentials {
  username: string;
  password: string;
}

const BEARER_CHALLENGE = { "WWW-Authenticate": "Bearer" };

/** Compares secrets in time independent of where they differ (and of their lengths). */
function sameSecret(given: string, expected: string): boolean {
  const digest = (value: string) => createHash("sha256").update(value).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/**
 * `POST /token`: the OAuth2 password grant, form-encoded with the seed's fields (`grant_type`,
 * `username`, `password`, `scope`, `client_id`, `client_secret`; all but username and password may
 * be empty), answering `{access_token, token_type: "bearer", expires_in}`.
 */
export function tokenRoute(credentials: Credentials, tokens: TokenService, limiter: LoginGuard): RequestHandler[] {
  const parseForm = express.urlencoded({ extended: false, limit: "16kb", parameterLimit: 20 });
  const issue: RequestHandler = async (req, res, next) => {
    try {
      const address = req.ip ?? "unknown";
      const form = readLoginForm(req.body);
      const wait = await limiter.attempt(address);
      if (wait > 0) {
        throw new HttpError(
          ERRORS.BUDGETML_LOGIN_RATE_LIMITED,
          `Too many failed logins from this address; try again in ${wait} s`,
          {
            "Retry-After": String(wait),
          },
        );
      }
      const userOk = sameSecret(form.username, credentials.username);
      const passwordOk = sameSecret(form.password, credentials.password);
      if (!(userOk && passwordOk))
        throw new HttpError(ERRORS.BUDGETML_LOGIN_INCORRECT, "Incorrect username or password", BEARER_CHALLENGE);
      limiter.succeeded(address);
      const { token, expiresIn } = await tokens.issue(form.username);
      res.set("Cache-Control", "no-store").json({ access_token: token, token_type: "bearer", expires_in: expiresIn });
    } catch (error) {
      next(error);
    }
  };
  return [
    requireContentType(
      "application/x-www-form-urlencoded",
      "a form (application/x-www-form-urlencoded) with username and password",
    ),
    parseForm,
    issue,
  ];
}

function readLoginForm(body: unknown): { username: string; password: string } {
  const form = (body ?? {}) as Record<string, unknown>;
  const missing = ["username", "password"].filter((field) => typeof form[field] !== "string" || form[field] === "");
  if (missing.length > 0)
    throw new HttpError(
      ERRORS.BUDGETML_FORM_FIELD_MISSING,
      `Missing form field${missing.length > 1 ? "s" : ""}: ${missing.join(", ")}`,
    );
  const grantType = form.grant_type;
  if (grantType !== undefined && grantType !== "" && grantType !== "password") {
    throw new HttpError(
      ERRORS.BUDGETML_GRANT_TYPE_UNSUPPORTED,
      `Unsupported grant_type "${String(grantType)}": only "password" is supported`,
    );
  }
  return { username: form.username as string, password: form.password as string };
}

/** Content-Type headers already judged, per route; clients send the same few again and again. */
const JUDGED_TYPES_KEPT = 64;

/** Refuses a body of another type with 415 before anything reads it. */
export function requireContentType(type: string, expected: string): RequestHandler {
  const judged = new Map<string, boolean>();
  return (req, _res, next) => {
    const header = req.headers["content-type"];
    let matches = header === undefined ? false : judged.get(header);
    if (matches === undefined) {
      matches = Boolean(typeis.is(header as string, [type]));
      if (judged.size < JUDGED_TYPES_KEPT) judged.set(header as string, matches);
    }
    // As type-is judges a request: a request without a body has no content type to match.
    next(
      matches && typeis.hasBody(req)
        ? undefined
        : new HttpError(
            ERRORS.BUDGETML_CONTENT_TYPE_UNSUPPORTED,
            `Expected ${expected}; got ${header ?? "no Content-Type"}`,
          ),
    );
  };
}

// RFC 6750 §2.1: "Bearer" (any case), one space, then a b64token.
const BEARER_HEADER = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i;
const NOT_AUTHENTICATED = "Not authenticated: send Authorization: Bearer <access_token from POST /token>";

/**
 * Bearer authentication from the `Authorization` header only. Tokens in the URL (`?access_token=`,
 * which RFC 6750 §2.3 allows and passport-http-bearer accepts) or in a form body are refused: URLs
 * end up in proxy logs, browser history and Referer headers. Every failure — no header, a malformed
 * one, an expired, forged or unknown token — is the same 401 with `WWW-Authenticate: Bearer`.
 */
export function bearerAuth(tokens: TokenService): RequestHandler {
  return (req, _res, next) => {
    const match = BEARER_HEADER.exec(req.headers.authorization ?? "");
    if (!match) {
      const inUrl = /[?&]access_token=/.test(req.url ?? "");
      return next(
        new HttpError(
          ERRORS.BUDGETML_NOT_AUTHENTICATED,
          inUrl ? `Tokens in the URL are not accepted. ${NOT_AUTHENTICATED}` : NOT_AUTHENTICATED,
          BEARER_CHALLENGE,
        ),
      );
    }
    const answer = (subject: string | undefined) =>
      next(subject ? undefined : new HttpError(ERRORS.BUDGETML_NOT_AUTHENTICATED, NOT_AUTHENTICATED, BEARER_CHALLENGE));
    const known = tokens.verifiedBefore(match[1]);
    if (known !== null) return answer(known);
    tokens.verify(match[1]).then(answer, next);
  };
}
