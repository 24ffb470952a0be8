// The VM's boot logic (bundled into boot.cjs beside server.cjs in the runtime bundle):
//   node boot.cjs boot       install what changed, read the secrets, roll the runtime out to it
//   node boot.cjs shutdown   on a preemption, signal the restart topic; then let the runtime drain
//   node boot.cjs watch      wait for the advance preemption notice (then do what shutdown does),
//                            and for changes of what the metadata makes the VM serve (then roll
//                            them out)
// Run by startup.sh / shutdown.sh on the VM, and by the local deployment and the tests with
// BUDGET_ROOT (a temporary root) and BUDGET_SERVICE_MANAGER=process.
import { join, resolve } from "node:path";
import * as gcpMetadata from "gcp-metadata";
import { ENDPOINT_VARIABLES } from "../../contracts/googleEndpoints";
import { METADATA_KEYS, needsInternalCertificate, STARTUP_SCRIPT_KEY } from "../../contracts/instanceMetadata";
import { runtimeEnvironment } from "../../contracts/runtimeEnvironment";
import { frontIdOf, runtimeIdOf } from "../../contracts/servedDeployment";
import { readBootConfig, type BootConfig } from "./bootConfig";
import { bootEnv, type BootEnv } from "./bootEnvironment";
import { bootLog } from "./bootLog";
import { behindLoadBalancer, loadBalancedRuntimeEnv } from "./behindLoadBalancer";
import { awaitReboot, gpuRuntimeEnv, gpuStep } from "./gpuDriver";
import { installPredictor } from "./installPredictor";
import { installedPredictorEnv } from "./installPythonRequirements";
import { installRuntime } from "./installRuntime";
import { DOCKER_BRIDGE_GATEWAY } from "./renderImage";
import { retryWhileNotYetGranted } from "./retry";
import { recordRolledOut, rolledOut, rollOut, withBootLock } from "./rollout";
import { readSecrets } from "./secrets";
import { processes, rolloutScript, systemd, writeIfChanged, type ServiceManager } from "./services";
import { signalTopic } from "./signalTopic";
import { followDeployment } from "./watchDeployment";
import { waitForPreemptionCleared, waitForPreemptionNotice } from "./watchPreemption";

/**
 * The environment variables that point the boot elsewhere (tests, the local cloud; never set on a
 * VM): Google's clients at other endpoints, and startup.sh at another Node.js release or mirror —
 * a roll-out runs startup.sh again, which must find the same Node.js wanted.
 */
export const BOOT_OVERRIDE_VARIABLES = [
  ENDPOINT_VARIABLES.metadata,
  ENDPOINT_VARIABLES.storage,
  ENDPOINT_VARIABLES.secretManager,
  ENDPOINT_VARIABLES.pubsub,
  "BUDGET_NODE_VERSION",
  "BUDGET_NODE_DIST",
] as const;

const log = bootLog;

/**
 * Where the boot installs: `/` on a VM, `BUDGET_ROOT` under tests and the local deployment. Always
 * absolute — systemd ignores a relative `EnvironmentFile=`, and a relative predictor path resolves
 * against the unit's working directory — so every path built from these is absolute too.
 */
export function bootPaths(env: BootEnv = bootEnv()): { root: string; home: string } {
  const root = resolve(env.BUDGET_ROOT || "/");
  return { root, home: join(root, "opt", "budgetml") };
}

/** The endpoint overrides in the boot's environment (none on a VM), handed on to the watcher and its roll-outs. */
export function endpointOverrides(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return Object.fromEntries(
    BOOT_OVERRIDE_VARIABLES.filter((name) => env[name]).map((name) => [name, env[name] as string]),
  );
}

function serviceManager(): ServiceManager {
  return bootEnv().BUDGET_SERVICE_MANAGER === "process" ? processes() : systemd;
}

export async function boot(): Promise<void> {
  const { root } = bootPaths();
  // The startup script's boot and one the watcher starts for new bundles may overlap: one at a time.
  await withBootLock(root, bootLocked);
}

async function bootLocked(): Promise<void> {
  const started = Date.now();
  const { root, home } = bootPaths();
  const config = await readBootConfig();
  const manager = config.loadBalancer ? behindLoadBalancer(serviceManager()) : serviceManager();
  // GPUs first: the driver's installer may reboot the VM, and the predictor's packages get CUDA builds.
  const gpus = await gpuStep(config.accelerator, { root, home, log });
  if (gpus?.check === "rebooting") return awaitReboot();
  const predictorDir = config.image
    ? undefined
    : await installPredictor(home, config.bucket, config.predictorObject, log, gpus !== undefined);
  const [password, signingKey] = await retryWhileNotYetGranted(
    "reading the secrets",
    () => readSecrets([config.passwordSecret, config.tokenSecret]),
    log,
  );
  const outcome = await rollOut(
    manager,
    {
      root,
      home,
      bundle: runtimeIdOf(config),
      hostname: config.hostname,
      server: join(__dirname, "server.cjs"),
      image: config.image,
      acmeEmail: config.acmeEmail,
      healthIp: config.healthIp,
      tlsInternal: needsInternalCertificate(config.hostname),
      frontId: frontIdOf(config),
      env: runtimeEnv(config, { password, signingKey, predictorDir }),
    },
    log,
  );
  await recordRolledOut(home, config.deployment);
  await manager.ensureWatcher({ root, home }, join(__dirname, "boot.cjs"), endpointOverrides());
  log(
    `runtime ${outcome === "switched" ? "started" : "running"} for https://${config.hostname} in ${Date.now() - started} ms`,
  );
}

