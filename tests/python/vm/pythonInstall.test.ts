// The VM's boot with a Python predictor, for real: startup.sh fetches the runtime bundle from the
// storage stand-in, boot.cjs installs the predictor bundle — pip into a virtual environment, as an
// unprivileged user, from a wheel built here (PIP_NO_INDEX + PIP_FIND_LINKS: no network) — and
// starts the runtime, which serves the predictor with that environment's Python.
import { execFile } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { buildPredictorBundle } from "../../../bundles/predictorBundle";
import { buildRuntimeBundle } from "../../../bundles/runtimeBundle";
import { startMetadataServer, type MetadataServer } from "../../../local/standins/metadataServer";
import { startPubSubServer } from "../../../local/standins/pubsubServer";
import { startSecretManagerServer } from "../../../local/standins/secretManagerServer";
import { onlyToken } from "../../../local/standins/accessPolicy";
import { startStorageServer } from "../../../local/standins/storageServer";
import { json, login } from "../../support/runtimeServer";
import { waitFor } from "../../support/waitFor";

/** The token the metadata stand-in issues to the "VM"; the Secret Manager stand-in accepts only it. */
const VM_ACCESS_TOKEN = "vm-token-" + Math.random().toString(36).slice(2);

const run = promisify(execFile);
const ROOT = join(__dirname, "..", "..", "..");
const FIXTURES = join(__dirname, "..", "fixtures");
const PASSWORD = "password-from-secret-manager";
const DEBIAN_PYTHON = "/usr/bin/python3";
// An existing unprivileged account stands in for the VM's runtime user (the tests run as root here).
const UNPRIVILEGED = "nobody";

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe("VM boot with a Python predictor and pip requirements", () => {
  let work: string;
  let vmRoot: string;
  let wheels: string;
  let predictorObject: string;
  let servers: Array<{ close(): Promise<void> }>;
  let metadata: MetadataServer;
  let runtimePort: number;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "budgetml-python-boot-"));
    chmodSync(work, 0o755); // as /opt is on a VM: the unprivileged user may pass through
    vmRoot = join(work, "vm");
    wheels = join(work, "wheels");
    // The package, built here into a wheel folder pip will install from.
    const source = join(work, "tinyPackage");
    await run("cp", ["-r", join(FIXTURES, "tinyPackage"), source]);
    await run(DEBIAN_PYTHON, ["-m", "pip", "wheel", "--no-index", "--no-build-isolation", "--no-deps", "--wheel-dir", wheels, source], { cwd: work, env: { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: "1" } });
    const bucketDir = join(work, "buckets", "model-bucket");
    mkdirSync(bucketDir, { recursive: true });
    const runtime = await buildRuntimeBundle(join(work, "build"));
    const predictor = await buildPredictorBundle({ predictor: join(FIXTURES, "needsTinyPackage.py"), requirements: ["budget-tiny==1.0"], outDir: join(work, "build") });
    for (const bundle of [runtime, predictor]) copyFileSync(bundle.file, join(bucketDir, bundle.objectName));
    predictorObject = predictor.objectName;
    const storage = await startStorageServer(join(work, "buckets"));
    const secrets = await startSecretManagerServer({ "projects/p/secrets/pw": PASSWORD, "projects/p/secrets/key": "k".repeat(48) }, onlyToken(VM_ACCESS_TOKEN));
    const pubsub = await startPubSubServer();
    runtimePort = await freePort();
    metadata = await startMetadataServer({
      accessToken: VM_ACCESS_TOKEN,
      attributes: {
        "budget-bucket": "model-bucket",
        "budget-runtime-object": runtime.objectName,
        "budget-predictor-object": predictor.objectName,
        "budget-entrypoint": "",
        "budget-username": "budget",
        "budget-password-secret": "projects/p/secrets/pw",
        "budget-token-secret": "projects/p/secrets/key",
        "budget-domain": "",
        "budget-topic": "projects/p/topics/restart",
      },
    });
    servers = [storage, secrets, pubsub, metadata];
    env = {
      PATH: process.env.PATH as string,
      BUDGET_ROOT: vmRoot,
      BUDGET_SERVICE_MANAGER: "process",
      BUDGET_RUNTIME_PORT: String(runtimePort),
      BUDGET_PYTHON: DEBIAN_PYTHON,
      BUDGET_RUNTIME_USER: UNPRIVILEGED,
      PIP_NO_INDEX: "1",
      PIP_FIND_LINKS: wheels,
      GCE_METADATA_HOST: metadata.host,
      STORAGE_EMULATOR_HOST: storage.url,
      SECRET_MANAGER_ENDPOINT: secrets.url,
      PUBSUB_ENDPOINT: pubsub.url,
    };
  }, 120_000);

  let env: Record<string, string>;
  const boot = (script: "startup" | "shutdown" = "startup") => run("bash", [join(ROOT, "images", "vm", `${script}.sh`)], { env, maxBuffer: 16 << 20 });

  afterAll(async () => {
    if (env) await boot("shutdown").catch(() => undefined);
    await Promise.all((servers ?? []).map((server) => server.close()));
    rmSync(work, { recursive: true, force: true });
  });

  async function predict(): Promise<{ greeting: string; python: string; uid: number }> {
    const url = `http://127.0.0.1:${runtimePort}`;
    await waitFor(() => fetch(`${url}/`).then((r) => r.status === 200), { timeoutMs: 30_000, what: "the runtime to be ready" });
    const response = await fetch(`${url}/predict_dict`, json(await login(url, "budget", PASSWORD), { payload: { name: "vm" } }));
    expect(response.status).toBe(200);
    return (await response.json()) as { greeting: string; python: string; uid: number };
  }

  it("installs the requirements into a virtual environment named by the bundle's hash, as the unprivileged user, and serves", async () => {
    const { stderr } = await boot();
    expect(stderr).toMatch(/installing Python requirements budget-tiny==1\.0/);
    const installed = join(vmRoot, "opt", "budgetml", "predictors", predictorObject.replace(/\.tgz$/, ""));
    const venv = join(installed, "venv");
    const nobodyUid = Number((await run("id", ["-u", UNPRIVILEGED])).stdout);
    expect(statSync(join(venv, "pyvenv.cfg")).uid).toBe(nobodyUid);
    const site = readdirSync(join(venv, "lib")).map((version) => join(venv, "lib", version, "site-packages"))[0];
    expect(statSync(join(site, "budget_tiny", "__init__.py")).uid).toBe(nobodyUid);
    const answer = await predict();
    expect(answer.greeting).toBe("hello vm from budget_tiny");
    expect(answer.python).toBe(join(venv, "bin", "python"));
  }, 120_000);

  it("a reboot with the same bundle re-installs nothing and serves again", async () => {
    await boot("shutdown");
    const { stderr } = await boot();
    expect(stderr).toMatch(/predictor predictor-[0-9a-f]+\.tgz already installed/);
    expect(stderr).not.toMatch(/installing Python requirements/);
    expect((await predict()).greeting).toBe("hello vm from budget_tiny");
  }, 120_000);

  it("a requirement pip cannot find fails the boot with pip's reason and leaves nothing installed", async () => {
    const broken = await buildPredictorBundle({ predictor: join(FIXTURES, "needsTinyPackage.py"), requirements: ["budget-tiny==9.9"], outDir: join(work, "build") });
    copyFileSync(broken.file, join(work, "buckets", "model-bucket", broken.objectName));
    metadata.setAttribute("budget-predictor-object", broken.objectName);
    try {
      await boot("shutdown");
      const failure = await boot().then(() => undefined, (error: { stderr: string }) => error.stderr);
      expect(failure).toMatch(/FAILED: pip install failed: .*budget-tiny==9\.9/);
      const predictors = readdirSync(join(vmRoot, "opt", "budgetml", "predictors"));
      expect(predictors.filter((name) => name.startsWith(broken.objectName.replace(/\.tgz$/, "")))).toEqual([]);
    } finally {
      metadata.setAttribute("budget-predictor-object", predictorObject);
    }
  }, 120_000);
});
