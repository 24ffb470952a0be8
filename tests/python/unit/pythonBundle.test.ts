// The Python predictor bundle and the component's checks of a .py predictor, without a server.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { extract } from "tar";
import { buildPredictorBundle } from "../../../bundles/predictorBundle";
import { parsePipRequirements } from "../../../bundles/pythonPredictorBundle";
import { validateArgs } from "../../../components/args/validateArgs";

const IRIS = join(__dirname, "..", "..", "..", "examples", "iris", "predictor.py");
let work: string;
beforeAll(() => (work = mkdtempSync(join(tmpdir(), "budgetml-python-bundle-"))));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("the predictor bundle of a .py predictor", () => {
  it("holds the file as is, its pip requirements and a manifest; same inputs, same name", async () => {
    const first = await buildPredictorBundle({
      predictor: IRIS,
      requirements: ["scikit-learn==1.5.2", "numpy>=1.26,<3"],
      outDir: join(work, "a"),
    });
    const again = await buildPredictorBundle({
      predictor: IRIS,
      requirements: ["scikit-learn==1.5.2", "numpy>=1.26,<3"],
      outDir: join(work, "b"),
    });
    const other = await buildPredictorBundle({
      predictor: IRIS,
      requirements: ["scikit-learn==1.5.1"],
      outDir: join(work, "c"),
    });
    expect(again.objectName).toBe(first.objectName);
    expect(other.objectName).not.toBe(first.objectName);
    const dir = join(work, "x");
    mkdirSync(dir);
    await extract({ file: first.file, cwd: dir });
    expect(readFileSync(join(dir, "predictor.py"), "utf8")).toBe(readFileSync(IRIS, "utf8"));
    expect(readFileSync(join(dir, "requirements.txt"), "utf8")).toBe("scikit-learn==1.5.2\nnumpy>=1.26,<3\n");
    expect(JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"))).toEqual({
      entrypoint: "",
      language: "python",
      requirements: ["scikit-learn==1.5.2", "numpy>=1.26,<3"],
    });
  });

  it("reads a requirements.txt, ignoring comments and blank lines", () => {
    const file = join(work, "requirements.txt");
    writeFileSync(file, "# the model\nscikit-learn==1.5.2  # pinned\n\ntorch[cpu]~=2.3\n");
    expect(parsePipRequirements(file)).toEqual(["scikit-learn==1.5.2", "torch[cpu]~=2.3"]);
  });

  it("reads pip's hash-checking form, continuation lines included (as pip-compile --generate-hashes writes it)", () => {
    const [a, b] = ["a".repeat(64), "b".repeat(64)];
    const file = join(work, "hashed.txt");
    writeFileSync(file, `numpy==1.26.4 \\\n    --hash=sha256:${a} \\\n    --hash=sha256:${b}\n    # via the model\n`);
    expect(parsePipRequirements(file)).toEqual([`numpy==1.26.4 --hash=sha256:${a} --hash=sha256:${b}`]);
  });

  it.each([
    [
      ["--index-url=https://evil.example/simple"],
      /"--index-url=https:\/\/evil\.example\/simple" is a pip option; only package requirements are accepted/,
    ],
    [["-e ."], /is a pip option/],
    [
      ["pkg @ https://example.com/pkg.whl"],
      /"pkg @ https:\/\/example\.com\/pkg\.whl" is not a pip requirement \(like "scikit-learn==1\.5\.2"/,
    ],
    [["numpy; rm -rf /"], /is not a pip requirement/],
    [[`numpy>=1.26 --hash=sha256:${"a".repeat(64)}`], /has hashes but is not pinned to one version with ==/],
    [["numpy==1.26.4 --hash=md5:0123"], /"--hash=md5:0123" is not a hash pip accepts/],
    [[`numpy==1.26.4 --hash=sha256:${"a".repeat(64)} --index-url=https://evil.example`], /is not a hash pip accepts/],
  ])("refuses %j", async (requirements, message) => {
    await expect(buildPredictorBundle({ predictor: IRIS, requirements, outDir: work })).rejects.toThrow(message);
  });

  it("refuses an entrypoint that is not a Python identifier", async () => {
    await expect(buildPredictorBundle({ predictor: IRIS, entrypoint: "$Model", outDir: work })).rejects.toThrow(
      'entrypoint: "$Model" is not a Python identifier',
    );
  });
});

describe("BudgetModel args with a .py predictor", () => {
  const base = { predictor: IRIS, zone: "us-central1-a", region: "us-central1" };

  it('accepts predictor: "predictor.py" with pip requirements', () => {
    expect(validateArgs("iris", { ...base, requirements: ["scikit-learn==1.5.2"] })).toEqual([]);
  });

  it("names every bad pip requirement and a non-Python entrypoint", () => {
    expect(() =>
      validateArgs("iris", { ...base, entrypoint: "my-model", requirements: ["scikit-learn==1.5.2", "--pre", "a b"] }),
    ).toThrow(
      /entrypoint: "my-model" is not a Python identifier.*requirements: "--pre" is a pip option.*requirements: "a b" is not a pip requirement/s,
    );
  });
});
