import { execFile, spawn } from "node:child_process";
import { existsSync, openSync, readFileSync } from "node:fs";
import { chmod, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { createServer, connect } from "node:net";
import { dirname, join, resolve } from "node:path";
import { promisify } from "node:util";
import {
  renderCaddyfile,
  renderEnvFile,
  renderRuntimeUnit,
  renderUnitEnvironment,
  renderWatcherUnit,
  RUNTIME_PORT,
} from "./renderConfig";
import { ENDPOINT_VARIABLES } from "../../contracts/googleEndpoints";
import { splitCredentials } from "../../contracts/runtimeCredentials";
import { ensureSystemUser, RUNTIME_USER } from "./installAccount";
import { renderSandbox } from "./unitSandbox";
import {
  CREDENTIAL_HELPER,
  renderCredentialHelper,
  renderDockerConfig,
  renderDockerEnvFile,
  renderImageSlotUnit,
} from "./renderImage";
import { bootEnv } from "./bootEnvironment";
import { bootLog } from "./bootLog";
import { pullImage } from "./pullImage";

const run = promisify(execFile);

/** The runtime runs in one of two slots; a switch to new bundles starts the other one. */
export type Slot = "a" | "b";

/** Where things live: `root` is `/` on a VM, a temporary folder under tests and locally (always absolute). */
export interface Paths {
  root: string;
  home: string;
}

/** What the front (Caddy) serves: the public hostname, and its certificate and health-check settings. */
export interface FrontSpec {
  hostname: string;
  /** Email for the certificate authorities; empty when not given. */
  acmeEmail?: string;
  /** With a custom domain: the external IP, on which Caddy answers the health check over HTTP. */
  healthIp?: string;
  /** Certificates from Caddy's internal CA (`localhost`), not from public CAs. */
  tlsInternal?: boolean;
  /** What the front serves (`frontIdOf`), reported in the health check's `Budgetml-Front` header. */
  frontId?: string;
}

/** One slot's runtime: the runtime bundle's server (or a custom image) with its environment. */
export interface SlotSpec extends Paths {
  slot: Slot;
  port: number;
  server: string;
  image: string;
  env: Record<string, string>;
}

/**
 * Runs the runtime's slots, the front that routes to one of them, and the watcher. A front that
 * can switch upstreams while both slots run (`overlaps`) gives switches without downtime.
 */
export interface ServiceManager {
  /** Whether old and new runtimes can run side by side behind the front during a switch. */
  readonly overlaps: boolean;
  /** The port a slot's runtime should listen on. */
  portFor(paths: Paths, slot: Slot): Promise<number>;
  /** (Re)starts the slot with this spec; enabled, so it starts by itself at the next boot. */
  startSlot(spec: SlotSpec): Promise<void>;
  /** Starts the slot if it is not running (after a reboot); leaves a running one alone. */
  ensureSlot(spec: SlotSpec): Promise<void>;
  /** SIGTERM (the runtime drains), wait for it to end, and keep it from starting at boot. */
  stopSlot(paths: Paths, slot: Slot): Promise<void>;
  /**
   * Makes sure the front (Caddy) runs for `hostname` in front of both slots, and records `slot` as
   * the serving one. Caddy sends traffic to whichever slot passes its health check, so a switch
   * needs no change to Caddy; a new hostname or certificate contact reloads its configuration, which
   * Caddy applies gracefully (connections and requests under way are not cut).
   */
  routeTo(paths: Paths, front: FrontSpec, slot: Slot, port: number): Promise<void>;
  /** How long a stopping runtime keeps serving after its health says `draining` (0 without a front). */
  readonly handoffMs: number;
  /** How long the front takes to notice a runtime turned healthy (its health-check period, with margin). */
  readonly noticeMs: number;
  /**
   * Keeps the watcher (`boot.cjs watch`) running on this boot.cjs, restarted only when it changed;
   * `endpoints` are the Google endpoint overrides the boot ran with (tests, the local cloud).
   */
  ensureWatcher(paths: Paths, boot: string, endpoints: Record<string, string>): Promise<void>;
  /** Runs a boot — the instance's startup script, `rolloutScript(paths)` — outside the watcher's own lifetime. */
  runBoot(paths: Paths): Promise<void>;
  /** Shutdown: stops both slots (they drain). */
  stopAll(paths: Paths): Promise<void>;
}

/**
 * Writes a file atomically (temp + rename) with exactly `mode`, whatever the umask (the roll-out
 * unit's is 0077; Caddy's configuration must stay readable by Caddy); returns whether its content
 * changed.
 */
export async function writeIfChanged(file: string, content: string, mode = 0o644): Promise<boolean> {
  if (existsSync(file) && (await readFile(file, "utf8")) === content) return false;
  await mkdir(dirname(file), { recursive: true });
  await writeFile(`${file}.tmp`, content, { mode });
  await chmod(`${file}.tmp`, mode);
  await rename(`${file}.tmp`, file);
  return true;
}

const SLOT_PORTS: Record<Slot, number> = { a: RUNTIME_PORT + 1, b: RUNTIME_PORT + 2 };
/**
 * Caddy checks each slot's health every second (renderCaddyfile): a runtime handing off keeps
 * serving for three checks' worth after its health turns `draining`, so no request that Caddy
 * sent it before noticing is refused.
 */
const HANDOFF_MS = 3000;
/** Two of Caddy's 1 s health checks: by then it has seen a new runtime answer `ready`. */
const NOTICE_MS = 2000;
const unit = (slot: Slot) => `budgetml-${slot}.service`;

/** The metadata server's address override in `env` (tests), which the runtime unit denies like the real one. */
function metadataOverride(env: NodeJS.ProcessEnv): Record<string, string> {
  const host = env[ENDPOINT_VARIABLES.metadata];
  return host ? { [ENDPOINT_VARIABLES.metadata]: host } : {};
}

/** One file the systemd variant writes: an absolute path, its content and its mode. */
export interface SystemFile {
  path: string;
  content: string;
  mode: number;
}

/** Everything the systemd variant needs to render one slot, the front and the watcher. */
export interface SystemdSpec extends Paths, FrontSpec {
  slot: Slot;
  port: number;
  server: string;
  image: string;
  env: Record<string, string>;
  /** boot.cjs, which runs the watcher (`boot.cjs watch`). */
  boot: string;
  endpoints?: Record<string, string>;
}

/**
 * Every file the systemd variant writes, rendered for `spec.root` (`/` on a VM) with `node` as the
 * interpreter. Paths — of the files and inside them — are absolute whatever the root: systemd
 * ignores a relative `EnvironmentFile=`, and the runtime resolves a relative predictor path against
 * its working directory.
 */
export function renderSystemdFiles(
  spec: SystemdSpec,
  node: string,
): Record<"env" | "credentials" | "runtime" | "watcher" | "rollout" | "caddy", SystemFile> {
  const root = resolve(spec.root || "/");
  const etc = join(root, "etc", "budgetml");
  const envFile = join(etc, `runtime-${spec.slot}.env`);
  const credentialsFile = join(etc, `runtime-${spec.slot}.credentials`);
  const units = join(root, "etc", "systemd", "system");
  // The credentials are never in the runtime's environment: systemd hands their root-only file to
  // it as its standard input (contracts/runtimeCredentials.ts).
  const { env, stdin } = splitCredentials(spec.env);
  return {
    env: { path: envFile, content: spec.image ? renderDockerEnvFile(env) : renderEnvFile(env), mode: 0o600 },
    credentials: { path: credentialsFile, content: stdin, mode: 0o600 },
    runtime: {
      path: join(units, unit(spec.slot)),
      content: spec.image
        ? renderImageSlotUnit({
            slot: spec.slot,
            image: spec.image,
            envFile,
            credentialsFile,
            port: spec.port,
            dockerConfig: join(etc, "docker"),
          })
        : renderRuntimeUnit({
            node,
            server: spec.server,
            envFile,
            credentialsFile,
            workingDirectory: dirname(spec.server),
            endpoints: spec.endpoints,
          }),
      mode: 0o644,
    },
    watcher: {
      path: join(units, "budgetml-preemption.service"),
      content: renderWatcherUnit({ node, boot: spec.boot, env: spec.endpoints ?? {} }),
      mode: 0o644,
    },
    rollout: {
      path: join(units, "budgetml-rollout.service"),
      content: renderRolloutUnit({
        script: rolloutScript({ root, home: join(root, "opt", "budgetml") }),
        env: spec.endpoints ?? {},
      }),
      mode: 0o644,
    },
    caddy: {
      path: join(root, "etc", "caddy", "Caddyfile"),
      content: renderCaddyfile({
        hostname: spec.hostname,
        upstreamPorts: [SLOT_PORTS.a, SLOT_PORTS.b],
        acmeEmail: spec.acmeEmail || undefined,
        healthIp: spec.healthIp || undefined,
        tlsInternal: spec.tlsInternal,
        frontId: spec.frontId,
      }),
      mode: 0o644,
    },
  };
}

/**
 * The VM: systemd runs each slot as an unprivileged user (or a custom image under docker) and
 * restarts it on failure; Caddy fronts both slots and sends traffic to the healthy one, so a switch
 * to new bundles never reloads it.
 */
export const systemd: ServiceManager = {
  overlaps: true,
  handoffMs: HANDOFF_MS,
  noticeMs: NOTICE_MS,
  async portFor(_paths, slot) {
    return SLOT_PORTS[slot];
  },
  async startSlot(spec) {
    const files = renderSystemdFiles(
      { ...spec, hostname: "", boot: "", endpoints: metadataOverride(process.env) },
      process.execPath,
    );
    if (spec.image) {
      const etc = join(resolve(spec.root || "/"), "etc", "budgetml");
      await writeIfChanged(join(etc, "docker", "config.json"), renderDockerConfig(spec.image));
      await writeIfChanged(
        join(resolve(spec.root || "/"), "usr", "local", "bin", `docker-credential-${CREDENTIAL_HELPER}`),
        renderCredentialHelper(),
        0o755,
      );
    }
    for (const file of [files.env, files.credentials, files.runtime])
      await writeIfChanged(file.path, file.content, file.mode);
    // The unit pulls too, but fails at once: right after `pulumi up` the VM's grant on the image's
    // repository may not have propagated yet, which this pull waits out.
    if (spec.image) await pullImage(spec.image, join(resolve(spec.root || "/"), "etc", "budgetml", "docker"), bootLog);
    await ensureSystemUser(RUNTIME_USER);
    await run("systemctl", ["daemon-reload"]);
    await run("systemctl", ["enable", unit(spec.slot)]);
    await run("systemctl", ["restart", unit(spec.slot)]);
  },
  async ensureSlot(spec) {
    await run("systemctl", ["start", unit(spec.slot)]);
  },
  async stopSlot(_paths, slot) {
    await run("systemctl", ["disable", "--now", unit(slot)]);
  },
  async routeTo(paths, front) {
    const { caddy } = renderSystemdFiles(
      { ...paths, ...front, slot: "a", port: SLOT_PORTS.a, server: "", image: "", env: {}, boot: "" },
      process.execPath,
    );
    // Changes only with the hostname or the certificate settings (a domain or acmeEmail changed on a
    // live stack): Caddy reloads a new configuration gracefully, without dropping connections
    // (https://caddyserver.com/docs/command-line#caddy-reload).
    const changed = await writeIfChanged(caddy.path, caddy.content, caddy.mode);
    await run("systemctl", ["enable", "caddy.service"]);
    // A reload asks the running Caddy through the admin endpoint the *new* file names; the Caddy that
    // Debian's package started on a first boot listens on its default one instead: restart it then.
    if (!changed) await run("systemctl", ["start", "caddy.service"]);
    else
      await run("systemctl", ["reload-or-restart", "caddy.service"]).catch(() =>
        run("systemctl", ["restart", "caddy.service"]),
      );
  },
  async ensureWatcher(paths, boot, endpoints) {
    const files = renderSystemdFiles(
      { ...paths, hostname: "", slot: "a", port: SLOT_PORTS.a, server: "", image: "", env: {}, boot, endpoints },
      process.execPath,
    );
    const changed = await writeIfChanged(files.watcher.path, files.watcher.content, files.watcher.mode);
    await writeIfChanged(files.rollout.path, files.rollout.content, files.rollout.mode);
    await run("systemctl", ["daemon-reload"]);
    await run("systemctl", ["enable", "budgetml-preemption.service"]);
    await run("systemctl", [changed ? "restart" : "start", "budgetml-preemption.service"]);
  },
  async runBoot() {
    // A unit of its own: the boot restarts the watcher when its code changed, which must not end
    // the boot that the watcher started.
    await run("systemctl", ["start", "budgetml-rollout.service"]);
  },
  async stopAll() {
    // A roll-out under way would start a slot while (or after) they stop, and its start job would
    // cancel this stop job ("Job for budgetml-a.service canceled"): it is stopped first. The VM is
    // going down; its next boot rolls out what the metadata names. Not loaded yet on a first boot.
    await run("systemctl", ["stop", "budgetml-rollout.service"]).catch(() => undefined);
    await run("systemctl", ["stop", unit("a"), unit("b")]);
  },
};

/**
 * Where the watcher puts the instance's startup script (from the metadata) for a roll-out: a
 * roll-out is a boot, so what a boot installs for the new deployment — docker for a newly given
 * image, a newer budgetml's packages — is installed then too, not only at the next power-on.
 */
export function rolloutScript(paths: Paths): string {
  return join(paths.home, "startup.sh");
}

/** The one-shot unit the watcher starts to roll out a change: the instance's startup script, as at boot. */
export function renderRolloutUnit(options: { script: string; env?: Record<string, string> }): string {
  // The endpoint overrides the watcher has (tests, the local cloud): the boot it starts needs them too.
  const inherited = renderUnitEnvironment(options.env ?? {});
  return `[Unit]
Description=budgetml roll-out of a changed deployment
After=network-online.target

[Service]
Type=oneshot
${inherited}ExecStart=/bin/bash ${options.script}
TimeoutStartSec=1200
${renderSandbox("rollout")}`;
}

/**
 * Tests and the local deployment: each slot's runtime as a detached child process (pid in
 * `home/runtime-<slot>.pid`, and the serving one's in `home/runtime.pid`; logs in
 * `home/runtime.log`). With `BUDGET_FRONT=caddy`, a real Caddy (plain HTTP) fronts the slots on
 * `BUDGET_RUNTIME_PORT` and switches overlap as on the VM; without it the runtime listens on that
 * port itself, so a switch stops the old runtime before the new one starts.
 */
export function processes(front = bootEnv().BUDGET_FRONT === "caddy"): ServiceManager {
  const frontPort = Number(bootEnv().BUDGET_RUNTIME_PORT ?? RUNTIME_PORT);
  const pidFile = (paths: Paths, name: string) => join(paths.home, `${name}.pid`);
  const launch = async (
    paths: Paths,
    name: string,
    command: string,
    args: string[],
    env: NodeJS.ProcessEnv,
    stdin?: string,
  ) => {
    await mkdir(paths.home, { recursive: true });
    const log = openSync(join(paths.home, "runtime.log"), "a");
    // Same process group as the boot that starts them: whoever ran the boot can end them all at once.
    const child = spawn(command, args, { env, stdio: [stdin === undefined ? "ignore" : "pipe", log, log] });
    // A command that cannot start (not installed) fails the boot with what to do, not with an
    // unhandled 'error' event that ends the boot past its own error report.
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", (error: NodeJS.ErrnoException) =>
        reject(
          new Error(
            error.code === "ENOENT"
              ? `${command} is not on PATH: install ${command} (it runs the VM's ${name})`
              : `cannot start ${command} (the VM's ${name}): ${error.message}`,
          ),
        ),
      );
    });
    child.stdin?.end(stdin);
    child.unref();
    await writeFile(pidFile(paths, name), String(child.pid));
    return child.pid as number;
  };
  const caddyEnv = (paths: Paths) => ({
    PATH: process.env.PATH,
    HOME: paths.home,
    XDG_DATA_HOME: join(paths.home, "caddy"),
    XDG_CONFIG_HOME: join(paths.home, "caddy"),
  });
  /** Free ports picked once per root and kept in `home/<name>.json`: the slots', and the local Caddy's own. */
  const portsOf = async <K extends string>(paths: Paths, name: string, keys: K[]): Promise<Record<K, number>> => {
    const file = join(paths.home, `${name}.json`);
    if (existsSync(file)) return JSON.parse(readFileSync(file, "utf8")) as Record<K, number>;
    const ports = {} as Record<K, number>;
    for (const key of keys) ports[key] = await freePort();
    await writeIfChanged(file, JSON.stringify(ports));
    return ports;
  };
  const slotPorts = (paths: Paths) => portsOf(paths, "slot-ports", ["a", "b"] as Slot[]);
  const manager: ServiceManager = {
    overlaps: front,
    handoffMs: front ? HANDOFF_MS : 0,
    noticeMs: front ? NOTICE_MS : 0,
    async portFor(paths, slot) {
      return front ? (await slotPorts(paths))[slot] : frontPort;
    },
    async startSlot(spec) {
      // Nothing here runs containers: a custom image runs only on a VM (docker, systemd).
      if (spec.image)
        throw new Error(`cannot run the image ${spec.image} here: the local deployment runs the runtime bundle only`);
      await manager.stopSlot(spec, spec.slot);
      // As under systemd: the credentials on standard input, not in the environment.
      const { env, stdin } = splitCredentials(spec.env);
      await launch(
        spec,
        `runtime-${spec.slot}`,
        process.execPath,
        [spec.server, "serve"],
        { PATH: process.env.PATH, ...env },
        stdin,
      );
    },
    async ensureSlot(spec) {
      if (!isRunning(readPid(pidFile(spec, `runtime-${spec.slot}`)))) await manager.startSlot(spec);
    },
    async stopSlot(paths, slot) {
      const pid = readPid(pidFile(paths, `runtime-${slot}`));
      if (pid) await terminate(pid, 28_000);
    },
    async routeTo(paths, spec, slot) {
      // runtime.pid names the serving runtime (the local deployment watches it).
      await writeFile(pidFile(paths, "runtime"), String(readPid(pidFile(paths, `runtime-${slot}`)) ?? ""));
      if (!front) return;
      const ports = await slotPorts(paths);
      const own = await portsOf(paths, "front-ports", ["http", "https"]);
      const config = join(paths.home, "Caddyfile");
      // The VM's front on local ports, with Caddy's internal CA, plus the local endpoint: plain HTTP
      // on BUDGET_RUNTIME_PORT for any host name (localhost, 127.0.0.1), on loopback only. A change
      // of hostname or contact reloads it, as on a VM.
      const changed = await writeIfChanged(
        config,
        renderCaddyfile({
          hostname: `${spec.hostname}, http://:${frontPort}`,
          bind: "127.0.0.1",
          upstreamPorts: [ports.a, ports.b],
          acmeEmail: spec.acmeEmail || undefined,
          healthIp: spec.healthIp || undefined,
          frontId: spec.frontId,
          tlsInternal: true,
          httpPort: own.http,
          httpsPort: own.https,
          adminSocket: join(paths.home, "caddy-admin.sock"),
        }),
      );
      if (isRunning(readPid(pidFile(paths, "caddy")))) {
        if (changed)
          await run("caddy", ["reload", "--config", config, "--adapter", "caddyfile"], { env: caddyEnv(paths) });
        return;
      }
      await launch(paths, "caddy", "caddy", ["run", "--config", config, "--adapter", "caddyfile"], caddyEnv(paths));
      await waitForPort(frontPort, 10_000);
    },
    async ensureWatcher(paths, boot) {
      // process.env already holds the endpoint overrides: the watcher inherits them.
      const running = readPid(pidFile(paths, "watcher"));
      const runningBoot = existsSync(join(paths.home, "watcher.boot"))
        ? readFileSync(join(paths.home, "watcher.boot"), "utf8")
        : "";
      if (isRunning(running) && runningBoot === boot) return;
      if (running && running !== process.pid) await terminate(running, 1000);
      // The watcher talks to the same (stand-in) endpoints as this boot did.
      await launch(paths, "watcher", process.execPath, [boot, "watch"], process.env);
      await writeFile(join(paths.home, "watcher.boot"), boot);
    },
    async runBoot(paths) {
      const log = openSync(join(paths.home, "runtime.log"), "a");
      const child = spawn("bash", [rolloutScript(paths)], { env: process.env, stdio: ["ignore", log, log] });
      await writeFile(pidFile(paths, "rollout"), String(child.pid));
      const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
      await rm(pidFile(paths, "rollout"), { force: true });
      if (code !== 0) throw new Error(`the startup script exited with ${code}; see ${join(paths.home, "runtime.log")}`);
    },
    async stopAll(paths) {
      // A roll-out under way would start a slot behind our back: it goes first, as with systemd.
      const rollout = readPid(pidFile(paths, "rollout"));
      if (rollout && isRunning(rollout)) await terminate(rollout, 1000);
      const watcher = readPid(pidFile(paths, "watcher"));
      if (watcher && watcher !== process.pid) await terminate(watcher, 1000);
      await Promise.all((["a", "b"] as const).map((slot) => manager.stopSlot(paths, slot)));
      const caddy = readPid(pidFile(paths, "caddy"));
      if (caddy) await terminate(caddy, 5000);
    },
  };
  return manager;
}

