import { existsSync, readFileSync, statSync } from "node:fs";
import Module from "node:module";
import { basename, dirname, extname, join, resolve } from "node:path";
import { transformSync } from "esbuild";
import { UsageError } from "../contracts/settings";

/** A Pulumi program to run: its entry file and its project's name (from Pulumi.yaml). */
export interface ProgramFile {
  entry: string;
  project: string | undefined;
}

const ENTRY_NAMES = ["index.ts", "index.js", "index.mts", "index.cjs"];

/** The `name:` and `main:` of a Pulumi.yaml (both plain scalars in practice). */
function readProjectFile(file: string): { name?: string; main?: string } {
  const text = readFileSync(file, "utf8");
  const scalar = (key: string) => new RegExp(`^${key}:\\s*["']?([^"'#\\n]+?)["']?\\s*(?:#.*)?$`, "m").exec(text)?.[1];
  return { name: scalar("name"), main: scalar("main") };
}

/**
 * Finds the program `path` names, as `pulumi up` would: a .ts/.js file; a folder (its Pulumi.yaml's
 * `main`, else its index.ts/index.js); or a Pulumi.yaml. Throws a `UsageError` saying what is missing.
 */
export function resolveProgram(path: string): ProgramFile {
  const target = resolve(path);
  if (!existsSync(target)) throw new UsageError(`program not found: ${path}`);
  let folder = statSync(target).isDirectory() ? target : dirname(target);
  let entry = statSync(target).isDirectory() ? undefined : target;
  let project: string | undefined;
  const projectFile =
    basename(target) === "Pulumi.yaml"
      ? target
      : existsSync(join(folder, "Pulumi.yaml"))
        ? join(folder, "Pulumi.yaml")
        : undefined;
  if (projectFile) {
    const { name, main } = readProjectFile(projectFile);
    project = name;
    if (entry === projectFile) entry = undefined;
    if (!entry && main) {
      entry = resolve(dirname(projectFile), main);
      if (existsSync(entry) && statSync(entry).isDirectory()) folder = entry;
      else folder = dirname(entry);
    }
  }
  if (!entry || statSync(entry).isDirectory()) entry = ENTRY_NAMES.map((name) => join(folder, name)).find(existsSync);
  if (!entry)
    throw new UsageError(
      `no program in ${path}: expected ${ENTRY_NAMES.slice(0, 2).join(" or ")}, or a Pulumi.yaml whose main names one`,
    );
  if (![".ts", ".mts", ".cts", ".js", ".cjs", ".mjs"].includes(extname(entry)))
    throw new UsageError(`program: expected a .ts or .js file, got ${entry}`);
  return { entry, project };
}

/** Lets `require` load TypeScript, compiled by esbuild as Pulumi's nodejs runtime compiles it (once per process). */
function allowTypeScript(): void {
  const extensions = (
    Module as unknown as {
      _extensions: Record<string, (module: { _compile(code: string, file: string): void }, file: string) => void>;
    }
  )._extensions;
  for (const extension of [".ts", ".mts", ".cts"]) {
    extensions[extension] ??= (module, file) => {
      const { code } = transformSync(readFileSync(file, "utf8"), {
        loader: "ts",
        format: "cjs",
        target: "node20",
        sourcefile: file,
        sourcemap: "inline",
      });
      module._compile(code, file);
    };
  }
}

/** Runs the program: loads its entry and, as Pulumi does, calls and awaits an exported function. */
export async function runProgramFile(entry: string): Promise<void> {
  allowTypeScript();
  // A user's program is loaded as Pulumi's Node.js language host loads it: with require.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const exported = require(entry) as unknown;
  const main = typeof exported === "function" ? exported : (exported as { default?: unknown } | undefined)?.default;
  if (typeof main === "function") await (main as () => unknown)();
}
