import { execFile, spawn } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { buildPredictorBundle } from "../../bundles/predictorBundle";
import { extractBundle } from "../../images/vm/extractBundle";
import { installAccount } from "../../images/vm/installAccount";
import { installNpmRequirements } from "../../images/vm/installNpmRequirements";

const run = promisify(execFile);

// The boot agent installs as root while the account the install runs as — or any process it left
// behind, or the runtime's — may race it: whatever it swaps for a link to a file of root's must
// never make root change that file's owner, or delete anything outside the install. The racer
// below swaps every entry it can write for a link, in a tight loop, during real installs.
const RACER = `
import os, sys
root, file_target, dir_target, stop, report = sys.argv[1:6]
swaps = 0
while not os.path.exists(stop):
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            try:
                if os.path.islink(path) or name.endswith(".gone"):
                    continue
                os.rename(path, path + ".gone")
                os.symlink(dir_target if name in dirnames else file_target, path)
                swaps += 1
            except OSError:
                pass
with open(report, "w") as f:
    f.write(str(swaps))
`;

describe("an install racing an unprivileged process that swaps entries for links", () => {
  let work: string;
  let predictors: string;
  let bundleFile: string;
  let bundleName: string;
  const UNPRIVILEGED = "nobody";

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "budgetml-install-race-"));
    chmodSync(work, 0o755);
    const pkg = join(work, "budget-dep");
    mkdirSync(pkg);
    writeFileSync(
      join(pkg, "package.json"),
      JSON.stringify({ name: "budget-dep", version: "1.0.0", main: "index.js" }),
    );
    for (let i = 0; i < 20; i += 1) writeFileSync(join(pkg, `file${i}.js`), `module.exports = ${i};\n`);
    writeFileSync(join(pkg, "index.js"), "module.exports = 'dep';\n");
    const { stdout } = await run("npm", ["pack", "--silent", "--pack-destination", work], { cwd: pkg });
    const tarball = join(work, stdout.trim().split("\n").pop() as string);
    chmodSync(tarball, 0o644);
    const predictor = join(work, "predictor.js");
    writeFileSync(
      predictor,
      "require('budget-dep');\nclass Predictor { async predict() { return 1; } }\nmodule.exports = { Predictor };\n",
    );
    const bundle = await buildPredictorBundle({
      predictor,
      requirements: [`budget-dep@file:${tarball}`],
      outDir: join(work, "out"),
    });
    bundleFile = bundle.file;
    bundleName = bundle.objectName;
    predictors = join(work, "predictors");
    mkdirSync(predictors);
    chmodSync(predictors, 0o755); // as /opt/budgetml/predictors on a VM
  }, 60_000);
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it("never changes the owner of, nor removes, anything the racer links to", async () => {
    // Root's: a 0600 file and a folder with a file in it, as /etc/shadow and /etc would be.
    const secret = join(work, "root-only");
    mkdirSync(secret, { mode: 0o755 });
    const target = join(secret, "shadow");
    writeFileSync(target, "root's secret\n", { mode: 0o600 });
    const canary = join(secret, "canary");
    writeFileSync(canary, "keep me\n", { mode: 0o600 });
    const user = await installAccount({ BUDGET_INSTALL_USER: UNPRIVILEGED });
    const reports = join(work, "racer");
    mkdirSync(reports);
    if (user) chownSync(reports, user.uid, user.gid);
    let swaps = 0;
    const failures: string[] = [];
    const ATTEMPTS = 8;
    for (let attempt = 0; attempt < ATTEMPTS && statSync(target).uid === 0 && existsSync(canary); attempt += 1) {
      const dir = join(predictors, `${bundleName.replace(/\.tgz$/, "")}-${attempt}.partial`);
      await extractBundle(bundleFile, dir, bundleName, "predictor");
      const stop = join(work, `stop-${attempt}`);
      const report = join(reports, `swaps-${attempt}`);
      const racer = spawn("/usr/bin/python3", ["-c", RACER, dir, target, secret, stop, report], {
        uid: user?.uid,
        gid: user?.gid,
        stdio: "ignore",
      });
      const raced = new Promise((resolve) => racer.once("exit", resolve));
      try {
        await installNpmRequirements(dir, () => {}, user);
      } catch (error) {
        failures.push((error as Error).message); // the racer may well break its own install
      } finally {
        writeFileSync(stop, "");
        await raced;
      }
      swaps += Number(readFileSync(report, "utf8"));
    }
    expect(swaps).toBeGreaterThan(0); // the racer did get to swap what it was given
    expect({ owner: statSync(target).uid, mode: statSync(target).mode & 0o7777 }).toEqual({ owner: 0, mode: 0o600 });
    expect(readFileSync(target, "utf8")).toBe("root's secret\n");
    expect(existsSync(canary)).toBe(true);
    expect(statSync(secret).uid).toBe(0);
  }, 120_000);
});