function readPid(file: string): number | undefined {
  return existsSync(file) ? Number(readFileSync(file, "utf8")) : undefined;
}

/**
 * Whether a process with this pid runs. A zombie — it has exited, and waits for its parent to
 * collect it — does not: an orphaned runtime's parent is init, which may collect it seconds later
 * (or, as PID 1 of a container, never).
 */
export function isRunning(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  return runs(processStat(pid));
}

/** Whether a process's state (see {@link processStat}) is one that runs: not dead, nor a zombie. */
export function runs<Stat extends { state: string }>(stat: Stat | undefined): stat is Stat {
  return stat !== undefined && stat.state !== "Z" && stat.state !== "X";
}

/** A process's state (`R`, `S`, `Z`…), parent and process group, from /proc; undefined when it is gone or there is no /proc. */
export function processStat(pid: number): { state: string; parent: number; group: number } | undefined {
  try {
    // /proc/<pid>/stat: "pid (comm) state ppid pgrp …"; comm may hold spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const [state, parent, group] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { state, parent: Number(parent), group: Number(group) };
  } catch {
    return undefined;
  }
}

/**
 * SIGTERM, then SIGKILL if the process is still there after `graceMs`; resolves once it has ended
 * (a signal takes effect when the process is next scheduled, not when `kill()` returns).
 */
async function terminate(pid: number, graceMs: number): Promise<void> {
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    return; // already gone
  }
  for (let waited = 0; waited < graceMs; waited += 50) {
    if (!isRunning(pid)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    return; // it exited between the last check and now
  }
  for (let waited = 0; waited < 5000 && isRunning(pid); waited += 10)
    await new Promise((resolve) => setTimeout(resolve, 10));
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1", () => {
        socket.destroy();
        resolve(true);
      }).on("error", () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
}
