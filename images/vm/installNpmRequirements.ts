import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { PREDICTOR_FILES } from "../../bundles/predictorFiles";
import { chownTree, type RunAs } from "./installPythonRequirements";
import { npmGpuEnv } from "./cudaBuilds";

const run = promisify(execFile);

/**
 * Installs a JavaScript predictor's npm requirements into `dir/node_modules` exactly as pinned by
 * the bundle's package-lock.json (`npm ci`: versions and integrity hashes checked), as `user` —
 * never as root — and with install scripts off, except for the packages the bundle's manifest
 * lists in `allowScripts`, whose scripts then run (`npm rebuild`), still as `user`. `dir` is the
 * predictor's `.partial` folder; npm's cache lives there only while installing.
 */
export async function installNpmRequirements(
  dir: string,
  log: (message: string) => void,
  user?: RunAs,
  gpus = false,
): Promise<void> {
  const { dependencies = {} } = JSON.parse(await readFile(join(dir, PREDICTOR_FILES.npmManifest), "utf8")) as {
    dependencies?: Record<string, string>;
  };
  if (Object.keys(dependencies).length === 0) return;
  if (!existsSync(join(dir, PREDICTOR_FILES.npmLock)))
    throw new Error(
      `the predictor bundle has requirements but no ${PREDICTOR_FILES.npmLock}: rebuild it with this version of budgetml`,
    );
  const { allowScripts = [] } = JSON.parse(await readFile(join(dir, PREDICTOR_FILES.manifest), "utf8")) as {
    allowScripts?: string[];
  };
  log(
    `installing ${Object.keys(dependencies).join(", ")} (pinned by ${PREDICTOR_FILES.npmLock}${allowScripts.length ? `; install scripts for ${allowScripts.join(", ")} only` : "; no install scripts"})`,
  );
  if (user) await chownTree(dir, user);
  const cache = join(dir, ".npm-cache");
  const as = {
    ...user,
    cwd: dir,
    maxBuffer: 16 << 20,
    env: {
      ...process.env,
      HOME: dir,
      npm_config_cache: cache,
      npm_config_update_notifier: "false",
      ...npmGpuEnv(gpus),
    },
  };
  const npm = (args: string[], what: string) =>
    run("npm", [...args, "--no-audit", "--no-fund"], as).catch((error: { stderr?: string; message: string }) => {
      throw new Error(`${what} failed: ${(error.stderr || error.message).trim().split("\n").slice(-3).join(" ")}`);
    });
  await npm(["ci", "--omit=dev", "--ignore-scripts"], "npm ci");
  if (allowScripts.length > 0) await npm(["rebuild", ...allowScripts], `npm rebuild ${allowScripts.join(" ")}`);
  await rm(cache, { recursive: true, force: true });
}
