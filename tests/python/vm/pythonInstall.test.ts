// The VM's boot with a Python predictor, for real: startup.sh fetches the runtime bundle from the
// storage stand-in, boot.cjs installs the predictor bundle — pip into a virtual environment, as an
// unprivileged user, from a wheel built here (PIP_NO_INDEX + PIP_FIND_LINKS: no network) — and
// starts the runtime, which serves the predictor with that environment's Python.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { packDeterministic } from "../../../bundles/archive";
import { buildPredictorBundle } from "../../../bundles/predictorBundle";
import { json, login } from "../../support/runtimeServer";
import { PASSWORD, startTestVm, type TestVm } from "../../support/vmStandins";
import { waitFor } from "../../support/waitFor";

const run = promisify(execFile);
const FIXTURES = join(__dirname, "..", "fixtures");
const DEBIAN_PYTHON = "/usr/bin/python3";
// An existing unprivileged account stands in for the VM's install account (the tests run as root here).
const UNPRIVILEGED = "nobody";

describe("VM boot with a Python predictor and pip requirements", () => {
  let vm: TestVm;
  let pipEnv: Record<string, string>;

  beforeAll(async () => {
    const predictor = join(FIXTURES, "needsTinyPackage.py");
    vm = await startTestVm(
      {
        tiny: { file: predictor, requirements: ["budget-tiny==1.0"] },
        missing: { file: predictor, requirements: ["budget-tiny==9.9"] },
      },
      { BUDGET_PYTHON: DEBIAN_PYTHON, BUDGET_INSTALL_USER: UNPRIVILEGED },
    );
    chmodSync(vm.work, 0o755); // as /opt is on a VM: the unprivileged user may pass through
    // The package, built here into a wheel folder pip will install from.
    // (Built from a copy: setuptools writes build folders beside the sources.)
    const wheels = join(vm.work, "wheels");
    const source = join(vm.work, "tinyPackage");
    await run("cp", ["-r", join(FIXTURES, "tinyPackage"), source]);
    await run(
      DEBIAN_PYTHON,
      ["-m", "pip", "wheel", "--no-index", "--no-build-isolation", "--no-deps", "--wheel-dir", wheels, source],
      {
        cwd: vm.work,
        env: { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: "1" },
      },
    );
    pipEnv = { PIP_NO_INDEX: "1", PIP_FIND_LINKS: wheels };
  }, 120_000);
  afterAll(() => vm?.close());

  async function predict(): Promise<{ greeting: string; python: string }> {
    await waitFor(() => fetch(`${vm.url}/`).then((r) => r.status === 200), {
      timeoutMs: 30_000,
      what: "the runtime to be ready",
    });
    const response = await fetch(
      `${vm.url}/predict_dict`,
      json(await login(vm.url, "budget", PASSWORD), { payload: { name: "vm" } }),
    );
    expect(response.status).toBe(200);
    return (await response.json()) as { greeting: string; python: string };
  }

  it("installs the requirements into a virtual environment named by the bundle's hash, as an unprivileged install account, and serves", async () => {
    const { stderr } = await vm.boot(pipEnv);
    expect(stderr).toMatch(/installing Python requirements budget-tiny==1\.0/);
    const venv = join(vm.home, "predictors", vm.objects.tiny.replace(/\.tgz$/, ""), "venv");
    const nobodyUid = Number((await run("id", ["-u", UNPRIVILEGED])).stdout);
    expect(statSync(join(venv, "pyvenv.cfg")).uid).toBe(nobodyUid);
    const site = readdirSync(join(venv, "lib")).map((version) => join(venv, "lib", version, "site-packages"))[0];
    expect(statSync(join(site, "budget_tiny", "__init__.py")).uid).toBe(nobodyUid);
    const answer = await predict();
    expect(answer.greeting).toBe("hello vm from budget_tiny");
    expect(answer.python).toBe(join(venv, "bin", "python"));
  }, 120_000);

  it("a reboot with the same bundle re-installs nothing and serves again", async () => {
    await vm.shutdown();
    const { stderr } = await vm.boot(pipEnv);
    expect(stderr).toMatch(/predictor predictor-[0-9a-f]+\.tgz already installed/);
    expect(stderr).not.toMatch(/installing Python requirements/);
    expect((await predict()).greeting).toBe("hello vm from budget_tiny");
  }, 120_000);

  /** A Python predictor bundle made by hand (not by buildPredictorBundle, which checks the requirements), put in the bucket. */
  async function handMadeBundle(requirementsTxt: string): Promise<string> {
    const dir = mkdtempSync(join(vm.work, "hand-made-"));
    copyFileSync(join(FIXTURES, "needsTinyPackage.py"), join(dir, "predictor.py"));
    writeFileSync(join(dir, "requirements.txt"), requirementsTxt);
    writeFileSync(join(dir, "manifest.json"), JSON.stringify({ entrypoint: "", language: "python", requirements: [] }));
    const bundle = await packDeterministic(
      "predictor",
      dir,
      ["predictor.py", "requirements.txt", "manifest.json"],
      dir,
    );
    copyFileSync(bundle.file, join(vm.bucketDir, bundle.objectName));
    return bundle.objectName;
  }

  async function bootWith(object: string): Promise<string> {
    vm.metadata.setAttribute("budget-predictor-object", object);
    await vm.shutdown();
    return vm.boot(pipEnv).then(
      ({ stderr }) => stderr,
      (error: { stderr: string }) => error.stderr,
    );
  }

  it("refuses requirements.txt lines the build would refuse — pip options that change where it installs from", async () => {
    // A bundle made by hand is still named by its hash: only the VM's own check keeps pip from trusting any host.
    const object = await handMadeBundle(
      `--trusted-host 127.0.0.1\n--extra-index-url file://${join(vm.work, "wheels")}\nbudget-tiny==1.0\n`,
    );
    try {
      const stderr = await bootWith(object);
      expect(stderr).toMatch(
        /FAILED: requirements\.txt refused: requirements: "--trusted-host 127\.0\.0\.1" is a pip option/,
      );
      expect(stderr).not.toMatch(/installing Python requirements/);
    } finally {
      vm.metadata.setAttribute("budget-predictor-object", vm.objects.tiny);
    }
  }, 120_000);

  it("installs requirements pinned by hash, and refuses a file whose hash does not match", async () => {
    const wheel = readdirSync(join(vm.work, "wheels")).find((name) => name.endsWith(".whl")) as string;
    const sha256 = createHash("sha256")
      .update(readFileSync(join(vm.work, "wheels", wheel)))
      .digest("hex");
    const pinned = (hash: string) =>
      buildPredictorBundle({
        predictor: join(FIXTURES, "needsTinyPackage.py"),
        requirements: [`budget-tiny==1.0 --hash=sha256:${hash}`],
        outDir: join(vm.work, "pinned", hash.slice(0, 8)),
      }).then((bundle) => (copyFileSync(bundle.file, join(vm.bucketDir, bundle.objectName)), bundle.objectName));
    try {
      const wrong = await bootWith(await pinned("0".repeat(64)));
      expect(wrong).toMatch(/FAILED: pip install failed: .*(DO NOT MATCH THE HASHES|Expected sha256 0{64})/);
      const right = await bootWith(await pinned(sha256));
      expect(right).toMatch(/installing Python requirements budget-tiny==1\.0 --hash=sha256:/);
      expect(right).not.toMatch(/FAILED/);
      expect((await predict()).greeting).toBe("hello vm from budget_tiny");
    } finally {
      vm.metadata.setAttribute("budget-predictor-object", vm.objects.tiny);
    }
  }, 180_000);

  it("a requirement pip cannot find fails the boot with pip's reason and leaves nothing installed", async () => {
    vm.metadata.setAttribute("budget-predictor-object", vm.objects.missing);
    try {
      await vm.shutdown();
      const failure = await vm.boot(pipEnv).then(
        () => undefined,
        (error: { stderr: string }) => error.stderr,
      );
      expect(failure).toMatch(/FAILED: pip install failed: .*budget-tiny==9\.9/);
      const installed = readdirSync(join(vm.home, "predictors")).filter((name) =>
        name.startsWith(vm.objects.missing.replace(/\.tgz$/, "")),
      );
      expect(installed).toEqual([]);
    } finally {
      vm.metadata.setAttribute("budget-predictor-object", vm.objects.tiny);
    }
  }, 120_000);
});
