import { createHash } from "node:crypto";
import { chmod, mkdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { bundleObjectName } from "../contracts/bundleName";
import { create } from "tar";

/** A built archive, named by its content so an unchanged input uploads (and changes) nothing. */
export interface BuiltBundle {
  /** Path of the .tgz on this machine. */
  file: string;
  /** `<kind>-<first 16 hex of sha256>.tgz`: the object name in the bucket. */
  objectName: string;
  sha256: string;
}

/** Byte 9 of a gzip header names the OS that wrote it; 255 is "unknown", the same everywhere. */
const GZIP_OS_BYTE = 9;
const GZIP_OS_UNKNOWN = 255;

/**
 * Packs `files` (paths relative to `dir`, a staging folder the caller owns) into
 * `outDir/<kind>-<hash>.tgz`, byte for byte the same for the same inputs on any machine: sorted
 * entries, fixed mtimes, no owner names, file modes set here (0755 for executables, else 0644)
 * rather than left to the umask, and a gzip header without a timestamp or an OS byte.
 */
export async function packDeterministic(
  kind: string,
  dir: string,
  files: string[],
  outDir: string,
): Promise<BuiltBundle> {
  const sorted = [...files].sort();
  for (const file of sorted) {
    const path = join(dir, file);
    await chmod(path, (await stat(path)).mode & 0o111 ? 0o755 : 0o644);
  }
  const chunks: Buffer[] = [];
  const stream = create({ cwd: dir, portable: true, mtime: new Date(0), noDirRecurse: true }, sorted);
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  const bytes = gzipSync(Buffer.concat(chunks), { level: 9 });
  bytes[GZIP_OS_BYTE] = GZIP_OS_UNKNOWN;
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  const objectName = bundleObjectName(kind, sha256);
  await mkdir(outDir, { recursive: true });
  const file = join(outDir, objectName);
  await writeFile(file, bytes);
  return { file, objectName, sha256 };
}
