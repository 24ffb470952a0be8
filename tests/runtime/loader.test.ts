import * as gcpMetadata from "gcp-metadata";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { startStorageServer } from "../../local/standins/storageServer";
import { loadPredictor } from "../../runtime/predictor/loader";
import { startMetadataServer } from "../../local/standins/metadataServer";

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
    [
      join(__dirname, "..", "..", "README.md"),
      undefined,
      /expected a \.ts, \.js, \.cjs, \.mjs or \.py file, got "\.md"/,
    ],
    ["gs://no-object-here", undefined, /expected gs:\/\/bucket\/object/],
  ])("explains what is wrong with %s (entrypoint %s)", async (path, entrypoint, message) => {
    await expect(loadPredictor(path, entrypoint)).rejects.toThrow(message);
  });
});

describe("the bundled examples, for real", () => {
  it("the image example decodes an upload with sharp and can answer with an image", async () => {
    const png = await sharp({ create: { width: 300, height: 200, channels: 3, background: { r: 200, g: 10, b: 10 } } })
      .png()
      .toBuffer();
    const { instance } = await loadPredictor(example("image"));
    await instance.load?.();
    const upload = (filename: string) => ({
      filename,
      contentType: "image/png",
      size: png.length,
      bytes: png,
      read: async () => png,
    });
    expect(await instance.predict(upload("red.png"))).toEqual({
      filename: "red.png",
      format: "png",
      width: 300,
      height: 200,
      channels: 3,
      meanColor: [200, 10, 10],
    });
    const thumbnail = (await instance.predict(upload("red.thumb.png"))) as Response;
    expect(thumbnail.headers.get("content-type")).toBe("image/png");
    expect(await sharp(Buffer.from(await thumbnail.arrayBuffer())).metadata()).toMatchObject({
      width: 128,
      height: 85,
    });
    const notImage = (await instance.predict({
      ...upload("x.png"),
      bytes: Buffer.from("nope"),
      read: async () => Buffer.from("nope"),
    })) as Response;
    expect(notImage.status).toBe(422);
  });
});

describe("loading from a bucket", () => {
  it("downloads gs://bucket/object with @google-cloud/storage (through its emulator setting) and loads it", async () => {
    const root = mkdtempSync(join(tmpdir(), "budgetml-gs-"));
    mkdirSync(join(root, "models"));
    copyFileSync(fixture("slowPredictor.cjs"), join(root, "models", "slow.cjs"));
    const storage = await startStorageServer(root);
    // The VM's credentials come from its metadata server: the storage stand-in wants a token.
    const metadata = await startMetadataServer();
    const saved = { storage: process.env.STORAGE_EMULATOR_HOST, metadata: process.env.GCE_METADATA_HOST };
    process.env.STORAGE_EMULATOR_HOST = storage.url;
    process.env.GCE_METADATA_HOST = metadata.host;
    gcpMetadata.resetIsAvailableCache();
    try {
      const { instance, name } = await loadPredictor("gs://models/slow.cjs", "Slow");
      expect(name).toBe("slow.cjs:Slow");
      expect(await instance.predict({ payload: { ms: 1 } })).toEqual({ slept: 1 });
      await expect(loadPredictor("gs://models/absent.cjs")).rejects.toThrow(
        /predictor gs:\/\/models\/absent\.cjs: could not download it/,
      );
    } finally {
      for (const [name, value] of [
        ["STORAGE_EMULATOR_HOST", saved.storage],
        ["GCE_METADATA_HOST", saved.metadata],
      ] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      await Promise.all([storage.close(), metadata.close()]);
      rmSync(root, { recursive: true, force: true });
    }
  });
});
