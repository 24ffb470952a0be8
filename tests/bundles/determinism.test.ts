import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { packDeterministic } from "../../bundles/archive";

const ROOT = join(__dirname, "..", "..");
let out: string;
beforeAll(async () => {
  out = await mkdtemp(join(tmpdir(), "budgetml-determinism-"));
});
afterAll(() => rm(out, { recursive: true, force: true }));

/** Builds every bundle in a fresh process with this umask and working directory; returns their names. */
async function bundleNames(umask: string, cwd: string, outDir: string): Promise<Record<string, string>> {
  const script = `umask ${umask} && exec "$0" "$@"`;
  const args = [
    join(ROOT, "scripts", "runTs.cjs"),
    join(ROOT, "tests", "support", "printBundleNames.ts"),
    outDir,
    join(ROOT, "examples", "sentiment", "predictor.ts"),
  ];
  const { stdout } = await promisify(execFile)("/bin/sh", ["-c", script, process.execPath, ...args], { cwd });
  return JSON.parse(stdout) as Record<string, string>;
}

describe("bundle names are the same on every machine for the same inputs", () => {
  it("under umask 022 from the checkout and umask 077 from another folder", async () => {
    const [relaxed, strict] = await Promise.all([
      bundleNames("022", ROOT, join(out, "relaxed")),
      bundleNames("077", out, join(out, "strict")),
    ]);
    expect(relaxed.runtime).toMatch(/^runtime-[0-9a-f]{16}\.tgz$/);
    expect(relaxed.predictor).toMatch(/^predictor-[0-9a-f]{16}\.tgz$/);
    expect(strict).toEqual(relaxed);
  }, 120_000);

  it("writes no OS byte and no timestamp into the gzip header, and fixed modes into the tar", async () => {
    const { writeFile, chmod, mkdir } = await import("node:fs/promises");
    const stage = join(out, "stage");
    await mkdir(stage, { recursive: true });
    await writeFile(join(stage, "a.txt"), "a");
    await writeFile(join(stage, "run.sh"), "#!/bin/sh\n");
    await chmod(join(stage, "a.txt"), 0o600);
    await chmod(join(stage, "run.sh"), 0o700);
    const bundle = await packDeterministic("test", stage, ["run.sh", "a.txt"], join(out, "packed"));
    const bytes = await readFile(bundle.file);
    expect([...bytes.subarray(0, 3)]).toEqual([0x1f, 0x8b, 8]);
    expect(bytes.readUInt32LE(4)).toBe(0); // mtime
    expect(bytes[9]).toBe(255); // OS: unknown
    const { list } = await import("tar");
    const entries: Array<{ path: string; mode: number; mtime: number }> = [];
    await list({
      file: bundle.file,
      onReadEntry: (entry) =>
        entries.push({ path: entry.path, mode: entry.mode ?? 0, mtime: entry.mtime?.getTime() ?? -1 }),
    });
    expect(entries).toEqual([
      { path: "a.txt", mode: 0o644, mtime: 0 },
      { path: "run.sh", mode: 0o755, mtime: 0 },
    ]);
  });
});
