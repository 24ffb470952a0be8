import { execFile } from "node:child_process";
import { chmod, lchown, mkdir } from "node:fs/promises";
import { promisify } from "node:util";
import { bootEnv, type BootEnv } from "./bootEnvironment";
import { installStepSandbox, metadataServerAddresses } from "./unitSandbox";

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
  /**
   * On a VM: run each step as a transient systemd unit of its own (see {@link runInstallStep}).
   * @default false
   */
  sandboxed?: boolean;
}

/** Creates a system account without a home or a login shell, unless it exists. */
export async function ensureSystemUser(name: string): Promise<void> {
  await run("id", [name]).catch(() =>
    run("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name]),
  );
}

/**
 * Whom installs run as: `BUDGET_INSTALL_USER` if set (tests: an existing unprivileged account),
 * else {@link INSTALL_USER} when the boot runs as root on a VM (created if missing; its steps
 * sandboxed), else whoever runs the boot (the local deployment, as an ordinary user).
 */
export async function installAccount(env: BootEnv = bootEnv()): Promise<RunAs | undefined> {
  const onVm = process.getuid?.() === 0 && env.BUDGET_SERVICE_MANAGER !== "process";
  const name = env.BUDGET_INSTALL_USER || (onVm ? INSTALL_USER : undefined);
  if (!name) return undefined;
  if (name === INSTALL_USER) await ensureSystemUser(name);
  const [{ stdout: uid }, { stdout: gid }] = await Promise.all([run("id", ["-u", name]), run("id", ["-g", name])]);
  return { uid: Number(uid), gid: Number(gid), sandboxed: onVm && !env.BUDGET_INSTALL_USER };
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

/** What of the boot's environment an installer sees: where to find programs, packages and certificates. */
const INSTALLER_VARIABLES =
  /^(PATH|LANG|LC_ALL|https?_proxy|HTTPS?_PROXY|no_proxy|NO_PROXY|SSL_CERT_FILE|SSL_CERT_DIR|NODE_EXTRA_CA_CERTS|PIP_\w+|npm_config_\w+)$/;

/**
 * Runs one install step (pip, npm) as `user` in `cwd`, with the installer's part of the boot's
 * environment plus `env`, and a umask of 022 (the runtime's account reads what it installs).
 * On a VM (`user.sandboxed`) the step is a transient systemd service of its own: the install
 * account, nothing writable but `writable`, a private /tmp, no new privileges, no route to the
 * metadata server (whose token reads the secrets), and every process it leaves behind killed when
 * it ends. Elsewhere it is a child process as `user`. Rejects with the step's last lines of output,
 * prefixed by `what`.
 */
export async function runInstallStep(
  what: string,
  command: string,
  args: string[],
  options: { cwd: string; env: Record<string, string>; user?: RunAs; writable: string[] },
): Promise<void> {
  const env = {
    ...Object.fromEntries(Object.entries(process.env).filter(([name]) => INSTALLER_VARIABLES.test(name))),
    ...options.env,
  } as Record<string, string>;
  const { user } = options;
  const step = user?.sandboxed
    ? run(
        "systemd-run",
        [
          "--wait",
          "--pipe",
          "--quiet",
          "--collect",
          `--uid=${user.uid}`,
          `--gid=${user.gid}`,
          `--working-directory=${options.cwd}`,
          ...installStepSandbox(options.writable, metadataServerAddresses()).map((line) => `--property=${line}`),
          ...Object.entries(env).map(([name, value]) => `--setenv=${name}=${value}`),
          "--",
          command,
          ...args,
        ],
        { maxBuffer: 16 << 20 },
      )
    : run("/bin/sh", ["-c", 'umask 022 && exec "$0" "$@"', command, ...args], {
        ...(user ? { uid: user.uid, gid: user.gid } : {}),
        cwd: options.cwd,
        env,
        maxBuffer: 16 << 20,
      });
  await step.catch((error: { stderr?: string; message: string }) => {
    throw new Error(`${what} failed: ${(error.stderr || error.message).trim().split("\n").slice(-3).join(" ")}`);
  });
}
