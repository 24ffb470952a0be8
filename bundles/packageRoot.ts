import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";

/**
 * The budgetml package's own folder (where runtime/, functions/ and images/ are), found by walking
 * up from this file: it works from source, from dist/, and from code bundled elsewhere.
 */
export function packageRoot(from: string = __dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const manifest = join(dir, "package.json");
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, "utf8")) as { name?: string }).name === "budgetml")
      return dir;
    if (dirname(dir) === dir) throw new Error(`cannot find the budgetml package above ${from}`);
  }
}
