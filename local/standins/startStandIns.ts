import { ENDPOINT_VARIABLES, PROJECT_VARIABLE } from "../../contracts/googleEndpoints";
import { anyAuthenticatedCaller, type AccessPolicy } from "./accessPolicy";
import type { LoopbackServer } from "./listen";
import { startMetadataServer, type MetadataServer, type MetadataServerOptions } from "./metadataServer";
import { startPubSubServer, type PublishedMessage } from "./pubsubServer";
import { startSecretManagerServer, type SecretStore } from "./secretManagerServer";
import { startStorageServer } from "./storageServer";

/** The project-wide stand-ins, and a metadata server per machine identity. */
export interface StandIns {
  storage: LoopbackServer;
  secretManager: LoopbackServer & { accessed: string[] };
  pubsub: LoopbackServer & { published: PublishedMessage[] };
  /** A metadata server for a machine running as `serviceAccount`: its token is that account's. */
  metadataFor(
    serviceAccount: string | undefined,
    options?: Omit<MetadataServerOptions, "serviceAccountEmail" | "accessToken">,
  ): Promise<MetadataServer>;
  /** The environment pointing Google's clients (and startup.sh) at these stand-ins and at `metadata`, in its project. */
  environment(metadata: MetadataServer): Record<string, string>;
  close(): Promise<void>;
}

export interface StandInOptions {
  /** Folder of the bucket folders the Storage stand-in serves. */
  bucketsDir: string;
  /** Secret id → its versions, read live (later additions are served). @default none */
  secrets?: SecretStore;
  /** Called with each published message. @default nothing */
  onPublish?: (message: PublishedMessage) => void;
  /** Who may do what; with an `IamPolicy` each metadata server hands out its account's own token. @default any authenticated caller */
  access?: AccessPolicy & { tokenFor?(serviceAccount: string): string };
}

/** Starts Storage, Secret Manager and Pub/Sub stand-ins sharing one access policy: tests and the local deployment use this. */
export async function startStandIns(options: StandInOptions): Promise<StandIns> {
  const access = options.access ?? anyAuthenticatedCaller;
  const [storage, secretManager, pubsub] = await Promise.all([
    startStorageServer(options.bucketsDir, access),
    startSecretManagerServer(options.secrets ?? {}, access),
    startPubSubServer(options.onPublish, access),
  ]);
  const metadataServers: MetadataServer[] = [];
  return {
    storage,
    secretManager,
    pubsub,
    async metadataFor(serviceAccount, metadataOptions = {}) {
      // No service account on the machine: Google's metadata server has no token to give (404).
      const server = await startMetadataServer({
        ...metadataOptions,
        ...(serviceAccount
          ? { serviceAccountEmail: serviceAccount, accessToken: options.access?.tokenFor?.(serviceAccount) }
          : { accessToken: undefined, serviceAccountEmail: undefined, noServiceAccount: true }),
      });
      metadataServers.push(server);
      return server;
    },
    environment: (metadata) => ({
      [PROJECT_VARIABLE]: metadata.projectId,
      [ENDPOINT_VARIABLES.metadata]: metadata.host,
      [ENDPOINT_VARIABLES.storage]: storage.url,
      [ENDPOINT_VARIABLES.secretManager]: secretManager.url,
      [ENDPOINT_VARIABLES.pubsub]: pubsub.url,
    }),
    async close() {
      await Promise.all([storage, secretManager, pubsub, ...metadataServers].map((server) => server.close()));
    },
  };
}
