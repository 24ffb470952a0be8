import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { prebuiltArtifacts } from "../../bundles/prebuilt";

describe("prebuiltArtifacts: what the component deploys instead of building it", () => {
  let work: string;
  const manifestIn = (dir: string, objectName: string) => {
    mkdirSync(dir, { recursive: true });
    const manifest = { runtime: { objectName, sha256: "0".repeat(64) }, restarter: { dir: "restarter", hash: "h" } };
    writeFileSync(join(dir, "manifest.json"), JSON.stringify(manifest));
  };
  beforeEach(() => (work = mkdtempSync(join(tmpdir(), "budgetml-prebuilt-"))));
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  it("are none run from source, unless BUDGET_PREBUILT_ARTIFACTS names a folder of them", () => {
    const code = join(work, "code");
    expect(prebuiltArtifacts(code, {})).toBeUndefined();
    manifestIn(join(work, "built"), "runtime-aaaaaaaaaaaaaaaa.tgz");
    expect(prebuiltArtifacts(code, { BUDGET_PREBUILT_ARTIFACTS: join(work, "built") })).toMatchObject({
      dir: join(work, "built"),
      manifest: { runtime: { objectName: "runtime-aaaaaaaaaaaaaaaa.tgz" } },
    });
  });

  it("are the installed package's own when it has them, whatever the variable says", () => {
    manifestIn(join(work, "code", "artifacts"), "runtime-bbbbbbbbbbbbbbbb.tgz");
    manifestIn(join(work, "built"), "runtime-aaaaaaaaaaaaaaaa.tgz");
    expect(
      prebuiltArtifacts(join(work, "code"), { BUDGET_PREBUILT_ARTIFACTS: join(work, "built") })?.manifest.runtime,
    ).toMatchObject({ objectName: "runtime-bbbbbbbbbbbbbbbb.tgz" });
  });

  it("refuses a folder without a manifest, naming the variable", () => {
    expect(() => prebuiltArtifacts(join(work, "code"), { BUDGET_PREBUILT_ARTIFACTS: work })).toThrow(
      `BUDGET_PREBUILT_ARTIFACTS=${work} has no manifest.json: run \`npm run build\` (it writes dist/artifacts)`,
    );
  });
});
