import { anyAuthenticatedCaller, type AccessPolicy } from "./accessPolicy";
import { googleError, listenOnLoopback, type LoopbackServer } from "./listen";

/** A message as published. */
export interface PublishedMessage {
  topic: string;
  data: string;
  attributes: Record<string, string>;
}

/**
 * A loopback stand-in for Pub/Sub's REST `topics.publish`: records each message and hands it to
 * `onPublish` (the local deployment forwards it to the restarter). `@google-cloud/pubsub` reaches
 * it with its REST fallback and `apiEndpoint`/`port`/`protocol: "http"`. A caller needs
 * `pubsub.topics.publish` on the topic.
 */
export async function startPubSubServer(
  onPublish: (message: PublishedMessage) => void = () => {},
  access: AccessPolicy = anyAuthenticatedCaller,
): Promise<LoopbackServer & { published: PublishedMessage[] }> {
  const published: PublishedMessage[] = [];
  const server = await listenOnLoopback((req, res) => {
    const match = /^\/v1\/(projects\/[^/]+\/topics\/[^/:]+):publish$/.exec(
      new URL(req.url ?? "/", "http://x").pathname,
    );
    if (req.method !== "POST" || !match) return googleError(res, 404, `No stand-in for ${req.method} ${req.url}`);
    const decision = access.check(req, "pubsub.topics.publish", match[1]);
    if (!decision.allowed) return googleError(res, decision.status, decision.message);
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      const { messages = [] } = JSON.parse(body || "{}") as {
        messages?: Array<{ data?: string; attributes?: Record<string, string> }>;
      };
      const ids = messages.map((message) => {
        const record = {
          topic: match[1],
          data: Buffer.from(message.data ?? "", "base64").toString(),
          attributes: message.attributes ?? {},
        };
        published.push(record);
        onPublish(record);
        return String(published.length);
      });
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ messageIds: ids }));
    });
  });
  return { ...server, published };
}
