// docs/configuration.md is generated from the environment registries; these tests keep the page,
// the registries and the code that reads the environment in step.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { RUNTIME_ENVIRONMENT } from "../../runtime/cli/environment";
import { RUNTIME_VARIABLES } from "../../contracts/runtimeEnvironment";
import { BOOT_ENVIRONMENT } from "../../images/vm/bootEnvironment";
import { BUILD_ENVIRONMENT } from "../../bundles/prebuilt";
import { CONFIGURATION_DOC, renderConfigurationDoc } from "../../scripts/configurationDoc";

const root = join(__dirname, "..", "..");

function sourcesUnder(folder: string, extensions: string[]): string[] {
  return readdirSync(join(root, folder), { recursive: true, encoding: "utf8" })
    .filter((file) => extensions.some((extension) => file.endsWith(extension)))
    .map((file) => join(folder, file));
}

/**
 * Every environment variable a source file reads, by the spellings this tree uses: `process.env.X`,
 * `env.X`, `bootEnv().X`, `env["X"]` (TypeScript), `os.environ.get("X")`/`os.environ["X"]` (Python) and `${X:-…}`
 * or `$X` (shell), each mapped to the files that read it.
 */
function environmentReads(files: string[]): Map<string, string[]> {
  const patterns = [
    /\b(?:env|bootEnv\(\))\.([A-Z][A-Z0-9_]*)\b/g,
    /\benv\[\s*["'`]([A-Z][A-Z0-9_]*)["'`]\s*\]/g,
    /\benviron(?:\.get\(|\[)\s*["']([A-Z][A-Z0-9_]*)["']/g,
    /\$\{?((?:BUDGET|GCE|STORAGE|SECRET|PUBSUB)_[A-Z0-9_]*)/g,
  ];
  const reads = new Map<string, string[]>();
  for (const file of files) {
    const text = readFileSync(join(root, file), "utf8");
    for (const pattern of patterns)
      for (const match of text.matchAll(pattern)) reads.set(match[1], [...(reads.get(match[1]) ?? []), file]);
  }
  return reads;
}

function unregistered(reads: Map<string, string[]>, registered: Set<string>): string[] {
  return [...reads]
    .filter(([name]) => !registered.has(name))
    .map(([name, files]) => `${name} (${[...new Set(files)].join(", ")})`);
}

test("docs/configuration.md is what `npm run docs:config` generates from the registries", () => {
  const checkedIn = readFileSync(join(root, CONFIGURATION_DOC), "utf8");
  // On a difference, run `npm run docs:config` and commit the page.
  expect(checkedIn).toBe(renderConfigurationDoc());
});

test("every environment variable read under runtime/ is in the runtime's registry", () => {
  // readServeConfig's number settings are read by a name typed as the registry's (tsc checks them);
  // this scan covers every other read, here and in the Python host.
  // The runtime logs through contracts/cloudLogging.ts, which reads the log level on its behalf.
  const reads = environmentReads([...sourcesUnder("runtime", [".ts", ".py"]), join("contracts", "cloudLogging.ts")]);
  // The scan sees reads in each spelling (a scan that finds nothing would pass vacuously).
  expect([...reads.keys()]).toEqual(
    expect.arrayContaining(["BUDGET_PREDICTOR_PATH", "BUDGET_LOG_LEVEL", "BUDGET_PYTHON", "BUDGET_PYTHON_THREADS"]),
  );
  expect(unregistered(reads, new Set(Object.keys(RUNTIME_ENVIRONMENT)))).toEqual([]);
});

test("every environment variable the VM's boot reads is in the boot's registry (or the runtime's, which it sets)", () => {
  const reads = environmentReads(sourcesUnder("images/vm", [".ts", ".sh"]));
  expect([...reads.keys()]).toEqual(
    expect.arrayContaining(["BUDGET_ROOT", "BUDGET_BOOT_RETRY_SECONDS", "BUDGET_FRONT", "GCE_METADATA_HOST"]),
  );
  // PATH is the system's own, read to find the tools.
  const registered = new Set([...Object.keys(BOOT_ENVIRONMENT), ...Object.keys(RUNTIME_ENVIRONMENT), "PATH"]);
  expect(unregistered(reads, registered)).toEqual([]);
});

test("the registries name each variable once, in every table", () => {
  const names = [RUNTIME_ENVIRONMENT, BOOT_ENVIRONMENT, BUILD_ENVIRONMENT].flatMap((registry) => Object.keys(registry));
  expect(names.filter((name, i) => names.indexOf(name) !== i)).toEqual([]);
  const page = renderConfigurationDoc();
  for (const name of names) expect(page).toContain(`| \`${name}\` |`);
});

test("every environment variable read under bundles/ is in the build's registry", () => {
  // bundles/ reads its one variable by the registry's name constant; no other read.
  const reads = environmentReads(sourcesUnder("bundles", [".ts"]));
  expect(unregistered(reads, new Set(Object.keys(BUILD_ENVIRONMENT)))).toEqual([]);
  expect(readFileSync(join(root, "bundles", "prebuilt.ts"), "utf8")).toMatch(/env\[PREBUILT_ARTIFACTS_VARIABLE\]/);
});

test("the runtime's registry documents exactly the names of the contract, in its order", () => {
  // tsc checks the set (the registry satisfies a record keyed by the contract's names); the order
  // is the page's.
  expect(Object.keys(RUNTIME_ENVIRONMENT)).toEqual([...RUNTIME_VARIABLES]);
});
