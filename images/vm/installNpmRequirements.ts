import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { PREDICTOR_FILES } from "../../contracts/predictorFiles";
import { npmGpuEnv } from "./cudaBuilds";
import { removeTree } from "./extractBundle";
import { folderFor, runInstallStep, type RunAs } from "./installAccount";

/** npm's home and cache while it installs, beside node_modules (removed after). */
const INSTALL_HOME = ".install-home";

/**
 * Installs a JavaScript predictor's npm requirements into `dir/node_modules` exactly as pinned by
 * the bundle's package-lock.json (`npm ci`: versions and integrity hashes checked), as `user` —
 * never as root — and with install scripts off, except for the packages the bundle's manifest
 * lists in `allowScripts`, whose scripts then run (`npm rebuild`), still as `user`. `dir` is the
 * predictor's `.partial` folder, root's: the installer can write only to `node_modules` and a home
 * folder of its own (npm's cache), both created here, empty, for it; root changes the owner of
 * nothing else, and removes the home folder without following links.
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
  const home = join(dir, INSTALL_HOME);
  const modules = join(dir, "node_modules");
  await folderFor(modules, user);
  await folderFor(home, user);
  const as = {
    user,
    cwd: dir,
    writable: [modules, home],
    env: {
      HOME: home,
      npm_config_cache: join(home, "cache"),
      npm_config_update_notifier: "false",
      ...npmGpuEnv(gpus),
    },
  };
  try {
    await runInstallStep("npm ci", "npm", ["ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund"], as);
    if (allowScripts.length > 0)
      await runInstallStep(
        `npm rebuild ${allowScripts.join(" ")}`,
        "npm",
        ["rebuild", ...allowScripts, "--no-audit", "--no-fund"],
        as,
      );
  } finally {
    await removeTree(home);
  }
}
