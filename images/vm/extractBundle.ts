import { execFile } from "node:child_process";
import { chmod, lstat, mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { extract } from "tar";

const run = promisify(execFile);

/** The modes every unpacked bundle gets, whatever its archive says (as `bundles/archive.ts` packs them). */
const DIRECTORY_MODE = 0o755;
const EXECUTABLE_MODE = 0o755;
const FILE_MODE = 0o644;

/**
 * Unpacks a bundle (already checked against its name) into `dir`, which it creates, as root would
 * want it: owned by whoever unpacks (the archive's owners are ignored), only regular files and
 * folders (a link, device or fifo is refused: a link could later lead root's own file operations
 * elsewhere), and modes set here — 0755 for folders and executables, 0644 for other files — so no
 * setuid, setgid or sticky bit and nothing writable by others survives from the archive, and
 * nothing depends on the umask of the process unpacking it. `what` names the bundle in errors
 * (`gs://bucket/object`), `kind` says what it should be.
 */
export async function extractBundle(
  archive: string,
  dir: string,
  what: string,
  kind: "runtime" | "predictor",
): Promise<void> {
  await mkdir(dir, { recursive: true });
  await chmod(dir, DIRECTORY_MODE);
  const refused: string[] = [];
  try {
    await extract({
      file: archive,
      cwd: dir,
      strict: true,
      preserveOwner: false,
      filter: (path, entry) => {
        const type = "type" in entry ? entry.type : "File";
        if (type === "File" || type === "OldFile" || type === "ContiguousFile" || type === "Directory") return true;
        refused.push(`${path} (${type})`);
        return false;
      },
    });
  } catch (error) {
    throw new Error(`${what} is not a valid ${kind} bundle: ${(error as Error).message}`);
  }
  if (refused.length > 0)
    throw new Error(`${what} holds entries that are neither files nor folders: ${refused.slice(0, 5).join(", ")}`);
  await normaliseModes(dir);
}

/** Sets the bundle modes on everything under `dir` (a tree only its owner can write to yet). */
async function normaliseModes(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const stats = await lstat(path);
    if (stats.isDirectory()) {
      await chmod(path, DIRECTORY_MODE);
      await normaliseModes(path);
    } else if (stats.isFile()) {
      await chmod(path, stats.mode & 0o111 ? EXECUTABLE_MODE : FILE_MODE);
    } else {
      throw new Error(`${path} is neither a file nor a folder`);
    }
  }
}

/**
 * Removes a tree that another account may have written to, as root, without ever following a
 * link it planted: GNU `rm -r` walks by directory descriptors and refuses to descend through a
 * symbolic link (it opens each folder with O_NOFOLLOW and removes entries relative to it), where
 * a path-by-path removal (`fs.rm`) can be raced into deleting outside the tree.
 */
export async function removeTree(path: string): Promise<void> {
  await run("rm", ["-rf", "--one-file-system", "--", path]);
}
