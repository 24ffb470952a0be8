import { existsSync, readFileSync } from "node:fs";
import { copyFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { packDeterministic, type BuiltBundle } from "./archive";
import { pipRequirementProblem } from "../contracts/pipRequirements";
import { PREDICTOR_FILES } from "../contracts/predictorFiles";

/**
 * The pip requirements of a Python predictor: a list of specifiers, or the path of a
 * requirements.txt (comments, blank lines and line continuations as pip reads them). Each may pin
 * its files by hash (`name==1.0 --hash=sha256:…`). Throws a precise error for a bad entry.
 */
export function parsePipRequirements(requirements: string[] | string | undefined): string[] {
  if (requirements === undefined) return [];
  let list = requirements;
  if (typeof requirements === "string") {
    if (!existsSync(requirements))
      throw new Error(
        `requirements: ${requirements} does not exist (expected a requirements.txt or a list of requirements)`,
      );
    list = readFileSync(requirements, "utf8")
      .replace(/\\\r?\n/g, " ") // a line ending in a backslash continues (pip-compile --generate-hashes writes them)
      .split("\n")
      .map((line) =>
        line
          .replace(/(^|\s)#.*$/, "")
          .replace(/\s+/g, " ")
          .trim(),
      )
      .filter(Boolean);
  }
  const parsed = (list as string[]).map((requirement) => {
    const problem = pipRequirementProblem(requirement);
    if (problem) throw new Error(problem);
    return requirement.trim();
  });
  return parsed;
}

/**
 * Bundles a Python predictor for the VM: the file as `predictor.py`, its pip requirements as
 * `requirements.txt`, and `manifest.json`. The same inputs give the same object name.
 */
export async function buildPythonPredictorBundle(
  predictor: string,
  entrypoint: string | undefined,
  requirements: string[],
  outDir: string,
): Promise<BuiltBundle> {
  const work = await mkdtemp(join(tmpdir(), "budgetml-predictor-"));
  try {
    await copyFile(predictor, join(work, PREDICTOR_FILES.python));
    await writeFile(join(work, PREDICTOR_FILES.pythonRequirements), requirements.map((line) => `${line}\n`).join(""));
    const manifest = { entrypoint: entrypoint ?? "", language: "python", requirements };
    await writeFile(join(work, PREDICTOR_FILES.manifest), `${JSON.stringify(manifest, null, 2)}\n`);
    return await packDeterministic(
      "predictor",
      work,
      [PREDICTOR_FILES.python, PREDICTOR_FILES.pythonRequirements, PREDICTOR_FILES.manifest],
      outDir,
    );
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
