/** Files the boot writes, rendered from the configuration: pure functions, tested without a VM. */
import { RUNTIME_USER } from "./installAccount";
import { renderSandbox } from "./unitSandbox";
import { FRONT_HEADER } from "../../contracts/servedDeployment";

/** Where the runtime listens behind Caddy. */
export const RUNTIME_PORT = 8080;

/** An environment file systemd reads (`EnvironmentFile=`): values double-quoted and escaped. */
export function renderEnvFile(values: Record<string, string>): string {
  return Object.entries(values)
    .map(
      ([key, value]) =>
        `${key}="${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n").replace(/\$/g, "\\$")}"`,
    )
    .join("\n")
    .concat("\n");
}

export interface CaddyOptions {
  hostname: string;
  /**
   * The runtime's ports, in order of preference. With two (the VM's two slots), Caddy sends each
   * request to the first one whose health check passes: a switch to new bundles needs no Caddy
   * reload — the new runtime turns healthy, the old one's health turns `draining` — so client
   * connections to Caddy are never closed by a reload mid-request.
   */
  upstreamPorts: number[];
  /**
   * Caddy's admin API on a unix socket instead of localhost:2019, where every local user — a
   * compromised predictor included — could rewrite the public front or read its TLS keys. Caddy
   * creates the socket under its umask (0755 with systemd's default 0022) and connecting to a unix
   * socket needs write permission, so only Caddy's user and root can use it; `systemctl reload
   * caddy` (`caddy reload --config …`) reads the address from the Caddyfile and keeps working.
   * @default "/var/lib/caddy/admin.sock" (Caddy's home on Debian)
   */
  adminSocket?: string;
  /** Email given to the certificate authorities (expiry and account notices). @default none */
  acmeEmail?: string;
  /**
   * The VM's external IP when `hostname` is a custom domain: Caddy then also answers `GET /` (the
   * health check, nothing else) on plain HTTP for the bare IP, so `pulumi up` can see the runtime
   * serve before the domain's A record exists. @default none
   */
  healthIp?: string;
  /**
   * Caddy's own CA instead of Let's Encrypt and ZeroSSL: for `localhost` (the local cloud's VM),
   * which no public CA certifies, and for tests. Its root is not installed in the system's trust
   * store. @default false
   */
  tlsInternal?: boolean;
  /**
   * What the front serves (`frontIdOf`), sent in the `Budgetml-Front` header of the health check's
   * answer so `pulumi up`'s health wait can tell a reloaded Caddy from the previous one. @default none
   */
  frontId?: string;
  /** Listen on this address only (`bind`), e.g. loopback for the local deployment's front. @default every address */
  bind?: string;
  httpPort?: number;
  httpsPort?: number;
}

/** Caddy's read deadlines for clients (see {@link renderCaddyfile}). */
export const CLIENT_TIMEOUTS = { readHeader: "10s", readBody: "30s", idle: "2m" } as const;

/** Where Caddy's admin API listens on the VM; see {@link CaddyOptions.adminSocket}. */
export const CADDY_ADMIN_SOCKET = "/var/lib/caddy/admin.sock";

/**
 * Caddy in front of the runtime: automatic HTTPS for the hostname (Let's Encrypt; HTTP redirects to
 * HTTPS), and active health checks on the runtime's `GET /`, so a runtime that is starting, draining
 * or failed to load is reported as unavailable instead of being sent traffic. Checked every second:
 * at boot Caddy's first check finds the runtime still loading, and with a longer interval the
 * endpoint stays "no upstreams" that much longer after the runtime is ready. Idle upstream
 * connections are dropped after 30 s (Caddy's default is 2 minutes): shorter than the runtime's
 * keep-alive (65 s), so Caddy never reuses a connection the runtime has just closed.
 * https://caddyserver.com/docs/caddyfile/directives/reverse_proxy#keepalive
 *
 * Clients get as long to send a request as the runtime gives them, and no longer: headers within
 * 10 s, the whole request within 30 s (the runtime's 10 s for headers + 15 s for a body + margin),
 * idle keep-alive connections closed after 2 minutes. Without these Caddy has no read deadline at
 * all, and a client trickling a header byte at a time holds a connection (and its memory) for as
 * long as it likes. No write timeout: it would cut a long prediction's answer.
 * https://caddyserver.com/docs/caddyfile/options#timeouts
 *
 * Certificates: Let's Encrypt first, then ZeroSSL, named explicitly (Caddy docs, global option
 * `cert_issuer`: several issuers are tried in order until one succeeds). sslip.io names share
 * Let's Encrypt's per-domain rate limit with every other sslip.io user, so the fallback matters.
 */
