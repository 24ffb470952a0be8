// The VM's boot logic (bundled into boot.cjs beside server.cjs in the runtime bundle):
//   node boot.cjs boot       install what changed, read the secrets, start the services
//   node boot.cjs shutdown   signal the restart topic, then let the runtime drain
//   node boot.cjs watch      wait for the advance preemption notice, then do what shutdown does
// Run by startup.sh / shutdown.sh on the VM, and by the local deployment and the tests with
// BUDGET_ROOT (a temporary root) and BUDGET_SERVICE_MANAGER=process.
import { join, resolve } from "node:path";
import { readBootConfig } from "./bootConfig";
import { installPredictor } from "./installPredictor";
import { installedPredictorEnv } from "./installPythonRequirements";
import { RUNTIME_PORT } from "./renderConfig";
import { readSecrets } from "./secrets";
import { processes, systemd, type ServiceManager } from "./services";
import { signalTopic } from "./signalTopic";
import { waitForPreemptionNotice } from "./watchPreemption";

/** The environment variables that point Google's clients at other endpoints (the local cloud's stand-ins). */
export const ENDPOINT_VARIABLES = ["GCE_METADATA_HOST", "STORAGE_EMULATOR_HOST", "SECRET_MANAGER_ENDPOINT", "PUBSUB_ENDPOINT"] as const;

const log = (message: string) => process.stderr.write(`budgetml-boot: ${message}\n`);

/**
 * Where the boot installs: `/` on a VM, `BUDGET_ROOT` under tests and the local deployment. Always
 * absolute — systemd ignores a relative `EnvironmentFile=`, and a relative predictor path resolves
 * against the unit's working directory — so every path built from these is absolute too.
 */
export function bootPaths(env: NodeJS.ProcessEnv = process.env): { root: string; home: string } {
  const root = resolve(env.BUDGET_ROOT || "/");
  return { root, home: join(root, "opt", "budgetml") };
}

/** The Google endpoint overrides in the boot's environment (none on a VM), handed on to the watcher. */
export function endpointOverrides(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return Object.fromEntries(ENDPOINT_VARIABLES.filter((name) => env[name]).map((name) => [name, env[name] as string]));
}

function serviceManager(): ServiceManager {
  return process.env.BUDGET_SERVICE_MANAGER === "process" ? processes : systemd;
}

export async function boot(): Promise<void> {
  const started = Date.now();
  const { root, home } = bootPaths();
  const config = await readBootConfig();
  const predictorDir = await installPredictor(home, config.bucket, config.predictorObject, log);
  const [password, signingKey] = await readSecrets([config.passwordSecret, config.tokenSecret]);
  await serviceManager().start({
    root,
    home,
    server: join(__dirname, "server.cjs"),
    boot: join(__dirname, "boot.cjs"),
    hostname: config.hostname,
    image: config.image,
    acmeEmail: config.acmeEmail,
    healthIp: config.healthIp,
    endpoints: endpointOverrides(),
    env: {
      BUDGET_USERNAME: config.username,
      BUDGET_PWD: password,
      BUDGET_TOKEN: signingKey,
      ...installedPredictorEnv(predictorDir),
      BUDGET_PREDICTOR_ENTRYPOINT: config.entrypoint,
      PORT: process.env.BUDGET_RUNTIME_PORT ?? String(RUNTIME_PORT),
      BUDGET_HOST: "127.0.0.1",
    },
  });
  log(`runtime started for https://${config.hostname} in ${Date.now() - started} ms`);
}

export async function shutdown(): Promise<void> {
  const { home } = bootPaths();
  const config = await readBootConfig().catch(() => undefined);
  // Signal first: the restarter can then start the VM the moment it is TERMINATED.
  if (config?.topic) await signalTopic(config.topic, "preempted").then(() => log(`signalled ${config.topic}`), (error: Error) => log(`could not signal the restart topic: ${error.message}`));
  await serviceManager().stop({ home });
  log("runtime stopped");
}

/** Issue 7: on Google's advance notice, drain and signal the restart topic before the 30 s window. */
export async function watch(): Promise<void> {
  await waitForPreemptionNotice(log);
  log("preemption notice: draining the runtime and signalling the restart topic");
  await shutdown();
}

const commands: Record<string, () => Promise<void>> = { boot, shutdown, watch };

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
