import { execFile } from "node:child_process";
import { chmod, lchown, mkdir } from "node:fs/promises";
import { promisify } from "node:util";

const run = promisify(execFile);

/** The runtime's unprivileged account on the VM (systemd runs the runtime as it). */
export const RUNTIME_USER = "budgetml";

/**
 * The account a predictor's requirements are installed as (pip, npm and the install scripts they
 * run): never root, and not the runtime's account either — so the running runtime (a compromised
 * model) cannot touch an install under way or change installed code afterwards, and install code
 * cannot read the runtime's memory (another user's processes are out of its reach).
 */
export const INSTALL_USER = "budgetml-install";

/** A user to run a step as. */
export interface RunAs {
  uid: number;
  gid: number;
}

/** Creates a system account without a home or a login shell, unless it exists. */
export async function ensureSystemUser(name: string): Promise<void> {
  await run("id", [name]).catch(() =>
    run("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name]),
  );
}

/**
 * Whom installs run as: `BUDGET_INSTALL_USER` if set (tests: an existing unprivileged account),
 * else {@link INSTALL_USER} when the boot runs as root on a VM (created if missing), else whoever
 * runs the boot (the local deployment, as an ordinary user).
 */
export async function installAccount(env: NodeJS.ProcessEnv = process.env): Promise<RunAs | undefined> {
  const name =
    env.BUDGET_INSTALL_USER ||
    (process.getuid?.() === 0 && env.BUDGET_SERVICE_MANAGER !== "process" ? INSTALL_USER : undefined);
  if (!name) return undefined;
  if (name === INSTALL_USER) await ensureSystemUser(name);
  const [{ stdout: uid }, { stdout: gid }] = await Promise.all([run("id", ["-u", name]), run("id", ["-g", name])]);
  return { uid: Number(uid), gid: Number(gid) };
}

/**
 * Creates the empty folder `path` for `user` to write into (mode 0755: the runtime reads what is
 * installed there). Its parent is root's and writable by root alone, so nobody can put anything
 * in its place between the creation and the change of owner, and the owner change is of a link
 * itself if it ever were one: root never gives away anything but this empty folder.
 */
export async function folderFor(path: string, user: RunAs | undefined): Promise<void> {
  await mkdir(path);
  await chmod(path, 0o755);
  if (user) await lchown(path, user.uid, user.gid);
}

/**
 * Runs one install step (pip, npm) as `user` in `cwd`, with a umask of 022 whatever the boot's
 * (the roll-out unit runs with 0077): what it installs must be readable by the runtime's account.
 * Rejects with the command's last lines of output, prefixed by `what`.
 */
export async function runInstallStep(
  what: string,
  command: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; user?: RunAs },
): Promise<void> {
  await run("/bin/sh", ["-c", 'umask 022 && exec "$0" "$@"', command, ...args], {
    ...options.user,
    cwd: options.cwd,
    env: options.env,
    maxBuffer: 16 << 20,
  }).catch((error: { stderr?: string; message: string }) => {
    throw new Error(`${what} failed: ${(error.stderr || error.message).trim().split("\n").slice(-3).join(" ")}`);
  });
}
