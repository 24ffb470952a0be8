import { execFile, spawn, type ChildProcess } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { list } from "tar";
import { freePort } from "../support/freePort";
import { deploymentRoot, processesMatching, processesUnder } from "../support/localDeployment";
import { json, login } from "../support/runtimeServer";
import { waitFor } from "../support/waitFor";

// What a user gets: `npm pack` (prepack builds dist/ and its artifacts), the tarball installed into
// an empty folder, and there a user's own Pulumi program, `npx budgetml serve` and `npx budgetml local`.
const ROOT = join(__dirname, "..", "..");
const CONSUMER_FILES = join(__dirname, "consumer");
const run = promisify(execFile);

let work: string;
let checkout: string;
let tarball: string;
let consumer: string;
const children: ChildProcess[] = [];

/** Tar entries of a .tgz, in order. */
async function entries(file: string): Promise<string[]> {
  const paths: string[] = [];
  await list({ file, onReadEntry: (entry) => paths.push(entry.path) });
  return paths;
}

/**
 * The environment of a user's shell: ours without the `npm_*` variables that `npm test` exported
 * to Jest (a user typing `npx` has none; npm would warn about this checkout's configuration).
 */
function userShellEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));
}

/** Spawns a command in the consumer folder in its own process group; collects its output. */
function start(command: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const child = spawn(command, args, {
    cwd: consumer,
    env: { ...userShellEnv(), ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  children.push(child);
  const output = { stdout: "", stderr: "" };
  child.stdout!.on("data", (d) => (output.stdout += d));
  child.stderr!.on("data", (d) => (output.stderr += d));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, output, exited };
}

/**
 * A copy of this checkout to pack, so that `npm pack`'s prepack builds dist/ there, not under the
 * other tests, which run this checkout's dist/ (the global setup builds it): its files (tracked,
 * and new ones git does not ignore) copied and its node_modules hard-linked — the same layout, so
 * the same bundle bytes. Inside the checkout's .build/, on the same file system as node_modules.
 */
async function checkoutCopy(): Promise<string> {
  mkdirSync(join(ROOT, ".build"), { recursive: true });
  const copy = mkdtempSync(join(ROOT, ".build", "packed-checkout-"));
  const listed = await run("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: ROOT });
  for (const file of listed.stdout.split("\0").filter(Boolean)) {
    if (!existsSync(join(ROOT, file))) continue; // deleted, not yet committed
    mkdirSync(dirname(join(copy, file)), { recursive: true });
    copyFileSync(join(ROOT, file), join(copy, file));
  }
  await run("cp", ["-al", join(ROOT, "node_modules"), join(copy, "node_modules")]);
  return copy;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "budgetml-packed-"));
  checkout = await checkoutCopy();
  const packed = await run("npm", ["pack", "--pack-destination", work, "--loglevel", "error"], {
    cwd: checkout,
    maxBuffer: 1 << 26,
  });
  tarball = join(work, packed.stdout.trim().split("\n").pop() as string);
  consumer = join(work, "consumer");
  mkdirSync(consumer);
  for (const file of readdirSync(CONSUMER_FILES)) copyFileSync(join(CONSUMER_FILES, file), join(consumer, file));
  writeFileSync(join(consumer, "package.json"), `${JSON.stringify({ name: "acme-ml", private: true }, null, 2)}\n`);
  const pulumiRange = (
    JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { dependencies: Record<string, string> }
  ).dependencies["@pulumi/pulumi"];
  await run(
    "npm",
    [
      "install",
      "--no-audit",
      "--no-fund",
      "--prefer-offline",
      "--loglevel",
      "error",
      tarball,
      `@pulumi/pulumi@${pulumiRange}`,
    ],
    { cwd: consumer, maxBuffer: 1 << 26 },
  );
}, 600_000);

afterAll(() => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, "SIGKILL");
  if (work) rmSync(work, { recursive: true, force: true });
  if (checkout) rmSync(checkout, { recursive: true, force: true });
});

