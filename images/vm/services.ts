import { execFile, spawn } from "node:child_process";
import { existsSync, openSync, readFileSync } from "node:fs";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { promisify } from "node:util";
import { renderCaddyfile, renderEnvFile, renderImageUnit, renderRuntimeUnit, renderWatcherUnit, RUNTIME_PORT } from "./renderConfig";

const run = promisify(execFile);

/** What to run: the runtime (or a custom image) with its environment, fronted for `hostname`. */
export interface RuntimeSpec {
  root: string;
  home: string;
  server: string;
  /** boot.cjs, which also runs the preemption-notice watcher (`boot.cjs watch`). */
  boot: string;
  env: Record<string, string>;
  hostname: string;
  image: string;
  /** Google endpoint overrides the boot itself ran with (tests, the local cloud; none on a VM), for the watcher. */
  endpoints?: Record<string, string>;
  /** For Caddy: the certificate authorities' contact email, and the IP answering health over HTTP (custom domain). */
  acmeEmail?: string;
  healthIp?: string;
}

/** One file the systemd variant writes: an absolute path, its content and its mode. */
export interface SystemFile {
  path: string;
  content: string;
  mode: number;
}

/** Starts the runtime and its HTTPS front; stops the runtime (SIGTERM, so it drains). */
export interface ServiceManager {
  start(spec: RuntimeSpec): Promise<void>;
  stop(spec: Pick<RuntimeSpec, "home">): Promise<void>;
}

/** Writes a file atomically (temp + rename); returns whether its content changed. */
export async function writeIfChanged(file: string, content: string, mode = 0o644): Promise<boolean> {
  if (existsSync(file) && (await readFile(file, "utf8")) === content) return false;
  await mkdir(dirname(file), { recursive: true });
  await writeFile(`${file}.tmp`, content, { mode });
  await rename(`${file}.tmp`, file);
  return true;
}

/**
 * Every file the systemd variant writes, rendered for `spec.root` (`/` on a VM) with `node` as the
 * interpreter. Paths — of the files and inside them — are absolute whatever the root: systemd
 * ignores a relative `EnvironmentFile=`, and the runtime resolves a relative predictor path against
 * its working directory.
 */
export function renderSystemdFiles(spec: RuntimeSpec, node: string): Record<"env" | "runtime" | "watcher" | "caddy", SystemFile> {
  const root = resolve(spec.root || "/");
  const envFile = join(root, "etc", "budgetml", "runtime.env");
  const units = join(root, "etc", "systemd", "system");
  return {
    env: { path: envFile, content: renderEnvFile(spec.env), mode: 0o600 },
    runtime: {
      path: join(units, "budgetml.service"),
      content: spec.image
        ? renderImageUnit({ image: spec.image, envFile, port: RUNTIME_PORT })
        : renderRuntimeUnit({ node, server: spec.server, envFile, workingDirectory: dirname(spec.server) }),
      mode: 0o644,
    },
    watcher: { path: join(units, "budgetml-preemption.service"), content: renderWatcherUnit({ node, boot: spec.boot, env: spec.endpoints ?? {} }), mode: 0o644 },
    caddy: { path: join(root, "etc", "caddy", "Caddyfile"), content: renderCaddyfile({ hostname: spec.hostname, upstreamPort: RUNTIME_PORT, acmeEmail: spec.acmeEmail || undefined, healthIp: spec.healthIp || undefined }), mode: 0o644 },
  };
}

/**
 * The VM: systemd runs the runtime as an unprivileged user and restarts it on failure; Caddy
 * fronts it. Units are enabled, so on later boots both start before the (slower) startup script.
 * A service is restarted only when its configuration changed.
 */
export const systemd: ServiceManager = {
  async start(spec) {
    const files = renderSystemdFiles(spec, process.execPath);
    const written = new Map<string, boolean>();
    for (const file of Object.values(files)) written.set(file.path, await writeIfChanged(file.path, file.content, file.mode));
    const runtimeChanged = written.get(files.env.path) || written.get(files.runtime.path);
    await run("id", ["budgetml"]).catch(() => run("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "budgetml"]));
    await run("systemctl", ["daemon-reload"]);
    await run("systemctl", ["enable", "budgetml.service", "budgetml-preemption.service", "caddy.service"]);
    await run("systemctl", ["restart", "budgetml-preemption.service"]);
    await run("systemctl", [runtimeChanged ? "restart" : "start", "budgetml.service"]);
    await run("systemctl", [written.get(files.caddy.path) ? "reload-or-restart" : "start", "caddy.service"]);
  },
  async stop() {
    await run("systemctl", ["stop", "budgetml.service"]);
  },
};

/**
 * Tests and the local deployment: the runtime as a detached child process (its pid in
 * `home/runtime.pid`, its log in `home/runtime.log`), no Caddy. The same boot path as the VM up to
 * the last step.
 */
export const processes: ServiceManager = {
  async start(spec) {
    await processes.stop(spec);
    const log = openSync(join(spec.home, "runtime.log"), "a");
    const launch = (name: string, args: string[], env: NodeJS.ProcessEnv) => {
      // Same process group as the boot that starts them: whoever ran the boot can end them all at once.
      const child = spawn(process.execPath, args, { env, stdio: ["ignore", log, log] });
      child.unref();
      return writeFile(join(spec.home, `${name}.pid`), String(child.pid));
    };
    await launch("runtime", [spec.server, "serve"], { PATH: process.env.PATH, ...spec.env });
    // The watcher talks to the same (stand-in) endpoints as this boot did.
    await launch("watcher", [spec.boot, "watch"], process.env);
  },
  async stop(spec) {
    const watcher = readPid(join(spec.home, "watcher.pid"));
    if (watcher && watcher !== process.pid) await terminate(watcher, 1000);
    const runtime = readPid(join(spec.home, "runtime.pid"));
    if (runtime) await terminate(runtime, 28_000);
  },
};

function readPid(file: string): number | undefined {
  return existsSync(file) ? Number(readFileSync(file, "utf8")) : undefined;
}

/** SIGTERM, then SIGKILL if the process is still there after `graceMs`. */
async function terminate(pid: number, graceMs: number): Promise<void> {
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    return; // already gone
  }
  for (let waited = 0; waited < graceMs; waited += 100) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  process.kill(pid, "SIGKILL");
}
