// The environment variables the VM's boot (`startup.sh`, `shutdown.sh`, `boot.cjs`) reads itself,
// beside the runtime's (`runtime/cli/environment.ts`). On a Google VM none is set: each points the
// boot elsewhere for tests and local mode. `docs/configuration.md` is generated from this registry,
// and `tests/docs/configuration.test.ts` scans `images/vm/` for reads it lacks.
import type { EnvironmentVariable } from "../../contracts/environmentVariable";
import { GPU_STANDIN_VARIABLE } from "../../contracts/accelerators";
import { ENDPOINT_VARIABLES } from "../../contracts/googleEndpoints";
import type { RuntimeVariableName } from "../../contracts/runtimeEnvironment";

const LOCAL = "local mode (`budgetml local`) and tests";

/** The boot's environment variables, in the order the docs list them. */
export const BOOT_ENVIRONMENT = {
  BUDGET_ROOT: {
    meaning: "the root the boot installs under and runs from",
    default: "`/`",
    setBy: `${LOCAL}: a temporary root`,
  },
  BUDGET_SERVICE_MANAGER: {
    meaning: "`process`: run the runtime's slots, the watcher and installs as plain processes instead of systemd units",
    default: "systemd",
    setBy: LOCAL,
  },
  BUDGET_FRONT: {
    meaning: "`caddy`: with the process service manager, a real Caddy (plain HTTP) fronts the slots, as on the VM",
    default: "none: the runtime listens on `BUDGET_RUNTIME_PORT` itself",
    setBy: LOCAL,
  },
  BUDGET_RUNTIME_PORT: {
    meaning: "with the process service manager, the port the front (or the runtime) listens on",
    default: "8080",
    setBy: LOCAL,
  },
  BUDGET_INSTALL_USER: {
    meaning: "the account requirement installs run as (not sandboxed when set)",
    default: "`budgetml-install` when root on a VM, else the current account",
    setBy: "tests: an existing unprivileged account",
  },
  BUDGET_BOOT_RETRY_SECONDS: {
    meaning: "how long a 403 or 404 (a grant or object not visible yet) is retried with backoff",
    default: "420 (IAM's documented propagation time)",
    setBy: `${LOCAL}: shorter`,
  },
  BUDGET_NODE_VERSION: {
    meaning: "the Node.js major version `startup.sh` installs",
    default: "26",
    setBy: "`npm run test:vm`",
  },
  BUDGET_NODE_DIST: {
    meaning: "where `startup.sh` downloads Node.js from (checked against its `SHASUMS256.txt`)",
    default: "`https://nodejs.org/dist`",
    setBy: "`npm run test:vm`: a loopback mirror",
  },
  BUDGET_APT_LOCK_WAIT_SECONDS: {
    meaning: "how long `startup.sh` waits for apt's locks on a first boot",
    default: "600",
    setBy: "tests",
  },
  BUDGET_GPU_INSTALLER_URL: {
    meaning: "where the GPU step downloads Google's driver installer (`cuda_installer.pyz`) from",
    default: "Google's bucket for the zone's multi-region (`compute-gpu-installation-{us,eu,asia}`)",
    setBy: "tests: a loopback stand-in",
  },
  [GPU_STANDIN_VARIABLE]: {
    meaning:
      "`cpu`: the machine stands in for a VM with GPUs but has none; the GPU step installs no driver and the model serves on the CPU",
    default: "none",
    setBy: LOCAL,
  },
  [ENDPOINT_VARIABLES.metadata]: {
    meaning: "the metadata server (`host:port`), for gcp-metadata, google-auth-library, `startup.sh` and the watcher",
    default: "`metadata.google.internal`",
    setBy: `${LOCAL}: the metadata stand-in (\`budgetml local --json\` prints it)`,
  },
  [ENDPOINT_VARIABLES.storage]: {
    meaning: "the Cloud Storage endpoint (`http://host:port`) the bundles are fetched from",
    default: "`https://storage.googleapis.com`",
    setBy: `${LOCAL}: the Cloud Storage stand-in`,
  },
  [ENDPOINT_VARIABLES.secretManager]: {
    meaning: "the Secret Manager endpoint (`http://host:port`) the password and signing key are read from",
    default: "Google's",
    setBy: `${LOCAL}: the Secret Manager stand-in`,
  },
  [ENDPOINT_VARIABLES.pubsub]: {
    meaning: "the Pub/Sub endpoint (`http://host:port`) a preemption is signalled to",
    default: "Google's",
    setBy: `${LOCAL}: the Pub/Sub stand-in`,
  },
} as const satisfies Record<string, EnvironmentVariable>;

/** The name of an environment variable the boot reads for itself. */
export type BootVariableName = keyof typeof BOOT_ENVIRONMENT;

/**
 * The environment as the boot reads it: its own variables and the runtime's (some of which, such
 * as `BUDGET_PYTHON`, it also follows). Only registered names type-check.
 */
export type BootEnv = { readonly [Name in BootVariableName | RuntimeVariableName]?: string };

/** The boot's own process environment, read through {@link BootEnv}. */
export function bootEnv(): BootEnv {
  return process.env;
}
