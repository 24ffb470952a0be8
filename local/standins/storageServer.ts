import { createReadStream, existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { anyAuthenticatedCaller, type AccessPolicy } from "./accessPolicy";
import { googleError, listenOnLoopback, type LoopbackServer } from "./listen";

/**
 * A loopback stand-in for the Cloud Storage JSON API's object reads, serving `root/<bucket>/<object>`
 * — the local deployment's bucket directories — to callers holding `storage.objects.get` on the
 * object. Point `@google-cloud/storage` at it with `STORAGE_EMULATOR_HOST` (and
 * `storageClientOptions`, so it sends its token), and the VM's startup script with the same variable.
 */
export async function startStorageServer(
  root: string,
  access: AccessPolicy = anyAuthenticatedCaller,
): Promise<LoopbackServer> {
  return listenOnLoopback((req, res) => {
    const url = new URL(req.url ?? "/", "http://storage");
    const match = /^\/(?:download\/)?(?:storage\/v1\/)?b\/([^/]+)\/o\/(.+)$/.exec(url.pathname);
    if (req.method !== "GET" || !match) return googleError(res, 404, `No stand-in for ${req.method} ${url.pathname}`);
    const [bucket, object] = [decodeURIComponent(match[1]), decodeURIComponent(match[2])];
    const decision = access.check(req, "storage.objects.get", `projects/_/buckets/${bucket}/objects/${object}`);
    if (!decision.allowed) return googleError(res, decision.status, decision.message);
    const file = join(root, bucket, object);
    if (object.includes("..") || !existsSync(file) || !statSync(file).isFile())
      return googleError(res, 404, `No such object: ${bucket}/${object}`);
    const { size, mtime } = statSync(file);
    if (url.searchParams.get("alt") === "media") {
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": size });
      return void createReadStream(file).pipe(res);
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(
      JSON.stringify({
        kind: "storage#object",
        name: object,
        bucket,
        size: String(size),
        updated: mtime.toISOString(),
        generation: String(mtime.getTime()),
      }),
    );
  });
}
