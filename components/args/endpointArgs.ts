/**
 * The args that name the endpoint — `domain`, `subdomain`, `acmeEmail` — may be outputs of other
 * resources, so each has one rule used twice: on a plain value at construction (validateArgs.ts)
 * and on an output once it is known (whenKnown.ts).
 */

/** A domain as the endpoint uses it: without the root's trailing dot that Cloud DNS's `dnsName` carries. */
export function endpointDomain(domain: string): string {
  return domain.replace(/\.$/, "");
}

/** Why `domain` cannot be the endpoint's domain, if it cannot. A trailing dot is allowed (see {@link endpointDomain}). */
export function domainProblem(domain: string): string | undefined {
  return /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/.test(endpointDomain(domain))
    ? undefined
    : `domain: "${domain}" is not a domain name`;
}

/** Why `subdomain` cannot be a label under the domain, if it cannot. */
export function subdomainProblem(subdomain: string): string | undefined {
  return /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(subdomain)
    ? undefined
    : `subdomain: "${subdomain}" is not a DNS label`;
}

/** Why `acmeEmail` cannot be given to the certificate authorities, if it cannot. */
export function acmeEmailProblem(email: string): string | undefined {
  return /^[^\s@"'<>]{1,64}@([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i.test(email)
    ? undefined
    : `acmeEmail: "${email}" is not an email address`;
}
