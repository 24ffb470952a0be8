import { execFile, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { waitFor } from "../support/waitFor";

const run = promisify(execFile);

/** The namespaces a booted root gets: its own pids (systemd is PID 1), mounts, hostname, IPC and cgroups; the network stays shared, so loopback servers on this machine are reachable from inside. */
const UNSHARE = ["--pid", "--fork", "--mount", "--uts", "--ipc", "--cgroup"];
const NSENTER = ["-m", "-p", "-u", "-i", "-C", "-r", "-w"];

/** Why this machine cannot boot a root (not root, or no namespaces), or undefined when it can. */
export function whyNoVm(): string | undefined {
  if (process.getuid?.() !== 0) return "the VM test needs root (it creates namespaces and mounts)";
  const probe = spawnSync("unshare", [...UNSHARE, "true"], { encoding: "utf8" });
  if (probe.error) return `unshare cannot run: ${probe.error.message}`;
  if (probe.status !== 0) return `this machine cannot create namespaces: ${probe.stderr.trim()}`;
  return undefined;
}

/** The cached pristine Debian 12 root (built once by debianRoot.sh), as a path. */
export async function debianRoot(): Promise<string> {
  const { stdout } = await run("bash", [join(__dirname, "debianRoot.sh")], { maxBuffer: 1 << 20 });
  return stdout.trim().split("\n").pop() as string;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number | null;
}

/** A Debian root booted with systemd as PID 1, on an overlay whose writable half (`disk`) survives a power-off. */
export interface DebianVm {
  /** systemd's pid on this machine. */
  readonly pid: number;
  /** The VM's file system as seen from here (`/proc/<pid>/root`). */
  readonly fs: string;
  /** How long from power-on until systemd reported the system up, in ms. */
  readonly bootMs: number;
  /** Runs a command inside, as root, with exactly `env`; never rejects: the exit code is in the result. */
  exec(command: string[], options?: { env?: Record<string, string>; timeoutMs?: number }): Promise<ExecResult>;
  /** Starts a command inside and returns the process (its stdin, stdout and stderr are pipes). */
  start(command: string[], env?: Record<string, string>): ChildProcess;
  /** `systemctl poweroff`, then waits for PID 1 to exit (killing it after a deadline); resolves with the time taken in ms. */
  powerOff(): Promise<number>;
}

export const VM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** What the root gets mounted before systemd starts, inside the new mount namespace only. */
const MOUNTS = `set -eu
base="$1" disk="$2" merged="$2/merged"
mkdir -p "$disk/upper" "$disk/work" "$merged"
mount -t overlay overlay -o "lowerdir=$base,upperdir=$disk/upper,workdir=$disk/work" "$merged"
mount -t proc proc "$merged/proc"
mount -t sysfs sysfs "$merged/sys"
mount --rbind /dev "$merged/dev"
mount -t tmpfs -o mode=755 tmpfs "$merged/run"
mount -t tmpfs -o mode=1777 tmpfs "$merged/tmp"
cp /etc/resolv.conf "$merged/etc/resolv.conf"
exec chroot "$merged" /lib/systemd/systemd --system
`;

function childOf(pid: number): number | undefined {
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim();
    return children ? Number(children.split(" ")[0]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Powers on `base` (a Debian root, never written) with `disk` (a folder holding the overlay's
 * writable half: give the same one again for a second boot of the same disk). Resolves once
 * `systemctl is-system-running --wait` reports the system up.
 */
export async function bootDebianVm(base: string, disk: string, deadlineMs = 120_000): Promise<DebianVm> {
  mkdirSync(disk, { recursive: true });
  const started = Date.now();
  const unshare = spawn("unshare", [...UNSHARE, "bash", "-c", MOUNTS, "mounts", base, disk], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let console = "";
  unshare.stderr?.on("data", (chunk) => (console += chunk));
  const exited = new Promise<void>((resolve) => unshare.once("exit", () => resolve()));
  let gone = false;
  void exited.then(() => (gone = true));

  const pid = await waitFor(
    () => {
      if (gone) return -1;
      const child = unshare.pid ? childOf(unshare.pid) : undefined;
      return child && readFileSync(`/proc/${child}/comm`, "utf8").trim() === "systemd" ? child : undefined;
    },
    { timeoutMs: deadlineMs, what: "systemd to start" },
  ).catch((error: Error) => {
    unshare.kill("SIGKILL");
    throw error;
  });
  if (pid === -1) throw new Error(`the root did not boot: ${console.trim()}`);

  const exec: DebianVm["exec"] = (command, options = {}) =>
    new Promise((resolve) => {
      execFile(
        "nsenter",
        [
          "-t",
          String(pid),
          ...NSENTER,
          "env",
          "-i",
          `PATH=${VM_PATH}`,
          "HOME=/root",
          ...Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`),
          ...command,
        ],
        { timeout: options.timeoutMs ?? 120_000, maxBuffer: 64 << 20 },
        (error, stdout, stderr) =>
          resolve({ stdout, stderr, code: error ? ((error as { code?: number }).code ?? null) : 0 }),
      );
    });

  let powered = false;
  const powerOff = async () => {
    if (powered) return 0;
    powered = true;
    const asked = Date.now();
    if (!gone) {
      await exec(["systemctl", "poweroff"], { timeoutMs: 30_000 });
      const timer = setTimeout(() => {
        try {
          process.kill(pid, "SIGKILL"); // PID 1 of the namespace: everything inside goes with it
        } catch {
          // already gone
        }
      }, 60_000);
      await exited;
      clearTimeout(timer);
    }
    return Date.now() - asked;
  };

  // An event, not a sleep: systemctl answers when the boot transaction has finished.
  const state = await waitFor(
    async () => {
      if (gone) return "exited";
      const { stdout } = await exec(["systemctl", "is-system-running", "--wait"], { timeoutMs: deadlineMs });
      return ["running", "degraded"].includes(stdout.trim()) ? stdout.trim() : undefined;
    },
    { timeoutMs: deadlineMs, intervalMs: 200, what: "systemd to report the system up" },
  ).catch(async (error: Error) => {
    await powerOff();
    throw error;
  });
  if (state === "exited") throw new Error(`systemd exited during boot: ${console.trim()}`);
  if (state === "degraded") {
    const failed = await exec(["systemctl", "list-units", "--failed", "--no-legend", "--plain"]);
    process.stderr.write(`debian-vm: booted degraded: ${failed.stdout.trim()}\n`);
  }

  return {
    pid,
    fs: `/proc/${pid}/root`,
    bootMs: Date.now() - started,
    exec,
    start: (command, env = {}) =>
      spawn(
        "nsenter",
        [
          "-t",
          String(pid),
          ...NSENTER,
          "env",
          "-i",
          `PATH=${VM_PATH}`,
          "HOME=/root",
          ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
          ...command,
        ],
        { stdio: ["pipe", "pipe", "pipe"] },
      ),
    powerOff,
  };
}

/** Whether something on this machine already listens on `port` (the VM shares this machine's network). */
export function portTaken(port: number): boolean {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  return ["/proc/net/tcp", "/proc/net/tcp6"].some(
    (file) =>
      existsSync(file) &&
      readFileSync(file, "utf8")
        .split("\n")
        .some((line) => line.split(/\s+/)[2]?.endsWith(`:${hex}`) && line.split(/\s+/)[4] === "0A"),
  );
}
