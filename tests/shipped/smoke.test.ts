// The shipped runtime bundle as a user's VM runs it: server.cjs from the extracted runtime bundle,
// started as its systemd unit starts it (settings in the environment, credentials on standard
// input, one worker per core), serving a predictor bundle as `pulumi up` builds it. Each endpoint
// once, the documented client flow, and a clean stop. The runtime's behaviour in detail is tested
// in-process (tests/runtime); the hostile requests against this same bundle are in
// hostileRequests.test.ts beside this file.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { extract } from "tar";
import { buildPredictorBundle } from "../../bundles/predictorBundle";
import { json, PASSWORD, SIGNING_KEY, startTestRuntime, type TestRuntime } from "../support/runtimeServer";
import { RUNTIME_TARGET } from "../support/runtimeTarget";

describe("the shipped runtime bundle, started as the VM starts it", () => {
  let work: string;
  let server: TestRuntime;
  let token: string;
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "budgetml-smoke-"));
    const bundle = await buildPredictorBundle({
      predictor: join(__dirname, "..", "fixtures", "allEndpoints.ts"),
      outDir: join(work, "out"),
    });
    const installed = join(work, "predictor");
    mkdirSync(installed);
    await extract({ file: bundle.file, cwd: installed });
    server = await startTestRuntime(join(installed, "predictor.cjs"), { asOnTheVm: true });
    token = await server.token();
  }, 60_000);
  afterAll(async () => {
    await server?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it("runs server.cjs from the extracted bundle, not the sources", () => {
    expect(RUNTIME_TARGET).toBe("bundle");
    expect(server.target).toBe("bundle");
  });

  it("reports ready with the bundled predictor, and serves the docs and their assets without a token", async () => {
    const health = await fetch(`${server.url}/`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: "ready", predictor: "predictor.cjs:Predictor" });
    const docs = await fetch(`${server.url}/docs`);
    expect(docs.status).toBe(200);
    expect(docs.headers.get("content-type")).toMatch(/^text\/html/);
    const openApi = (await (await fetch(`${server.url}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(openApi.paths)).toEqual(
      expect.arrayContaining(["/token", "/predict", "/predict_dict", "/predict_image"]),
    );
    const asset = await fetch(`${server.url}/docs/assets/swagger-ui-bundle.js`);
    expect(asset.status).toBe(200);
    expect((await asset.text()).length).toBeGreaterThan(100_000);
  });

  it("answers /predict, /predict_dict and /predict_image with a token from the seed's login form", async () => {
    const generic = await fetch(`${server.url}/predict`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "text/plain" },
      body: "raw words",
    });
    expect(await generic.json()).toEqual({ kind: "generic", body: "raw words" });
    const dict = await fetch(`${server.url}/predict_dict`, json(token, { payload: { text: "hi" } }));
    expect(await dict.json()).toEqual({ kind: "dict", payload: { text: "hi" } });
    const form = new FormData();
    form.append("file", new Blob([new Uint8Array([1, 2, 3])], { type: "image/png" }), "cat.png");
    const image = await fetch(`${server.url}/predict_image`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
      body: form,
    });
    expect(await image.json()).toEqual({ kind: "image", filename: "cat.png", size: 3 });
  });

  it("refuses predictions and /metrics without a token, and counts the served ones in /metrics with one", async () => {
    expect((await fetch(`${server.url}/predict_dict`, json("not-a-token", { payload: {} }))).status).toBe(401);
    expect((await fetch(`${server.url}/metrics`)).status).toBe(401);
    const served = 'budgetml_http_requests_total{route="/predict_dict",method="POST",status="200"}';
    const before = await server.metric(served).catch(() => 0); // no sample until the first one
    expect((await fetch(`${server.url}/predict_dict`, json(token, { payload: {} }))).status).toBe(200);
    expect(await server.metric(served)).toBe(before + 1);
  });

  it("keeps the credentials out of its environment and its log", () => {
    const environment = readFileSync(`/proc/${server.child.pid}/environ`, "utf8");
    expect(environment).toContain("BUDGET_CREDENTIALS=stdin");
    for (const secret of [PASSWORD, SIGNING_KEY]) {
      expect(environment).not.toContain(secret);
      expect(server.logLines.join("\n")).not.toContain(secret);
    }
  });

  it("drains on SIGTERM and exits 0", async () => {
    server.child.kill("SIGTERM");
    expect(await server.exited).toEqual({ code: 0, signal: null });
  });
});
