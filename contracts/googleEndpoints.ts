// The contract for pointing a Google client library at another endpoint (a loopback stand-in):
// one endpoint URL (`http://127.0.0.1:PORT`) becomes the options each client takes.

/** Options of the gax-based clients (Secret Manager, Compute) for their REST transport. */
export type GaxEndpointOptions = { apiEndpoint?: string; port?: number; protocol?: string };

/** `http(s)://host:port` → `{ apiEndpoint: host, port, protocol }`; no endpoint → `{}` (Google's). */
export function gaxEndpointOptions(endpoint: string | URL | undefined): GaxEndpointOptions {
  if (!endpoint) return {};
  const url = new URL(endpoint);
  return {
    apiEndpoint: url.hostname,
    port: Number(url.port || (url.protocol === "https:" ? 443 : 80)),
    protocol: url.protocol.slice(0, -1),
  };
}

/**
 * The same for `@google-cloud/pubsub`, which reads `host:port` from `apiEndpoint`; `emulatorMode:
 * false` keeps real authentication on (in emulator mode the client sends no token).
 */
export function pubsubEndpointOptions(endpoint: string | URL | undefined): {
  apiEndpoint?: string;
  protocol?: string;
  emulatorMode?: false;
} {
  if (!endpoint) return {};
  const url = new URL(endpoint);
  return { apiEndpoint: url.host, protocol: url.protocol.slice(0, -1), emulatorMode: false };
}

/**
 * `@google-cloud/storage` takes its endpoint from `STORAGE_EMULATOR_HOST` and, pointed there,
 * sends no credentials unless told to: keep them on, so a stand-in can check the caller's grants.
 * (On Google's own endpoint this changes nothing.)
 */
export const storageClientOptions = { useAuthWithCustomEndpoint: true } as const;

/**
 * The environment variables that point each side at other endpoints (never set in the cloud): the
 * metadata server (read by gcp-metadata and google-auth-library), Cloud Storage (read by the
 * Storage client and startup.sh), Secret Manager and Pub/Sub (read by the VM's boot), Compute (read
 * by the restarter).
 */
/**
 * The project Google's client libraries take from the environment before any other source
 * (google-auth-library's `GoogleAuth.findAndCacheProjectId`: this variable, then a key file, then
 * `gcloud config config-helper`, then the metadata server). Set by the local deployment on what it
 * starts, so a machine with the Cloud SDK installed never runs the developer's `gcloud` (about 0.7 s
 * of CPU a lookup) nor hands its configured project to code that stands for a VM or a function.
 */
export const PROJECT_VARIABLE = "GOOGLE_CLOUD_PROJECT";

export const ENDPOINT_VARIABLES = {
  metadata: "GCE_METADATA_HOST",
  storage: "STORAGE_EMULATOR_HOST",
  secretManager: "SECRET_MANAGER_ENDPOINT",
  pubsub: "PUBSUB_ENDPOINT",
  compute: "BUDGET_COMPUTE_ENDPOINT",
} as const;
