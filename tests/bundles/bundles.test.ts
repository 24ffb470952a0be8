import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { extract } from "tar";
import { buildPredictorBundle, parseRequirements } from "../../bundles/predictorBundle";
import { buildRestarterSource } from "../../bundles/restarterSource";
import { buildRuntimeBundle } from "../../bundles/runtimeBundle";
import { waitFor } from "../support/waitFor";
import { json, login, PASSWORD, SIGNING_KEY, USERNAME } from "../support/runtimeServer";

const ROOT = join(__dirname, "..", "..");
let out: string;
beforeAll(async () => {
  out = await mkdtemp(join(tmpdir(), "budgetml-bundles-test-"));
});
afterAll(() => rm(out, { recursive: true, force: true }));

describe("bundles", () => {
  it("names a predictor bundle by content: same input, same name; other requirements, other name", async () => {
    const predictor = join(ROOT, "examples", "sentiment", "predictor.ts");
    const first = await buildPredictorBundle({ predictor, requirements: ["sentiment@^5"], outDir: join(out, "a") });
    const again = await buildPredictorBundle({ predictor, requirements: ["sentiment@^5"], outDir: join(out, "b") });
    const other = await buildPredictorBundle({ predictor, requirements: ["sentiment@^4"], outDir: join(out, "c") });
    expect(first.objectName).toMatch(/^predictor-[0-9a-f]{16}\.tgz$/);
    expect(again.objectName).toBe(first.objectName);
    expect(await readFile(again.file)).toEqual(await readFile(first.file));
    expect(other.objectName).not.toBe(first.objectName);
    const dir = join(out, "x");
    await import("node:fs/promises").then((fs) => fs.mkdir(dir));
    await extract({ file: first.file, cwd: dir });
    expect(JSON.parse(await readFile(join(dir, "package.json"), "utf8")).dependencies).toEqual({ sentiment: "^5" });
    expect(await readFile(join(dir, "predictor.cjs"), "utf8")).toContain('require("sentiment")');
  });

  it.each([
    [{ predictor: "nope.ts" }, /predictor: file not found: nope\.ts/],
    [{ predictor: join(ROOT, "README.md") }, /expected a \.ts, \.js, \.cjs, \.mjs or \.py file/],
    [
      { predictor: join(ROOT, "examples", "sentiment", "predictor.ts"), entrypoint: "not valid" },
      /entrypoint: "not valid" is not a JavaScript identifier/,
    ],
    [
      { predictor: join(ROOT, "examples", "sentiment", "predictor.ts"), requirements: ["Bad Name"] },
      /requirements: "Bad Name" is not an npm package name/,
    ],
    [
      { predictor: join(ROOT, "tests", "fixtures", "importsMissing.js") },
      /cannot bundle .*Could not resolve "not-installed-anywhere".*add the package to requirements/,
    ],
  ])("refuses %j with a precise error", async (options, message) => {
    await expect(buildPredictorBundle({ outDir: out, ...options })).rejects.toThrow(message);
  });

  it("reads requirements from a package.json", () => {
    expect(parseRequirements(join(ROOT, "tests", "fixtures", "requirements.json"))).toEqual({ sentiment: "^5.0.0" });
    expect(parseRequirements(["@scope/pkg@1.2.3", "plain"])).toEqual({ "@scope/pkg": "1.2.3", plain: "*" });
  });

  it("runs the runtime bundle with a self-contained predictor bundle, far from any node_modules", async () => {
    const runtime = await buildRuntimeBundle(join(out, "rt"));
    const predictor = await buildPredictorBundle({
      predictor: join(ROOT, "examples", "sentiment", "predictor.ts"),
      outDir: join(out, "pb"),
    });
    const vm = await mkdtemp(join(tmpdir(), "budgetml-vm-"));
    try {
      await extract({ file: runtime.file, cwd: vm });
      await extract({ file: predictor.file, cwd: vm });
      const child = spawn(
        process.execPath,
        [join(vm, "server.cjs"), "serve", "--predictor", join(vm, "predictor.cjs"), "--port", "0", "--workers", "1"],
        {
          cwd: vm,
          env: { PATH: process.env.PATH, BUDGET_USERNAME: USERNAME, BUDGET_PWD: PASSWORD, BUDGET_TOKEN: SIGNING_KEY },
          stdio: ["ignore", "ignore", "pipe"],
        },
      );
      try {
        const url = await new Promise<string>((resolve, reject) => {
          let err = "";
          child.stderr.on("data", (d) => {
            err += d;
            const m = /serving http:\/\/localhost:(\d+)/.exec(err);
            if (m) resolve(`http://127.0.0.1:${m[1]}`);
          });
          child.on("exit", (code) => reject(new Error(`server.cjs exited ${code}: ${err}`)));
        });
        await waitFor(async () => (await fetch(`${url}/`)).status === 200, {
          what: "the bundled runtime to load its predictor",
        });
        const response = await fetch(`${url}/predict_dict`, json(await login(url), { payload: { text: "good" } }));
        expect(await response.json()).toMatchObject({ label: "positive" });
        const docs = await fetch(`${url}/docs/assets/swagger-ui-bundle.js`);
        expect(docs.status).toBe(200);
      } finally {
        child.kill("SIGKILL");
      }
    } finally {
      await rm(vm, { recursive: true, force: true });
    }
  }, 60_000);

  it("writes the restarter source with exactly the packages it imports", async () => {
    const first = await buildRestarterSource(join(out, "fn1"));
    const again = await buildRestarterSource(join(out, "fn2"));
    expect(again.hash).toBe(first.hash);
    const manifest = JSON.parse(await readFile(join(first.dir, "package.json"), "utf8"));
    expect(manifest.main).toBe("index.js");
    expect(Object.keys(manifest.dependencies)).toEqual([
      "@google-cloud/compute",
      "@google-cloud/functions-framework",
      "pino",
    ]);
    expect(await readFile(join(first.dir, "index.js"), "utf8")).toContain("restartInstance");
  });
});
