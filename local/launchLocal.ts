import { randomBytes } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildPredictorBundle } from "../bundles/predictorBundle";
import { packageRoot } from "../bundles/packageRoot";
import { buildRuntimeBundle } from "../bundles/runtimeBundle";
import { createComputeClients } from "../functions/restarter/computeClients";
import { readRestarterConfig } from "../functions/restarter/config";
import { keepInstanceRunning } from "../functions/restarter/keepRunning";
import { createLogger } from "../runtime/logger";
import { BootedInstance } from "./bootedInstance";
import { startComputeServer } from "./standins/computeServer";
import { startMetadataServer } from "./standins/metadataServer";
import { startPubSubServer } from "./standins/pubsubServer";
import { startSecretManagerServer } from "./standins/secretManagerServer";
import { startStorageServer } from "./standins/storageServer";

/** Options of {@link launchLocal}. */
export interface LocalOptions {
  /** The predictor file. */
  predictor: string;
  /** Exported class name. @default "Predictor", else the default export */
  entrypoint?: string;
  /** npm packages installed beside the predictor, as on the VM. @default none */
  requirements?: string[];
  /** Port the runtime listens on (127.0.0.1). @default 8080 */
  port?: number;
  /** Kill the instance every this many seconds to show recovery. @default never */
  preemptEverySeconds?: number;
  /** How often the restarter's scheduler ticks. @default 1 */
  tickSeconds?: number;
  /** Where progress lines go (never secrets). @default stderr */
  report?: (line: string) => void;
}

/** A running local deployment. */
export interface LocalDeployment {
  url: string;
  docsUrl: string;
  username: string;
  /** Generated for this run; printed once by the CLI, never logged. */
  password: string;
  /**
   * The local cloud's endpoints, as the environment variables a real VM or a container needs to
   * boot against it (the VM's boot reads exactly these).
   */
  endpoints: { GCE_METADATA_HOST: string; STORAGE_EMULATOR_HOST: string; SECRET_MANAGER_ENDPOINT: string; PUBSUB_ENDPOINT: string };
  /** Preempts the instance now; resolves with the outage in ms once it is serving again. */
  preempt(): Promise<number>;
  /** Stops everything this deployment started and removes its files. */
  stop(): Promise<void>;
}

const PROJECT = "budgetml-local";
const ZONE = "local-zone1-a";
const INSTANCE = "budgetml-local";
const BUCKET = "budgetml-local-bucket";

/**
 * Runs the whole deployment on this machine with no cloud account: the bundles `pulumi up` would
 * upload go into a local bucket directory; the "VM" boots with the real startup script against
 * stand-ins of the metadata server, Cloud Storage and Secret Manager; the real restarter loop,
 * with the real Compute client, brings it back through a Compute stand-in on a scheduler tick and
 * on the shutdown script's message to the (stand-in) restart topic.
 */