describe("the packed npm package, installed into an empty folder", () => {
  it("carries the built code, its declarations and the prebuilt artifacts, not the sources", async () => {
    const files = await entries(tarball);
    expect(files).toEqual(
      expect.arrayContaining([
        "package/dist/index.js",
        "package/dist/index.d.ts",
        "package/dist/cli.js",
        "package/dist/artifacts/manifest.json",
        "package/dist/artifacts/restarter/index.js",
        "package/images/vm/startup.sh",
      ]),
    );
    // TypeScript only as declarations, and as the example predictors the docs link to (read, never run from here).
    expect(
      files.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts") && !f.startsWith("package/examples/")),
    ).toEqual([]);
    expect(files).toEqual(
      expect.arrayContaining(["package/examples/sentiment/predictor.ts", "package/docs/http-api.md"]),
    );
    const installed = join(consumer, "node_modules", "budgetml");
    const manifest = JSON.parse(readFileSync(join(installed, "dist", "artifacts", "manifest.json"), "utf8")) as {
      runtime: { objectName: string };
    };
    expect(await entries(join(installed, "dist", "artifacts", manifest.runtime.objectName))).toEqual(
      expect.arrayContaining(["server.cjs", "boot.cjs", "package.json"]),
    );
    // The runtime bundle the other tests ran (this checkout's dist/, built by the global setup) is the one shipped.
    const tested = JSON.parse(
      readFileSync(join(ROOT, "dist", "artifacts", "manifest.json"), "utf8"),
    ) as typeof manifest;
    expect(manifest.runtime.objectName).toBe(tested.runtime.objectName);
  });

  it("lets a user's own JavaScript program compose BudgetModel in its own component, with real bundles", async () => {
    const { stdout } = await run(process.execPath, ["program.js", "predictor.mjs"], { cwd: consumer });
    const declared = JSON.parse(stdout) as {
      url: string;
      urn: string;
      types: string[];
      objects: Array<{ name: string; file: string }>;
      busy: {
        url: string;
        urn: string;
        cost: { monthlyUsd: number; maxMonthlyUsd: number; note: string };
        types: string[];
        groups: Array<{ name: string; zones: string[]; targetSize?: number }>;
      };
    };
    expect(declared.urn).toBe("urn:pulumi:dev::consumer::acme:ml:Platform$budgetml:index:BudgetModel::acme-sentiment");
    expect(declared.url).toBe("https://34-120-1-2.sslip.io");
    expect(declared.types).toEqual(
      expect.arrayContaining([
        "gcp:compute/instance:Instance",
        "gcp:cloudfunctionsv2/function:Function",
        "gcp:cloudscheduler/job:Job",
        "gcp:storage/bucket:Bucket",
      ]),
    );

    const installed = join(consumer, "node_modules", "budgetml", "dist", "artifacts");
    const manifest = JSON.parse(readFileSync(join(installed, "manifest.json"), "utf8")) as {
      runtime: { objectName: string };
      restarter: { hash: string };
    };
    const object = (prefix: string) => declared.objects.find((o) => o.name.startsWith(prefix))!;
    // The runtime uploaded is the one the package shipped (and the tests ran), byte for byte.
    expect(object("runtime-").name).toBe(manifest.runtime.objectName);
    expect(readFileSync(object("runtime-").file)).toEqual(readFileSync(join(installed, manifest.runtime.objectName)));
    expect(object("restarter-").name).toBe(`restarter-${manifest.restarter.hash}.zip`);
    expect(readdirSync(object("restarter-").file).sort()).toEqual(["index.js", "package.json"]);
    // The user's predictor was bundled at deploy time by the installed package.
    expect(await entries(object("predictor-").file)).toEqual(["manifest.json", "package.json", "predictor.cjs"]);

    // The replicated model beside it: groups of replicas behind Google's load balancer, no single VM or restarter.
    const { busy } = declared;
    expect(busy.urn).toBe("urn:pulumi:dev::consumer::acme:ml:Platform$budgetml:index:BudgetModel::acme-busy");
    expect(busy.url).toBe("https://34-117-1-2.sslip.io");
    expect(busy.types).toEqual(
      expect.arrayContaining([
        "gcp:compute/instanceTemplate:InstanceTemplate",
        "gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager",
        "gcp:compute/regionAutoscaler:RegionAutoscaler",
        "gcp:compute/backendService:BackendService",
        "gcp:compute/managedSslCertificate:ManagedSslCertificate",
        "gcp:compute/globalForwardingRule:GlobalForwardingRule",
      ]),
    );
    expect(busy.types).not.toContain("gcp:compute/instance:Instance");
    expect(busy.types).not.toContain("gcp:cloudfunctionsv2/function:Function");
    expect(busy.groups).toEqual([
      { name: "acme-busy-spot-group", zones: ["europe-west1-b", "europe-west1-c", "europe-west1-d"] },
      {
        name: "acme-busy-standard-group",
        zones: ["europe-west1-b", "europe-west1-c", "europe-west1-d"],
        targetSize: 1,
      },
    ]);
    expect(busy.cost.maxMonthlyUsd).toBeGreaterThan(busy.cost.monthlyUsd);
    expect(busy.cost.note).toMatch(/forwarding rules/);
  }, 180_000);

  it("type-checks a user's TypeScript program against the shipped declarations", async () => {
    const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
    const flags = [
      "--noEmit",
      "--strict",
      "--module",
      "node16",
      "--moduleResolution",
      "node16",
      "--target",
      "es2022",
      "--skipLibCheck",
      "--types",
      "node",
      "--typeRoots",
      join(ROOT, "node_modules", "@types"),
    ];
    await expect(run(process.execPath, [tsc, ...flags, "program.ts"], { cwd: consumer })).resolves.toBeDefined();
    // …and the check has teeth: a wrong argument type is refused.
    writeFileSync(
      join(consumer, "wrong.ts"),
      readFileSync(join(consumer, "program.ts"), "utf8").replace('args.machineType ?? "e2-small"', "42"),
    );
    await expect(run(process.execPath, [tsc, ...flags, "wrong.ts"], { cwd: consumer })).rejects.toMatchObject({
      stdout: expect.stringMatching(/TS2322/),
    });
  }, 180_000);

  it("serves a prediction with `npx budgetml serve`", async () => {
    const credentials = {
      BUDGET_USERNAME: "budget",
      BUDGET_PWD: "correct horse battery staple",
      BUDGET_TOKEN: "0123456789abcdef0123456789abcdef",
    };
    const served = start(
      "npx",
      [
        "--no-install",
        "budgetml",
        "serve",
        "--predictor",
        "predictor.mjs",
        "--port",
        "0",
        "--workers",
        "1",
        "--host",
        "127.0.0.1",
      ],
      credentials,
    );
    const port = await waitFor(() => /serving http:\/\/localhost:(\d+)/.exec(served.output.stderr)?.[1], {
      timeoutMs: 30_000,
      what: "npx budgetml serve to listen",
    });
    const url = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${url}/`)).status === 200, { what: "the predictor to load" });
    const response = await fetch(
      `${url}/predict_dict`,
      json(await login(url), { payload: { text: "three little words" } }),
    );
    expect(await response.json()).toEqual({ words: 3, ready: true });
    expect((await fetch(`${url}/predict_dict`, json("forged", { payload: {} }))).status).toBe(401);
    process.kill(-served.child.pid!, "SIGTERM");
    await served.exited;
    await waitFor(
      () =>
        fetch(`${url}/`).then(
          () => false,
          () => true,
        ),
      { what: "the server to stop" },
    );
  }, 60_000);

  it("runs the whole local deployment with `npx budgetml local`, and SIGTERM leaves nothing running", async () => {
    const port = await freePort();
    const local = start("npx", ["--no-install", "budgetml", "local", "predictor.mjs", "--port", String(port)]);
    const url = await waitFor(() => /serving (http:\/\/localhost:\d+)/.exec(local.output.stdout)?.[1], {
      timeoutMs: 120_000,
      what: "npx budgetml local to serve",
    });
    const password = /password: (\S+)/.exec(local.output.stdout)![1];
    const root = deploymentRoot(local.output.stderr);
    // The CLI itself (its command line ends `--port N`) and every process the deployment started (they run from under its root).
    const startedByNpx = () =>
      processesMatching((cmdline) => cmdline.includes(root) || cmdline.includes(`--port\0${port}`));
    expect(processesUnder(root).length).toBeGreaterThan(0); // the check below can see them
    expect(startedByNpx().length).toBeGreaterThan(processesUnder(root).length); // …and the CLI
    const base = url.replace("localhost", "127.0.0.1");
    const response = await fetch(
      `${base}/predict_dict`,
      json(await login(base, "budget", password), { payload: { text: "served from a tarball" } }),
    );
    expect(await response.json()).toEqual({ words: 4, ready: true });

    process.kill(local.child.pid!, "SIGTERM"); // npx itself, as a supervisor would
    await local.exited;
    await waitFor(() => !existsSync(root), { timeoutMs: 30_000, what: `the local deployment to remove ${root}` });
    await waitFor(() => startedByNpx().length === 0, {
      timeoutMs: 30_000,
      what: `the CLI and every process under ${root} to exit`,
    });
  }, 180_000);
});

// In this file so that its build (prestart) never runs beside `npm pack`'s.
describe("npm start in the checkout", () => {
  it("serves the example, and SIGTERM to npm (not only Ctrl-C) leaves nothing running", async () => {
    const port = await freePort();
    const child = spawn("npm", ["start", "--", "--port", String(port)], {
      cwd: ROOT,
      env: userShellEnv(),
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    children.push(child);
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    const exited = new Promise((resolve) => child.once("exit", resolve));
    const password = await waitFor(() => /password: (\S+)/.exec(stdout)?.[1], {
      timeoutMs: 120_000,
      what: "npm start to serve",
    });
    const root = deploymentRoot(stderr);
    const startedByNpm = () =>
      processesMatching((cmdline) => cmdline.includes(root) || cmdline.includes(`--port\0${port}`));
    expect(startedByNpm().length).toBeGreaterThan(1); // the CLI and the deployment's processes: the check below can see them
    const base = `http://127.0.0.1:${port}`;
    const response = await fetch(
      `${base}/predict_dict`,
      json(await login(base, "budget", password), { payload: { text: "I love this" } }),
    );
    expect(await response.json()).toMatchObject({ label: "positive" });

    process.kill(child.pid!, "SIGTERM"); // npm alone, as a supervisor or `kill` would
    await exited;
    await waitFor(() => !existsSync(root), { timeoutMs: 30_000, what: `the local deployment to remove ${root}` });
    // The CLI itself, and every process the deployment started (they run from under its root).
    await waitFor(() => startedByNpm().length === 0, {
      timeoutMs: 30_000,
      what: "every process npm start began to exit",
    });
  }, 240_000);
});
