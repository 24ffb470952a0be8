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
// pip's hash-checking mode: a requirement pinned to one version may carry the hashes of the files
// it may be installed from (https://pip.pypa.io/en/stable/topics/secure-installs/#hash-checking-mode).
const HASH_OPTION = /^--hash[=\s]\s*(?:sha256:[0-9a-f]{64}|sha384:[0-9a-f]{96}|sha512:[0-9a-f]{128})$/;
const EXACT_PIN = new RegExp(`^${NAME}(?:\\[[^\\]]*\\])?\\s*(?:===?)\\s*[A-Za-z0-9.+!_-]+$`);

/** A requirement line split into the requirement and its `--hash` options. */
function splitHashes(requirement: string): { requirement: string; hashes: string[] } {
  const [first, ...hashes] = requirement.trim().split(/\s+(?=--hash\b)/);
  return { requirement: first, hashes };
}

/**
 * Why `requirement` is not a pip requirement this tool accepts, or undefined when it is one. Used
 * where the bundle is built and again on the VM, which installs only what passes it.
 */
export function pipRequirementProblem(requirement: string): string | undefined {
  if (typeof requirement !== "string") return `requirements: ${JSON.stringify(requirement)} is not a string`;
  // Options (--index-url, --trusted-host, -e, -r …) and URLs would let a requirement change where
  // pip installs from, or whether it checks TLS; only --hash, which narrows what it accepts, may follow.
  if (requirement.trim().startsWith("-"))
    return `requirements: "${requirement}" is a pip option; only package requirements are accepted`;
  const { requirement: bare, hashes } = splitHashes(requirement);
  if (!PIP_REQUIREMENT.test(bare))
    return `requirements: "${requirement}" is not a pip requirement (like "scikit-learn==1.5.2" or "numpy>=1.26,<2")`;
  const badHash = hashes.find((hash) => !HASH_OPTION.test(hash));
  if (badHash)
    return `requirements: "${requirement}": "${badHash}" is not a hash pip accepts (--hash=sha256:<64 hex digits>, or sha384, sha512)`;
  if (hashes.length > 0 && !EXACT_PIN.test(bare))
    return `requirements: "${requirement}" has hashes but is not pinned to one version with ==`;
  return undefined;
}

/** Whether any line pins its files by hash: pip then requires hashes for everything it installs. */
export function requiresHashes(requirements: string[]): boolean {
  return requirements.some((line) => splitHashes(line).hashes.length > 0);
}

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
