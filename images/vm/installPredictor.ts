import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { Storage } from "@google-cloud/storage";
import { PREDICTOR_FILES } from "../../contracts/predictorFiles";
import { expectedHashPrefix, verifyBundleBytes } from "../../contracts/bundleName";
import { extractBundle, removeTree } from "./extractBundle";
import { installAccount } from "./installAccount";
import { installNpmRequirements } from "./installNpmRequirements";
import { installPythonRequirements } from "./installPythonRequirements";
import { storageClientOptions } from "../../contracts/googleEndpoints";
import { retryWhileNotYetGranted } from "./retry";

/**
 * Installs the predictor bundle into `home/predictors/<object>` and returns that folder. The folder
 * is named by the bundle's content hash, so a later boot with the same bundle reuses it and a new
 * bundle gets a new folder. Work happens in a `.partial` folder renamed into place only when
 * complete: a failed download, a corrupt archive or a failed npm install leaves nothing behind
 * that the next boot would mistake for an installed predictor. The name is checked first, so a
 * name that is not a bundle's (`../elsewhere`) never reaches the file system. With `gpus`, packages
 * get their CUDA builds (images/vm/cudaBuilds.ts).
 */
export async function installPredictor(
  home: string,
  bucket: string,
  object: string,
  log: (message: string) => void,
  gpus = false,
): Promise<string> {
  try {
    expectedHashPrefix(object); // before anything else: only a content-addressed name can be checked
  } catch (error) {
    throw new Error(`gs://${bucket}/${(error as Error).message}`);
  }
  const predictors = join(home, "predictors");
  const target = join(predictors, object.replace(/\.tgz$/, ""));
  if (existsSync(join(target, PREDICTOR_FILES.javascript)) || existsSync(join(target, PREDICTOR_FILES.python))) {
    log(`predictor ${object} already installed`);
    return target;
  }
  // Root's and writable by root alone, whatever the umask: installs happen inside it.
  await mkdir(predictors, { recursive: true });
  await chmod(home, 0o755);
  await chmod(predictors, 0o755);
  const partial = `${target}.partial`;
  await removeTree(partial); // a failed install's leftovers, which another account may have written
  await mkdir(partial);
  try {
    log(`fetching predictor gs://${bucket}/${object}`);
    const archive = join(partial, "bundle.tgz");
    try {
      await retryWhileNotYetGranted(
        `gs://${bucket}/${object}`,
        () =>
          new Storage(storageClientOptions)
            .bucket(bucket)
            .file(object)
            .download({ destination: archive, validation: false }),
        log,
      );
    } catch (error) {
      throw new Error(`could not download gs://${bucket}/${object}: ${(error as Error).message}`);
    }
    try {
      verifyBundleBytes(object, await readFile(archive));
    } catch (error) {
      throw new Error(`gs://${bucket}/${(error as Error).message}`);
    }
    await extractBundle(archive, partial, `gs://${bucket}/${object}`, "predictor");
    await rm(archive);
    if (existsSync(join(partial, PREDICTOR_FILES.python))) {
      await installPythonRequirements(partial, log, await installAccount(), undefined, gpus);
      await rename(partial, target);
      return target;
    }
    if (!existsSync(join(partial, "predictor.cjs"))) throw new Error(`gs://${bucket}/${object} has no predictor.cjs`);
    await installNpmRequirements(partial, log, await installAccount(), gpus);
    await rename(partial, target);
    return target;
  } catch (error) {
    await removeTree(partial);
    throw error;
  }
}