export function renderCaddyfile(options: CaddyOptions): string {
  const global = [
    `\tadmin unix/${options.adminSocket ?? CADDY_ADMIN_SOCKET}`,
    options.httpPort ? `\thttp_port ${options.httpPort}` : "",
    options.httpsPort ? `\thttps_port ${options.httpsPort}` : "",
    options.tlsInternal ? "\tlocal_certs\n\tskip_install_trust" : "",
    options.acmeEmail ? `\temail ${options.acmeEmail}` : "",
    options.tlsInternal ? "" : "\tcert_issuer acme\n\tcert_issuer zerossl",
    "\tservers {",
    "\t\ttimeouts {",
    `\t\t\tread_header ${CLIENT_TIMEOUTS.readHeader}`,
    `\t\t\tread_body ${CLIENT_TIMEOUTS.readBody}`,
    `\t\t\tidle ${CLIENT_TIMEOUTS.idle}`,
    "\t\t}",
    "\t}",
  ].filter(Boolean);
  const plainHttp = options.hostname.startsWith("http://");
  // The health check on the bare IP goes to whichever slot serves, as the main site does.
  const upstream = options.upstreamPorts.map((port) => `127.0.0.1:${port}`).join(" ");
  const health = ["\t@health {", "\t\tmethod GET", "\t\tpath /", "\t}"];
  const frontHeader = options.frontId ? [`\theader @health ${FRONT_HEADER} ${options.frontId}`] : [];
  const bind = options.bind ? [`\tbind ${options.bind}`] : [];
  return [
    "{",
    ...global,
    "}",
    "",
    `${options.hostname} {`,
    ...bind,
    ...(options.frontId ? [...health, ...frontHeader] : []),
    "\tencode gzip",
    `\treverse_proxy ${upstream} {`,
    "\t\tlb_policy first",
    // A slot that is not listening (yet) is skipped: the request goes to the other one.
    "\t\tlb_try_duration 5s",
    "\t\thealth_uri /",
    "\t\thealth_interval 1s",
    "\t\thealth_timeout 3s",
    "\t\ttransport http {",
    "\t\t\tkeepalive 30s",
    "\t\t}",
    "\t}",
    "}",
    ...(plainHttp
      ? []
      : [
          // Caddy's automatic HTTP→HTTPS redirect server, made when no site listens on the HTTP
          // port, has none of the timeouts above; this site makes it one of ours (ACME's HTTP
          // challenges are still answered first on any server on that port).
          "",
          `http://${options.hostname} {`,
          `\tredir https://{host}${options.httpsPort && options.httpsPort !== 443 ? `:${options.httpsPort}` : ""}{uri} 308`,
          "}",
        ]),
    ...(options.healthIp
      ? [
          "",
          `http://${options.healthIp} {`,
          ...bind,
          ...health,
          ...frontHeader,
          "\thandle @health {",
          `\t\treverse_proxy ${upstream}`,
          "\t}",
          "\thandle {",
          '\t\trespond "Only the health check is served on the IP; use the domain over HTTPS." 404',
          "\t}",
          "}",
        ]
      : []),
    "",
  ].join("\n");
}

/**
 * The runtime's systemd unit: restarted on failure, SIGTERM with the drain window before a kill;
 * its credentials on standard input (systemd opens the root-only file for it at every start).
 */
export function renderRuntimeUnit(options: {
  node: string;
  server: string;
  envFile: string;
  credentialsFile: string;
  workingDirectory: string;
  /** The boot's Google endpoint overrides: a metadata stand-in's address is denied like the real one's. */
  endpoints?: Record<string, string>;
}): string {
  return `[Unit]
Description=budgetml runtime
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
EnvironmentFile=${options.envFile}
StandardInput=file:${options.credentialsFile}
WorkingDirectory=${options.workingDirectory}
ExecStart=${options.node} ${options.server} serve
Restart=on-failure
RestartSec=2
KillSignal=SIGTERM
# SIGTERM to the main process only: it drains its workers itself. With the default (control-group)
# every worker got a second SIGTERM from it, which killed them mid-prediction.
KillMode=mixed
TimeoutStopSec=28
User=${RUNTIME_USER}
Group=${RUNTIME_USER}
${renderSandbox("runtime", options.endpoints ?? {})}
[Install]
WantedBy=multi-user.target
`;
}

/** `Environment=` lines for a unit, quoted and escaped for systemd (`%` is a specifier there). */
export function renderUnitEnvironment(env: Record<string, string>): string {
  return Object.entries(env)
    .map(
      ([key, value]) =>
        `Environment="${key}=${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/%/g, "%%")}"\n`,
    )
    .join("");
}

/** The unit watching for Google's advance preemption notice (see watchPreemption.ts). */
export function renderWatcherUnit(options: { node: string; boot: string; env?: Record<string, string> }): string {
  // Endpoint overrides (tests and the local cloud only) reach the watcher as the boot had them.
  const environment = renderUnitEnvironment(options.env ?? {});
  return `[Unit]
Description=budgetml preemption-notice watcher
After=network-online.target

[Service]
Type=simple
${environment}ExecStart=${options.node} ${options.boot} watch
Restart=always
RestartSec=1
${renderSandbox("watcher")}
[Install]
WantedBy=multi-user.target
`;
}
