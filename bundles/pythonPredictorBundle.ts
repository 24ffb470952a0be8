import { existsSync, readFileSync } from "node:fs";
import { copyFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { packDeterministic, type BuiltBundle } from "./archive";
import { PREDICTOR_FILES } from "./predictorFiles";

// A PEP 508 requirement without markers or URLs: name, optional [extras], optional version specifiers.
const NAME = "[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?";
const SPECIFIER = "(?:===|==|!=|~=|>=|<=|>|<)\\s*[A-Za-z0-9.*+!_-]+";
const PIP_REQUIREMENT = new RegExp(
  `^${NAME}(?:\\[\\s*${NAME}(?:\\s*,\\s*${NAME})*\\s*\\])?(?:\\s*${SPECIFIER}(?:\\s*,\\s*${SPECIFIER})*)?$`,
);

/** Why `requirement` is not a pip requirement this tool accepts, or undefined when it is one. */
export function pipRequirementProblem(requirement: string): string | undefined {
  if (typeof requirement !== "string") return `requirements: ${JSON.stringify(requirement)} is not a string`;
  // Options (--index-url, -e, -r …) and URLs would let a requirement change where pip installs from.
  if (requirement.trim().startsWith("-"))
    return `requirements: "${requirement}" is a pip option; only package requirements are accepted`;
  if (!PIP_REQUIREMENT.test(requirement.trim()))
    return `requirements: "${requirement}" is not a pip requirement (like "scikit-learn==1.5.2" or "numpy>=1.26,<2")`;
  return undefined;
}

/**
 * The pip requirements of a Python predictor: a list of specifiers, or the path of a
 * requirements.txt (comments and blank lines ignored). Throws a precise error for a bad entry.
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
      .split("\n")
      .map((line) => line.replace(/(^|\s)#.*$/, "").trim())
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
