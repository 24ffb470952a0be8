import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, rename, rm, symlink } from "node:fs/promises";
import { join } from "node:path";
import { Storage } from "@google-cloud/storage";
import { expectedHashPrefix, verifyBundleBytes } from "../../contracts/bundleName";
import { extractBundle, removeTree } from "./extractBundle";
import { storageClientOptions } from "../../contracts/googleEndpoints";
import { retryWhileNotYetGranted } from "./retry";

/**
 * What startup.sh does for the runtime bundle, for the watcher when the metadata names a new one:
 * check the name is a bundle's (before it is used as a path), download into
 * `home/runtime/<object>.partial`, check its sha256 against its name, extract (files and folders
 * only, modes set: see extractBundle), check it has boot.cjs, rename into place (a refused
 * bundle's folder is removed), then point `home/runtime/current` at it (a new symlink renamed over
 * the old: never missing). Returns the new bundle's boot.cjs.
 */
export async function installRuntime(
  home: string,
  bucket: string,
  object: string,
  log: (message: string) => void,
): Promise<string> {
  expectedHashPrefix(object);
  const runtimes = join(home, "runtime");
  const target = join(runtimes, object.replace(/\.tgz$/, ""));
  if (existsSync(join(target, "boot.cjs"))) {
    log(`runtime ${object} already installed`);
  } else {
    await mkdir(runtimes, { recursive: true });
    await chmod(home, 0o755); // the runtime's account reads its code under here, whatever the umask
    await chmod(runtimes, 0o755);
    const partial = `${target}.partial.${process.pid}`;
    await removeTree(partial);
    await mkdir(partial);
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
      await extractBundle(archive, partial, `gs://${bucket}/${object}`, "runtime");
      await rm(archive);
      if (!existsSync(join(partial, "boot.cjs"))) throw new Error(`gs://${bucket}/${object} has no boot.cjs`);
      // startup.sh, run beside the watcher at boot, may have installed the same bundle meanwhile.
      await rename(partial, target).catch(async (error: NodeJS.ErrnoException) => {
        if (!existsSync(join(target, "boot.cjs"))) throw error;
        await removeTree(partial);
      });
    } catch (error) {
      await removeTree(partial);
      throw error;
    }
  }
  const link = join(home, "runtime", `current.${process.pid}`);
  await rm(link, { force: true });
  await symlink(target, link);
  await rename(link, join(home, "runtime", "current"));
  return join(target, "boot.cjs");
}
