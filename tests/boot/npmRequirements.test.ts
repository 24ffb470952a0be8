import { execFile } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { buildPredictorBundle } from "../../bundles/predictorBundle";
import { installNpmRequirements } from "../../images/vm/installNpmRequirements";
import { extractBundle } from "../../images/vm/extractBundle";
import { installAccount } from "../../images/vm/installAccount";

const run = promisify(execFile);

// Predictor requirements: pinned by a lockfile made where the bundle is built, installed on the VM
// with `npm ci` as an unprivileged user, install scripts only for packages listed in allowScripts.
// The package is made in the test (npm pack) so nothing needs the registry.
describe("npm requirements of a predictor", () => {
  let work: string;
  let tarball: string;
  let predictor: string;
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "budgetml-npm-req-"));
    chmodSync(work, 0o755); // the unprivileged installer reads the tarball from here
    const pkg = join(work, "budget-scripted");
    mkdirSync(pkg);
    writeFileSync(
      join(pkg, "package.json"),
      JSON.stringify({
        name: "budget-scripted",
        version: "1.2.3",
        main: "index.js",
        scripts: { postinstall: "node -e \"require('fs').writeFileSync('ran-as', String(process.getuid()))\"" },
      }),
    );
    writeFileSync(join(pkg, "index.js"), "module.exports = 'scripted';\n");
    const { stdout } = await run("npm", ["pack", "--silent", "--pack-destination", work], { cwd: pkg });
    tarball = join(work, stdout.trim().split("\n").pop() as string);
    chmodSync(tarball, 0o644);
    predictor = join(work, "predictor.js");
    writeFileSync(
      predictor,
      "const s = require('budget-scripted');\nclass Predictor { async predict() { return s; } }\nmodule.exports = { Predictor };\n",
    );
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  async function installed(allowScripts?: string[]): Promise<string> {
    const bundle = await buildPredictorBundle({
      predictor,
      requirements: [`budget-scripted@file:${tarball}`],
      allowScripts,
      outDir: join(work, "out"),
    });
    const predictors = mkdtempSync(join(work, "installed-"));
    chmodSync(predictors, 0o755); // as /opt/budgetml/predictors on a VM
    const dir = join(predictors, "predictor.partial");
    await extractBundle(bundle.file, dir, bundle.objectName, "predictor"); // as the VM unpacks it
    const lock = JSON.parse(readFileSync(join(dir, "package-lock.json"), "utf8"));
    expect(lock.packages["node_modules/budget-scripted"]).toMatchObject({
      version: "1.2.3",
      integrity: expect.stringMatching(/^sha512-/),
    });
    const lines: string[] = [];
    await installNpmRequirements(
      dir,
      (line) => lines.push(line),
      await installAccount({ BUDGET_INSTALL_USER: "nobody" }),
    );
    expect(readFileSync(join(dir, "node_modules", "budget-scripted", "index.js"), "utf8")).toContain("scripted");
    expect(readdirSync(dir).filter((name) => name.startsWith("."))).toEqual([]); // no npm cache left beside it (.npm-cache, or .npm under HOME)
    return dir;
  }

  it("pins the requirements in the bundle and installs them as the unprivileged user, scripts off", async () => {
    const dir = await installed();
    const { stdout: nobody } = await run("id", ["-u", "nobody"]);
    expect(statSync(join(dir, "node_modules", "budget-scripted", "index.js")).uid).toBe(Number(nobody));
    expect(existsSync(join(dir, "node_modules", "budget-scripted", "ran-as"))).toBe(false);
  }, 60_000);

  it("runs install scripts only for packages listed in allowScripts, and never as root", async () => {
    const dir = await installed(["budget-scripted"]);
    const { stdout: nobody } = await run("id", ["-u", "nobody"]);
    expect(readFileSync(join(dir, "node_modules", "budget-scripted", "ran-as"), "utf8")).toBe(nobody.trim());
  }, 60_000);

  it("refuses allowScripts naming a package that is not a requirement", async () => {
    await expect(
      buildPredictorBundle({
        predictor,
        requirements: [`budget-scripted@file:${tarball}`],
        allowScripts: ["left-pad"],
        outDir: join(work, "out"),
      }),
    ).rejects.toThrow('allowScripts: "left-pad" is not among the requirements');
  });

  it("refuses a bundle with requirements but no lockfile", async () => {
    const dir = mkdtempSync(join(work, "nolock-"));
    writeFileSync(join(dir, "package.json"), JSON.stringify({ dependencies: { "budget-scripted": "1.2.3" } }));
    writeFileSync(join(dir, "manifest.json"), "{}");
    await expect(installNpmRequirements(dir, () => {})).rejects.toThrow(/has requirements but no package-lock\.json/);
  });
});
