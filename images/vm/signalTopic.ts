import { PubSub } from "@google-cloud/pubsub";
import { ENDPOINT_VARIABLES, pubsubEndpointOptions } from "../../contracts/googleEndpoints";
import { restartSignal, type RestartReason } from "../../contracts/restartSignal";

/**
 * Publishes one message to the restart topic (`projects/P/topics/T`) with the VM's own credentials.
 * `PUBSUB_ENDPOINT` (http://host:port) points the client's REST transport at a stand-in.
 */
export async function signalTopic(
  topic: string,
  reason: RestartReason,
  endpoint = process.env[ENDPOINT_VARIABLES.pubsub],
): Promise<string> {
  const [, project, name] = /^projects\/([^/]+)\/topics\/([^/]+)$/.exec(topic) ?? [];
  if (!project) throw new Error(`"${topic}" is not a topic name (projects/P/topics/T)`);
  const pubsub = new PubSub({
    projectId: project,
    fallback: true,
    ...pubsubEndpointOptions(endpoint),
  } as ConstructorParameters<typeof PubSub>[0]);
  const signal = restartSignal(reason);
  try {
    return await pubsub
      .topic(name, { batching: { maxMessages: 1 } })
      .publishMessage({ data: Buffer.from(signal.data), attributes: signal.attributes });
  } finally {
    await pubsub.close();
  }
}
