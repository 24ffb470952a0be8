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
 * it with its REST fallback and `apiEndpoint`/`port`/`protocol: "http"`.
 */
export async function startPubSubServer(onPublish: (message: PublishedMessage) => void = () => {}): Promise<LoopbackServer & { published: PublishedMessage[] }> {
  const published: PublishedMessage[] = [];
  const server = await listenOnLoopback((req, res) => {
    const match = /^\/v1\/(projects\/[^/]+\/topics\/[^/:]+):publish$/.exec(new URL(req.url ?? "/", "http://x").pathname);
    if (req.method !== "POST" || !match) return googleError(res, 404, `No stand-in for ${req.method} ${req.url}`);
    if (!/^Bearer \S+/.test(req.headers.authorization ?? "")) return googleError(res, 401, "Request is missing required authentication credential.");
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      const { messages = [] } = JSON.parse(body || "{}") as { messages?: Array<{ data?: string; attributes?: Record<string, string> }> };
      const ids = messages.map((message) => {
        const record = { topic: match[1], data: Buffer.from(message.data ?? "", "base64").toString(), attributes: message.attributes ?? {} };
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
