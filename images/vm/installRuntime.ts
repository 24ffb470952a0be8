import { existsSync } from "node:fs";
import { mkdir, readFile, rename, rm, symlink } from "node:fs/promises";
import { join } from "node:path";
import { Storage } from "@google-cloud/storage";
import { extract } from "tar";
import { verifyBundleBytes } from "../../bundles/bundleName";
import { storageClientOptions } from "../../contracts/googleEndpoints";
import { retryWhileNotYetGranted } from "./retry";

/**
 * What startup.sh does for the runtime bundle, for the watcher when the metadata names a new one:
 * download into `home/runtime/<object>.partial`, check its sha256 against its name, extract, check
 * it has boot.cjs, rename into place (a refused bundle's folder is removed),
 * then point `home/runtime/current` at it (a new symlink renamed over the old: never missing).
 * Returns the new bundle's boot.cjs.
 */
export async function installRuntime(
  home: string,
  bucket: string,
  object: string,
  log: (message: string) => void,
): Promise<string> {
  const target = join(home, "runtime", object.replace(/\.tgz$/, ""));
  if (existsSync(join(target, "boot.cjs"))) {
    log(`runtime ${object} already installed`);
  } else {
    const partial = `${target}.partial.${process.pid}`;
    await rm(partial, { recursive: true, force: true });
    await mkdir(partial, { recursive: true });
    try {
      log(`fetching runtime gs://${bucket}/${object}`);
      const archive = join(partial, "bundle.tgz");
      await retryWhileNotYetGranted(
        `gs://${bucket}/${object}`,
        () =>
          new Storage(storageClientOptions)
            .bucket(bucket)
            .file(object)
            .download({ destination: archive, validation: false }),
        log,
      ).catch((error: Error) => {
        throw new Error(`could not download gs://${bucket}/${object}: ${error.message}`);
      });
      verifyBundleBytes(object, await readFile(archive));
      await extract({ file: archive, cwd: partial, strict: true }).catch((error: Error) => {
        throw new Error(`gs://${bucket}/${object} is not a valid runtime bundle: ${error.message}`);
      });
      await rm(archive);
      if (!existsSync(join(partial, "boot.cjs"))) throw new Error(`gs://${bucket}/${object} has no boot.cjs`);
      // startup.sh, run beside the watcher at boot, may have installed the same bundle meanwhile.
      await rename(partial, target).catch(async (error: NodeJS.ErrnoException) => {
        if (!existsSync(join(target, "boot.cjs"))) throw error;
        await rm(partial, { recursive: true, force: true });
      });
    } catch (error) {
      await rm(partial, { recursive: true, force: true });
      throw error;
    }
  }
  const link = join(home, "runtime", `current.${process.pid}`);
  await rm(link, { force: true });
  await symlink(target, link);
  await rename(link, join(home, "runtime", "current"));
  return join(target, "boot.cjs");
}
