import { join } from "node:path";
import { loadPredictor } from "../../runtime/loader";

const fixture = (name: string) => join(__dirname, "..", "fixtures", name);
const example = (name: string) => join(__dirname, "..", "..", "examples", name, "predictor.ts");

describe("loadPredictor", () => {
  it("compiles a TypeScript predictor whose imports resolve from its own folder", async () => {
    const { instance, name } = await loadPredictor(example("sentiment"));
    expect(name).toBe("predictor.ts:Predictor");
    await instance.load?.();
    expect(await instance.predict({ payload: { text: "what a wonderful day" } })).toMatchObject({ label: "positive" });
  });

  it("loads a CommonJS class by entrypoint name", async () => {
    const { instance, name } = await loadPredictor(fixture("slowPredictor.cjs"), "Slow");
    expect(name).toBe("slowPredictor.cjs:Slow");
    expect(await instance.predict({ payload: { ms: 1 } })).toEqual({ slept: 1 });
  });

  it("falls back to the default export of an ES module", async () => {
    const { instance, name } = await loadPredictor(fixture("defaultExport.mjs"));
    expect(name).toBe("defaultExport.mjs:default");
    expect(await instance.predict({ payload: { a: 1 } })).toEqual({ kind: "mjs", payload: { a: 1 } });
  });

  it.each([
    [fixture("slowPredictor.cjs"), undefined, /no class exported as "Predictor" or "default" \(exported: Slow\)/],
    [fixture("slowPredictor.cjs"), "Fast", /no class exported as "Fast" \(exported: Slow\)/],
    [fixture("noClass.js"), undefined, /it exports no class/],
    [join(__dirname, "..", "..", "README.md"), undefined, /expected a \.ts, \.js, \.cjs or \.mjs file, got "\.md"/],
    ["gs://no-object-here", undefined, /expected gs:\/\/bucket\/object/],
  ])("explains what is wrong with %s (entrypoint %s)", async (path, entrypoint, message) => {
    await expect(loadPredictor(path, entrypoint)).rejects.toThrow(message);
  });
});