/**
 * The runtime's environment. A custom image keeps its own predictor path (its Dockerfile's ENV),
 * listens on all of the container's interfaces, and trusts `X-Forwarded-For` from Caddy as the
 * container sees it: the docker bridge's gateway, and nothing else.
 */
export function runtimeEnv(
  config: BootConfig,
  values: { password: string; signingKey: string; predictorDir?: string },
): Record<string, string> {
  const common = {
    ...runtimeEnvironment({
      BUDGET_USERNAME: config.username,
      BUDGET_PWD: values.password,
      BUDGET_TOKEN: values.signingKey,
      BUDGET_MAX_BATCH_SIZE: config.maxBatchSize || undefined,
      BUDGET_MAX_BATCH_WAIT_MS: config.maxBatchWaitMs || undefined,
      BUDGET_PROVISIONING: config.provisioning || undefined,
    }),
    ...gpuRuntimeEnv(config.accelerator),
  };
  if (config.image) {
    return {
      ...common,
      ...runtimeEnvironment({
        BUDGET_PREDICTOR_ENTRYPOINT: config.entrypoint || undefined,
        BUDGET_HOST: "0.0.0.0",
        BUDGET_TRUSTED_PROXY: DOCKER_BRIDGE_GATEWAY,
      }),
    };
  }
  return {
    ...common,
    ...installedPredictorEnv(values.predictorDir ?? ""),
    ...runtimeEnvironment({ BUDGET_PREDICTOR_ENTRYPOINT: config.entrypoint, BUDGET_HOST: "127.0.0.1" }),
    ...(config.loadBalancer ? loadBalancedRuntimeEnv(config.loadBalancer) : {}),
  };
}

/**
 * Shutdown: Google runs the shutdown script on every stop — a preemption, but also a stop for an
 * update or a parked model. Only a preemption signals the restart topic (`instance/preempted` is
 * TRUE then: https://cloud.google.com/compute/docs/instances/preemptible#detecting_if_an_instance_was_preempted),
 * so a planned stop never makes the restarter start the VM mid-update.
 */
export async function shutdown(preempted?: boolean): Promise<void> {
  const { root, home } = bootPaths();
  const config = await readBootConfig().catch(() => undefined);
  const wasPreempted =
    preempted ??
    (await gcpMetadata.instance("preempted").then(
      (value) => String(value) === "TRUE",
      () => false,
    ));
  // Signal first: the restarter can then start the VM the moment it is TERMINATED.
  if (!wasPreempted) log("planned stop (not a preemption): the restart topic is not signalled");
  else if (config?.topic)
    await signalTopic(config.topic, "preempted").then(
      () => log(`signalled ${config.topic}`),
      (error: Error) => log(`could not signal the restart topic: ${error.message}`),
    );
  await serviceManager().stopAll({ root, home });
  log("runtime stopped");
}

/**
 * The watcher: Google's advance preemption notice → drain and signal before the 30 s window; a
 * change of what the metadata makes the VM serve (new bundles, image, login, hostname, contact) →
 * fetch the runtime bundle it names, then boot as at power-on — the startup script from the
 * metadata, which ends in the new runtime's boot — which rolls the change out.
 */
export async function watch(): Promise<void> {
  const { root, home } = bootPaths();
  // One notice, one drain and one signal: the watcher stays (exiting would let systemd's
  // Restart=always start it again, read `preempted` TRUE once more and signal again every second)
  // and only watches anew once the flag is cleared, which on a VM happens only after power-off.
  const preemptions = (async () => {
    for (;;) {
      await waitForPreemptionNotice(log);
      log("preemption notice: draining the runtime and signalling the restart topic");
      await shutdown(true);
      await waitForPreemptionCleared(log);
    }
  })();
  const deployments = followDeployment(
    async (attributes) => {
      // The runtime bundle the metadata names, checked against its content name before anything runs from it.
      await installRuntime(home, attributes[METADATA_KEYS.bucket], attributes[METADATA_KEYS.runtimeObject], log);
      const script = attributes[STARTUP_SCRIPT_KEY];
      if (!script) throw new Error(`instance metadata has no ${STARTUP_SCRIPT_KEY} to roll out with`);
      await writeIfChanged(rolloutScript({ root, home }), script, 0o700);
      await serviceManager().runBoot({ root, home });
    },
    log,
    () => rolledOut(home),
  );
  await Promise.race([preemptions, deployments]);
  process.exit(0);
}

const commands: Record<string, () => Promise<void>> = { boot, shutdown: () => shutdown(), watch };

if (require.main === module) {
  const command = commands[process.argv[2] ?? ""];
  if (!command) {
    log(`usage: boot.cjs ${Object.keys(commands).join("|")}`);
    process.exit(2);
  }
  command().catch((error: Error) => {
    log(`FAILED: ${error.message}`);
    process.exit(1);
  });
}
