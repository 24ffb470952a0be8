import { execFile, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { bundleObjectName } from "../../contracts/bundleName";
import { buildPredictorBundle } from "../../bundles/predictorBundle";
import { buildRuntimeBundle } from "../../bundles/runtimeBundle";
import type { LoopbackServer } from "../../local/standins/listen";
import { startMetadataServer, type MetadataServer } from "../../local/standins/metadataServer";
import { startPubSubServer, type PublishedMessage } from "../../local/standins/pubsubServer";
import { startSecretManagerServer } from "../../local/standins/secretManagerServer";
import { onlyToken } from "../../local/standins/accessPolicy";
import { startStorageServer } from "../../local/standins/storageServer";
import { runtimeIdOf } from "../../contracts/servedDeployment";
import { freePort } from "./freePort";
import { waitFor } from "./waitFor";

export { freePort };

const run = promisify(execFile);
export const ROOT = join(__dirname, "..", "..");
export const PASSWORD = "password-from-secret-manager";
/** The token-signing key the secret stand-in holds. */
export const SIGNING_KEY = "k".repeat(48);

/** A predictor to bundle for a test VM: a file and its entrypoint. */
export type PredictorSource = { file: string; entrypoint?: string; requirements?: string[] };

/**
 * A VM under stand-ins: the bundles built as `pulumi up` builds them and put in a bucket
 * directory, and the metadata, storage, Secret Manager and Pub/Sub stand-ins the boot talks to.
 * `boot()` runs the real startup.sh (and `shutdown()` the real shutdown.sh) with the process
 * manager under a temporary root.
 */
export interface TestVm {
  work: string;
  vmRoot: string;
  home: string;
  bucketDir: string;
  port: number;
  url: string;
  metadata: MetadataServer;
  secrets: LoopbackServer & { accessed: string[] };
  pubsub: LoopbackServer & { published: PublishedMessage[] };
  objects: Record<string, string>;
  runtimeObject: string;
  /** The id the runtime reports (`bundle`) serving this predictor bundle (and runtime bundle), with the secrets as the metadata names them. */
  runtimeId(predictor: string, runtimeObject?: string): string;
  /** Bundles in the bucket that must be refused: bytes that are no tarball under the name their
   * hash gives (only extraction can refuse them), and real bundles under names whose hash they do
   * not have (as if swapped in the bucket). */
  bad: { notATarball: string; tamperedPredictor: string; tamperedRuntime: string };
  boot(extraEnv?: Record<string, string>): Promise<{ stdout: string; stderr: string }>;
  /** startup.sh with its stderr readable while it runs. */
  bootWatched(extraEnv?: Record<string, string>): { stderr(): string; done: Promise<number | null> };
  shutdown(): Promise<{ stdout: string; stderr: string }>;
  close(): Promise<void>;
}

export async function startTestVm(
  predictors: Record<string, PredictorSource>,
  env: Record<string, string> = {},
): Promise<TestVm> {
  const work = mkdtempSync(join(tmpdir(), "budgetml-vm-"));
  const vmRoot = join(work, "vm");
  const bucketDir = join(work, "buckets", "model-bucket");
  mkdirSync(bucketDir, { recursive: true });
  const runtime = await buildRuntimeBundle(join(work, "build"));
  copyFileSync(runtime.file, join(bucketDir, runtime.objectName));
  const objects: Record<string, string> = {};
  for (const [name, source] of Object.entries(predictors)) {
    const bundle = await buildPredictorBundle({
      predictor: source.file,
      entrypoint: source.entrypoint,
      requirements: source.requirements,
      outDir: join(work, "build", name),
    });
    copyFileSync(bundle.file, join(bucketDir, bundle.objectName));
    objects[name] = bundle.objectName;
  }
  const notATarball = Buffer.from("this is not a tarball");
  const bad = {
    notATarball: bundleObjectName("predictor", createHash("sha256").update(notATarball).digest("hex")),
    tamperedPredictor: "predictor-0123456789abcdef.tgz",
    tamperedRuntime: "runtime-0123456789abcdef.tgz",
  };
  writeFileSync(join(bucketDir, bad.notATarball), notATarball);
  copyFileSync(join(bucketDir, objects[Object.keys(objects)[0]]), join(bucketDir, bad.tamperedPredictor));
  copyFileSync(runtime.file, join(bucketDir, bad.tamperedRuntime));
  const pubsub = await startPubSubServer();
  const storage = await startStorageServer(join(work, "buckets"));
  // The VM's service-account token: the Secret Manager stand-in answers only its holder.
  const accessToken = randomBytes(18).toString("base64url");
  const secrets = await startSecretManagerServer(
    { "projects/p/secrets/pw": PASSWORD, "projects/p/secrets/key": SIGNING_KEY },
    onlyToken(accessToken),
  );
  const port = await freePort();
  const [first] = Object.entries(predictors);
  const metadata = await startMetadataServer({
    accessToken,
    attributes: {
      "budget-bucket": "model-bucket",
      "budget-runtime-object": runtime.objectName,
      "budget-predictor-object": objects[first[0]],
      "budget-entrypoint": first[1].entrypoint ?? "",
      "budget-username": "budget",
      "budget-password-secret": "projects/p/secrets/pw/versions/1",
      "budget-token-secret": "projects/p/secrets/key/versions/1",
      "budget-domain": "",
      "budget-topic": "projects/p/topics/restart",
      // As on a VM: a roll-out runs the instance's startup script again.
      "startup-script": readFileSync(join(ROOT, "images", "vm", "startup.sh"), "utf8"),
    },
  });
  const vmEnv = {
    PATH: process.env.PATH ?? "",
    BUDGET_ROOT: vmRoot,
    BUDGET_SERVICE_MANAGER: "process",
    BUDGET_RUNTIME_PORT: String(port),
    BUDGET_BOOT_RETRY_SECONDS: "3",
    GCE_METADATA_HOST: metadata.host,
    STORAGE_EMULATOR_HOST: storage.url,
    SECRET_MANAGER_ENDPOINT: secrets.url,
    PUBSUB_ENDPOINT: pubsub.url,
    ...env,
  };
  const script = (name: string, extraEnv: Record<string, string> = {}) =>
    run("bash", [join(ROOT, "images", "vm", `${name}.sh`)], { env: { ...vmEnv, ...extraEnv } });
  return {
    work,
    vmRoot,
    home: join(vmRoot, "opt", "budgetml"),
    bucketDir,
    port,
    url: `http://127.0.0.1:${port}`,
    metadata,
    secrets,
    pubsub,
    objects,
    runtimeObject: runtime.objectName,
    runtimeId: (predictor, runtimeObject = runtime.objectName) =>
      runtimeIdOf({
        runtimeObject,
        predictorObject: objects[predictor],
        passwordSecret: metadata.attributes["budget-password-secret"],
        tokenSecret: metadata.attributes["budget-token-secret"],
      }),
    bad,
    boot: (extraEnv) => script("startup", extraEnv),
    bootWatched(extraEnv = {}) {
      let stderr = "";
      const child = spawn("bash", [join(ROOT, "images", "vm", "startup.sh")], {
        env: { ...vmEnv, ...extraEnv },
        stdio: ["ignore", "ignore", "pipe"],
      });
      child.stderr.on("data", (chunk) => (stderr += chunk));
      return { stderr: () => stderr, done: new Promise((resolve) => child.on("close", resolve)) };
    },
    shutdown: () => script("shutdown"),
    async close() {
      await script("shutdown").catch(() => undefined);
      await Promise.all([metadata.close(), storage.close(), secrets.close(), pubsub.close()]);
      rmSync(work, { recursive: true, force: true });
    },
  };
}

/** GET / until it answers (any status) with this bundle and status; returns the answer. */
export async function waitForHealth(
  url: string,
  want: { bundle?: string; status?: string },
  timeoutMs = 30_000,
): Promise<Record<string, string>> {
  return waitFor(
    async () => {
      const answer = (await (await fetch(`${url}/`)).json()) as Record<string, string>;
      return (!want.bundle || answer.bundle === want.bundle) && (!want.status || answer.status === want.status)
        ? answer
        : undefined;
    },
    { timeoutMs, what: `health ${JSON.stringify(want)} at ${url}` },
  );
}