export async function launchLocal(options: LocalOptions): Promise<LocalDeployment> {
  const report = options.report ?? ((line: string) => process.stderr.write(`${line}\n`));
  const port = options.port ?? 8080;
  const root = mkdtempSync(join(tmpdir(), "budgetml-local-"));
  report(`budgetml local: working in ${root} (removed on exit)`);
  const cleanups: Array<() => unknown> = [() => rmSync(root, { recursive: true, force: true })];
  const stopAll = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    cleanups.length = 0;
  };
  try {
    const bucketDir = join(root, "buckets", BUCKET);
    mkdirSync(bucketDir, { recursive: true });
    const [predictor, runtime] = await Promise.all([
      buildPredictorBundle({ predictor: options.predictor, entrypoint: options.entrypoint, requirements: options.requirements, outDir: join(root, "build") }),
      buildRuntimeBundle(join(root, "build")),
    ]);
    for (const bundle of [predictor, runtime]) copyFileSync(bundle.file, join(bucketDir, bundle.objectName));

    const username = "budget";
    const password = randomBytes(12).toString("base64url");
    // The "VM"'s service-account token, new each run: only a process that got it from the metadata
    // stand-in (the boot does, through Google's client) can read the secrets.
    const accessToken = randomBytes(24).toString("base64url");
    const secrets = await startSecretManagerServer({ [`projects/${PROJECT}/secrets/password`]: password, [`projects/${PROJECT}/secrets/signing-key`]: randomBytes(32).toString("hex") }, { accessToken });
    const storage = await startStorageServer(join(root, "buckets"));
    // The restart topic: the VM's shutdown script (and preemption watcher) publish here, and each
    // message runs the restarter, as the topic's trigger does in the cloud.
    let onSignal = () => {};
    const pubsub = await startPubSubServer(() => onSignal());
    const metadata = await startMetadataServer({
      accessToken,
      projectId: PROJECT,
      zone: ZONE,
      instanceName: INSTANCE,
      attributes: {
        "budget-bucket": BUCKET,
        "budget-runtime-object": runtime.objectName,
        "budget-predictor-object": predictor.objectName,
        "budget-entrypoint": options.entrypoint ?? "",
        "budget-username": username,
        "budget-password-secret": `projects/${PROJECT}/secrets/password`,
        "budget-token-secret": `projects/${PROJECT}/secrets/signing-key`,
        "budget-domain": "localhost",
        "budget-topic": `projects/${PROJECT}/topics/restart`,
      },
    });
    cleanups.push(() => secrets.close(), () => storage.close(), () => metadata.close(), () => pubsub.close());

    const images = join(packageRoot(), "images", "vm");
    const vmRoot = join(root, "vm");
    const instance = new BootedInstance({
      startupScript: join(images, "startup.sh"),
      shutdownScript: join(images, "shutdown.sh"),
      root: vmRoot,
      env: {
        PATH: process.env.PATH ?? "",
        BUDGET_ROOT: vmRoot,
        BUDGET_SERVICE_MANAGER: "process",
        BUDGET_RUNTIME_PORT: String(port),
        GCE_METADATA_HOST: metadata.host,
        STORAGE_EMULATOR_HOST: storage.url,
        SECRET_MANAGER_ENDPOINT: secrets.url,
        PUBSUB_ENDPOINT: pubsub.url,
      },
      onBootFailed: (stderr) => report(`budgetml local: instance boot failed:\n${stderr.trim()}`),
    });
    cleanups.push(() => instance.stop());
    const compute = await startComputeServer({ project: PROJECT, zone: ZONE, instance: INSTANCE, backend: instance });
    cleanups.push(() => compute.close());

    // The restarter exactly as in the cloud: same loop, same client, credentials from the metadata stand-in.
    process.env.GCE_METADATA_HOST = metadata.host;
    const config = readRestarterConfig({ BUDGET_PROJECT: PROJECT, BUDGET_ZONE: ZONE, BUDGET_INSTANCE: INSTANCE, BUDGET_COMPUTE_ENDPOINT: compute.url, BUDGET_RESTART_POLL_MS: "200", BUDGET_RESTART_BACKOFF_MS: "500", BUDGET_RESTART_BUDGET_SECONDS: "20" });
    const clients = createComputeClients(config.computeEndpoint);
    const logger = createLogger({ level: "silent" });
    let restarting: Promise<unknown> | undefined;
    const restart = () => (restarting ??= keepInstanceRunning(clients, config, logger).finally(() => (restarting = undefined)));
    onSignal = () => void restart();
    const ticker = setInterval(() => void restart(), (options.tickSeconds ?? 1) * 1000);
    cleanups.push(() => clearInterval(ticker));

    const url = `http://localhost:${port}`;
    const ready = async (deadline: number) => {
      while (Date.now() < deadline) {
        if (await fetch(`http://127.0.0.1:${port}/`).then((r) => r.status === 200, () => false)) return;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error(`the local instance did not become ready at ${url} within the time allowed`);
    };
    await restart(); // the instance starts TERMINATED: its first start goes through the restarter too
    await ready(Date.now() + 120_000);

    const preempt = async () => {
      const killedAt = Date.now();
      await instance.preempt(); // runs the shutdown script, whose signal reaches the restarter
      await ready(Date.now() + 120_000);
      return Date.now() - killedAt;
    };
    if (options.preemptEverySeconds) {
      let busy = false;
      const preempter = setInterval(() => {
        if (busy) return;
        busy = true;
        report("budgetml local: preempting the instance…");
        preempt().then((ms) => report(`budgetml local: back after ${(ms / 1000).toFixed(1)} s`), (error: Error) => report(`budgetml local: ${error.message}`)).finally(() => (busy = false));
      }, options.preemptEverySeconds * 1000);
      cleanups.push(() => clearInterval(preempter));
    }
    const endpoints = { GCE_METADATA_HOST: metadata.host, STORAGE_EMULATOR_HOST: storage.url, SECRET_MANAGER_ENDPOINT: secrets.url, PUBSUB_ENDPOINT: pubsub.url };
    return { url, docsUrl: `${url}/docs`, username, password, endpoints, preempt, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
