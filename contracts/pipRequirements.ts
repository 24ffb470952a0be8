// The contract between the bundle that carries a Python predictor's requirements and the VM that
// installs them: which pip requirement lines are accepted. The component checks them at preview and
// the bundler when it writes requirements.txt; the VM checks every line again before pip runs.

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
