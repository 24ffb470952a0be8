import { request } from "node:http";
import { googleError, listenOnLoopback, type LoopbackServer } from "./listen";

/**
 * One Compute endpoint in front of several single-instance Compute stand-ins, as Google's API is
 * one endpoint for every instance: a request goes to the stand-in of the instance its path names
 * (`/compute/v1/projects/P/zones/Z/instances/I…`), operations to the stand-in that created them
 * (operation names are unique, so each stand-in is asked in turn until one knows it).
 */
export async function startComputeFront(instances: Map<string, string>): Promise<LoopbackServer> {
  const forward = (
    target: string,
    method: string,
    path: string,
    headers: Record<string, string | string[] | undefined>,
    body: Buffer,
  ) =>
    new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }>(
      (resolve, reject) => {
        const upstream = request(`${target}${path}`, { method, headers }, (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }),
          );
        });
        upstream.once("error", reject);
        upstream.end(body);
      },
    );
  return listenOnLoopback((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", async () => {
      const path = req.url ?? "/";
      const instance = /^\/compute\/v1\/(projects\/[^/]+\/zones\/[^/]+\/instances\/[^/?]+)/.exec(path)?.[1];
      const targets = instance ? [instances.get(instance)].filter((t): t is string => !!t) : [...instances.values()];
      if (targets.length === 0) return googleError(res, 404, `The resource '${instance}' was not found`, "notFound");
      for (const [index, target] of targets.entries()) {
        const answer = await forward(target, req.method ?? "GET", path, req.headers, Buffer.concat(chunks)).catch(
          () => undefined,
        );
        if (!answer || (answer.status === 404 && index < targets.length - 1)) continue;
        res.writeHead(answer.status, answer.headers);
        return void res.end(answer.body);
      }
      googleError(res, 502, "Compute stand-in unreachable");
    });
  });
}
