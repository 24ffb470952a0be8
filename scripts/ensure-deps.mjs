// Runs before `npm start` and `npm test` so that each quickstart command works on a fresh clone:
// installs npm dependencies when they are missing or older than the lockfile, and, where we are
// root on Debian, the system tools the tests drive for real (caddy, shellcheck, chromium, Debian's
// python3 with scikit-learn, venv and pip).
import { execSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";

const withTools = process.argv.includes("--with-system-tools");

const installedMarker = "node_modules/.package-lock.json";
const stale =
  !existsSync(installedMarker) ||
  (existsSync("package-lock.json") && statSync("package-lock.json").mtimeMs > statSync(installedMarker).mtimeMs);
if (stale) {
  console.error("budgetml: installing npm dependencies (npm ci)…");
  // onnxruntime-node (examples/digits) carries its CPU binaries; its install script would also fetch
  // optional CUDA binaries from NuGet, outside the npm registry. Its documented switch skips that.
  execSync("npm ci --no-audit --no-fund", {
    stdio: "inherit",
    env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: "skip" },
  });
}

if (withTools) {
  const has = (cmd) => {
    try {
      execSync(`command -v ${cmd}`, { stdio: "ignore", shell: "/bin/sh" });
      return true;
    } catch {
      return false;
    }
  };
  const missing = ["caddy", "shellcheck", "chromium"].filter((tool) => !has(tool));
  // Debian's Python with scikit-learn (examples/iris), venv and pip (the VM's Python requirements step).
  const hasPython = (() => {
    try {
      execSync('/usr/bin/python3 -c "import sklearn, numpy, venv, ensurepip"', { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  })();
  if (!hasPython) missing.push("python3", "python3-sklearn", "python3-numpy", "python3-venv", "python3-pip");
  // systemd-analyze rates the VM's units offline (tests/boot/vmFiles.test.ts).
  if (!has("systemd-analyze")) missing.push("systemd");
  if (missing.length > 0) {
    if (process.getuid?.() === 0 && has("apt-get")) {
      console.error(`budgetml: installing ${missing.join(", ")} with apt-get…`);
      execSync("apt-get update -qq", { stdio: "inherit" });
      execSync(`DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${missing.join(" ")}`, {
        stdio: "inherit",
        shell: "/bin/sh",
      });
    } else {
      console.error(
        `budgetml: the tests need ${missing.join(", ")} on PATH; install them (e.g. apt-get install ${missing.join(" ")}) and run again.`,
      );
      process.exit(1);
    }
  }
}
