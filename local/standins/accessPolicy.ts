import { randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { ROLE_PERMISSIONS } from "../../components/grants";

/**
 * Permissions of the predefined roles, from the one table the component's grants are declared
 * with (components/grants.ts, which cites Google's roles reference). A role in neither that table
 * nor a declared custom role grants nothing here, so a typo in a role fails locally too.
 */
export const PREDEFINED_ROLES: Readonly<Record<string, readonly string[]>> = Object.fromEntries(
  Object.entries(ROLE_PERMISSIONS).filter(([role]) => role.startsWith("roles/")),
);

/** The answer to "may this request do that?": the caller's identity, or Google's refusal. */
export type AccessDecision =
  { allowed: true; identity: string } | { allowed: false; status: 401 | 403; message: string };

/** Decides requests to the stand-ins. */
export interface AccessPolicy {
  check(req: IncomingMessage, permission: string, resource: string): AccessDecision;
}

/** Unit tests of a single stand-in: any bearer token is accepted (the caller must still authenticate). */
export const anyAuthenticatedCaller: AccessPolicy = {
  check(req) {
    const token = bearer(req);
    return token ? { allowed: true, identity: "anyone" } : unauthenticated();
  },
};

const bearer = (req: IncomingMessage) => /^Bearer (\S+)$/.exec(req.headers.authorization ?? "")?.[1];
const unauthenticated = (): AccessDecision => ({
  allowed: false,
  status: 401,
  message: "Request is missing required authentication credential. Expected OAuth 2 access token.",
});

/**
 * IAM as the local deployment enforces it: each service account gets its own token from the
 * metadata stand-in of the machine it runs as; a request is allowed when a role granted to that
 * account — on the resource or on one of its ancestors (the project) — carries the permission.
 */
export class IamPolicy implements AccessPolicy {
  private readonly tokens = new Map<string, string>();
  /** resource → member → roles */
  private readonly bindings = new Map<string, Map<string, Set<string>>>();
  private readonly customRoles = new Map<string, Set<string>>();
  /** A resource's parent where its name does not say it (a bucket's project). */
  private readonly parents = new Map<string, string>();

  /** The access token the metadata stand-in hands to `serviceAccount` (one per account). */
  tokenFor(serviceAccount: string): string {
    for (const [token, account] of this.tokens) if (account === serviceAccount) return token;
    const token = `ya29.local-${randomBytes(12).toString("hex")}`;
    this.tokens.set(token, serviceAccount);
    return token;
  }

  /** Records a grant, as an IAM member resource does. `member` is `serviceAccount:EMAIL`, `user:…`, … */
  grant(resource: string, role: string, member: string): void {
    const members = this.bindings.get(resource) ?? new Map<string, Set<string>>();
    this.bindings.set(resource, members);
    const roles = members.get(member) ?? new Set<string>();
    members.set(member, roles);
    roles.add(role);
  }

  /** A custom role `projects/P/roles/ID` and its permissions. */
  defineRole(name: string, permissions: string[]): void {
    this.customRoles.set(name, new Set(permissions));
  }

  /** Says that `resource` lives in `parent` (e.g. a bucket in its project). */
  setParent(resource: string, parent: string): void {
    this.parents.set(resource, parent);
  }

  /** Whether `serviceAccount` holds `permission` on `resource`. */
  allows(serviceAccount: string, permission: string, resource: string): boolean {
    const member = `serviceAccount:${serviceAccount}`;
    return this.ancestry(resource).some((scope) =>
      [...(this.bindings.get(scope)?.get(member) ?? [])].some((role) =>
        (this.customRoles.get(role) ?? new Set(PREDEFINED_ROLES[role] ?? [])).has(permission),
      ),
    );
  }

  check(req: IncomingMessage, permission: string, resource: string): AccessDecision {
    const token = bearer(req);
    if (!token) return unauthenticated();
    const identity = this.tokens.get(token);
    if (!identity)
      return {
        allowed: false,
        status: 401,
        message: "Request had invalid authentication credentials. Expected OAuth 2 access token.",
      };
    if (this.allows(identity, permission, resource)) return { allowed: true, identity };
    // Google's wording; the identity is added because locally there is no audit log to look it up in.
    return {
      allowed: false,
      status: 403,
      message: `Permission '${permission}' denied on resource '${resource}' (or it may not exist) for ${identity}.`,
    };
  }

  /** `resource`, then each enclosing resource up to its project: `projects/P/a/A/b/B` → …/a/A → projects/P. */
  private ancestry(resource: string): string[] {
    const chain: string[] = [];
    let current: string | undefined = resource;
    while (current) {
      chain.push(current);
      const parts: string[] = current.split("/");
      current = this.parents.get(current) ?? (parts.length > 2 ? parts.slice(0, -2).join("/") : undefined);
    }
    return chain;
  }
}

/**
 * Exactly one bearer token is accepted — the one a metadata stand-in issued to this run's "VM" —
 * compared in constant time; any other local process with a made-up token gets Google's 401.
 */
export function onlyToken(accessToken: string): AccessPolicy {
  const expected = Buffer.from(accessToken);
  return {
    check(req) {
      if (!req.headers.authorization) return unauthenticated();
      const given = Buffer.from(bearer(req) ?? "");
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        return {
          allowed: false,
          status: 401,
          message:
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
        };
      }
      return { allowed: true, identity: "the VM" };
    },
  };
}
