import { createHash } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { create } from "tar";

/** A built archive, named by its content so an unchanged input uploads (and changes) nothing. */
export interface BuiltBundle {
  /** Path of the .tgz on this machine. */
  file: string;
  /** `<kind>-<first 16 hex of sha256>.tgz`: the object name in the bucket. */
  objectName: string;
  sha256: string;
}

/**
 * Packs `files` (paths relative to `dir`) into `outDir/<kind>-<hash>.tgz`, byte for byte the same
 * for the same inputs: sorted entries, fixed mtimes, no owner names, gzip without a timestamp.
 */
export async function packDeterministic(kind: string, dir: string, files: string[], outDir: string): Promise<BuiltBundle> {
  const chunks: Buffer[] = [];
  const stream = create({ cwd: dir, gzip: true, portable: true, mtime: new Date(0), noDirRecurse: true }, [...files].sort());
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  const bytes = Buffer.concat(chunks);
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  const objectName = `${kind}-${sha256.slice(0, 16)}.tgz`;
  await mkdir(outDir, { recursive: true });
  const file = join(outDir, objectName);
  await writeFile(file, bytes);
  return { file, objectName, sha256 };
}
