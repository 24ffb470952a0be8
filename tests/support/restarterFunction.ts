import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { startComputeServer, type ComputeServer, type InstanceBackend } from "../../local/standins/computeServer";
import { startMetadataServer, type MetadataServer } from "../../local/standins/metadataServer";

/** The restarter function, loaded by the Functions Framework's own test server on loopback. */
export interface ServedRestarter {
  /** Where to POST CloudEvents. */
  url: string;
  close(): Promise<void>;
}

/**
 * Sets `env` in this process (the function reads its configuration at cold start), loads the real
 * function module and serves it with the framework's test server on a free loopback port.
 */
export async function serveRestarterFunction(env: Record<string, string>): Promise<ServedRestarter> {
  Object.assign(process.env, env);
  require("../../functions/restarter/index");
  const { getTestServer } =
    require("@google-cloud/functions-framework/testing") as typeof import("@google-cloud/functions-framework/testing");
  const server: Server = getTestServer("restartInstance");
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** The restarter function as Google runs it, against the metadata and Compute stand-ins. */
export interface RestarterUnderTest {
  metadata: MetadataServer;
  /** The Compute stand-in for the instance (it records reads). */
  compute: ComputeServer;
  restarter: ServedRestarter;
  /** Closes the function and both stand-ins. */
  close(): Promise<void>;
}

/**
 * Starts the metadata stand-in (the function's credentials) and a Compute stand-in for one instance
 * backed by `backend`, then serves the real function pointed at them, with `env` on top.
 */
export async function serveRestarterAgainstStandIns(
  target: { project: string; zone: string; instance: string; backend: InstanceBackend },
  env: Record<string, string>,
): Promise<RestarterUnderTest> {
  const metadata = await startMetadataServer({ projectId: target.project });
  const compute = await startComputeServer({ ...target, recordReads: true });
  const restarter = await serveRestarterFunction({
    GCE_METADATA_HOST: metadata.host,
    BUDGET_PROJECT: target.project,
    BUDGET_ZONE: target.zone,
    BUDGET_INSTANCE: target.instance,
    BUDGET_COMPUTE_ENDPOINT: compute.url,
    ...env,
  });
  return {
    metadata,
    compute,
    restarter,
    close: async () => {
      await restarter.close();
      await compute.close();
      await metadata.close();
    },
  };
}

/** Delivers a Pub/Sub message as Eventarc does: a binary-mode CloudEvent. Resolves with the HTTP status. */
export async function deliverPubSubEvent(
  functionUrl: string,
  event: { id: string; topic: string; reason: string },
): Promise<number> {
  const response = await fetch(functionUrl, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "ce-specversion": "1.0",
      "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
      "ce-source": `//pubsub.googleapis.com/${event.topic}`,
      "ce-id": event.id,
    },
    body: JSON.stringify({
      message: { data: Buffer.from(event.reason).toString("base64"), attributes: { reason: event.reason } },
      subscription: "s",
    }),
  });
  return response.status;
}
