import { existsSync } from "node:fs";
import { mkdir, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { Storage } from "@google-cloud/storage";
import { extract } from "tar";
import { PREDICTOR_FILES } from "../../bundles/predictorFiles";
import { expectedHashPrefix, verifyBundleBytes } from "../../bundles/bundleName";
import { installNpmRequirements } from "./installNpmRequirements";
import { installPythonRequirements, pipUser } from "./installPythonRequirements";
import { storageClientOptions } from "../../contracts/googleEndpoints";
import { retryWhileNotYetGranted } from "./retry";

/**
 * Installs the predictor bundle into `home/predictors/<object>` and returns that folder. The folder
 * is named by the bundle's content hash, so a later boot with the same bundle reuses it and a new
 * bundle gets a new folder. Work happens in a `.partial` folder renamed into place only when
 * complete: a failed download, a corrupt archive or a failed npm install leaves nothing behind
 * that the next boot would mistake for an installed predictor. With `gpus`, packages get their
 * CUDA builds (images/vm/cudaBuilds.ts).
 */
export async function installPredictor(
  home: string,
  bucket: string,
  object: string,
  log: (message: string) => void,
  gpus = false,
): Promise<string> {
  const target = join(home, "predictors", object.replace(/\.tgz$/, ""));
  if (existsSync(join(target, PREDICTOR_FILES.javascript)) || existsSync(join(target, PREDICTOR_FILES.python))) {
    log(`predictor ${object} already installed`);
    return target;
  }
  try {
    expectedHashPrefix(object); // before downloading: only a content-addressed name can be checked
  } catch (error) {
    throw new Error(`gs://${bucket}/${(error as Error).message}`);
  }
  const partial = `${target}.partial`;
  await rm(partial, { recursive: true, force: true });
  await mkdir(partial, { recursive: true });
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
    try {
      await extract({ file: archive, cwd: partial, strict: true });
    } catch (error) {
      throw new Error(`gs://${bucket}/${object} is not a valid predictor bundle: ${(error as Error).message}`);
    }
    await rm(archive);
    if (existsSync(join(partial, PREDICTOR_FILES.python))) {
      await installPythonRequirements(partial, log, await pipUser(), undefined, gpus);
      await rename(partial, target);
      return target;
    }
    if (!existsSync(join(partial, "predictor.cjs"))) throw new Error(`gs://${bucket}/${object} has no predictor.cjs`);
    await installNpmRequirements(partial, log, await pipUser(), gpus);
    await rename(partial, target);
    return target;
  } catch (error) {
    await rm(partial, { recursive: true, force: true });
    throw error;
  }
}
