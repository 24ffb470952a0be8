import { readFileSync, readdirSync } from "node:fs";
import { isAbsolute, join } from "node:path";

/**
 * The `budgetml` CLI as the package ships it: dist/cli.js, with the prebuilt runtime bundle and
 * restarter source beside it in dist/artifacts/ (the global setup runs `npm run build`).
 */
export const BUILT_CLI = join(__dirname, "..", "..", "dist", "cli.js");

/**
 * The working folder `budgetml local` announced in `output` ("budgetml local: working in DIR
 * (removed on exit)"). Matched on the whole line: npm's own warnings on the same stream also say
 * "working in" ("This will stop working in the next major version"). Throws when it is missing.
 */
export function deploymentRoot(output: string): string {
  const root = /^budgetml local: working in (\S+) \(removed on exit\)$/m.exec(output)?.[1];
  if (!root || !isAbsolute(root)) throw new Error(`no "budgetml local: working in /…" line in:\n${output}`);
  return root;
}

/** Ids of the live processes whose command line (NUL-separated) passes `test`. */
export function processesMatching(test: (cmdline: string) => boolean): number[] {
  return readdirSync("/proc")
    .filter((pid) => /^\d+$/.test(pid) && Number(pid) !== process.pid)
    .filter((pid) => {
      try {
        return test(readFileSync(`/proc/${pid}/cmdline`, "utf8"));
      } catch {
        return false; // exited while we looked
      }
    })
    .map(Number);
}

/** Processes whose command line mentions `folder` (a deployment's runtime, watcher, functions). */
export const processesUnder = (folder: string): number[] => processesMatching((cmdline) => cmdline.includes(folder));

/** "pid: command line", for a failure message that says what was left running. */
export function described(pid: number): string {
  try {
    return `${pid}: ${readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim()}`;
  } catch {
    return `${pid}: (exited)`;
  }
}
