import * as gcpMetadata from "gcp-metadata";
import { GoogleAuth } from "google-auth-library";
import { waitFor } from "../support/waitFor";
import { startMetadataServer, type MetadataServer } from "../../local/standins/metadataServer";

// The real Google clients, pointed at the stand-in the way they are on a VM: GCE_METADATA_HOST.
describe("metadata stand-in, through gcp-metadata and google-auth-library", () => {
  let server: MetadataServer;
  const saved = process.env.GCE_METADATA_HOST;

  beforeEach(async () => {
    server = await startMetadataServer({
      projectId: "proj-a",
      zone: "europe-west1-b",
      attributes: { "budget-bucket": "b1" },
    });
    process.env.GCE_METADATA_HOST = server.host;
    gcpMetadata.resetIsAvailableCache();
  });
  afterEach(async () => {
    await server.close();
    if (saved === undefined) delete process.env.GCE_METADATA_HOST;
    else process.env.GCE_METADATA_HOST = saved;
  });

  it("serves project, zone and attributes", async () => {
    expect(await gcpMetadata.isAvailable()).toBe(true);
    expect(await gcpMetadata.project("project-id")).toBe("proj-a");
    expect(await gcpMetadata.instance("zone")).toBe("projects/1234567890/zones/europe-west1-b");
    expect(await gcpMetadata.instance("attributes/budget-bucket")).toBe("b1");
    await expect(gcpMetadata.instance("attributes/missing")).rejects.toMatchObject({ status: 404 });
  });

  it("hands google-auth-library a service-account token, as on a VM", async () => {
    const auth = new GoogleAuth({ scopes: ["https://www.googleapis.com/auth/cloud-platform"] });
    const client = await auth.getClient();
    const token = await client.getAccessToken();
    expect(token.token).toBe("local-metadata-token");
    expect(await auth.getProjectId()).toBe("proj-a");
    expect(server.tokenRequests).toBeGreaterThan(0);
  });

  it("wakes a wait_for_change watcher when the instance is preempted", async () => {
    expect(await gcpMetadata.instance("preempted")).toBe("FALSE");
    const watching = gcpMetadata.instance({ property: "preempted", params: { wait_for_change: "true" } });
    await waitFor(() => server.watching > 0, { what: "the watcher to wait on the stand-in" });
    server.setPreempted(true);
    expect(await watching).toBe("TRUE");
  });

  it("refuses requests without the Metadata-Flavor header", async () => {
    const response = await fetch(`${server.url}/computeMetadata/v1/project/project-id`);
    expect(response.status).toBe(403);
  });
});

// Google's wait_for_change: the ETag is the content's, a watcher of one path is woken only by a
// change at that path, and a stale last_etag answers at once (so no change between waits is lost).
describe("metadata stand-in wait_for_change, as Google's", () => {
  let server: MetadataServer;
  beforeEach(async () => {
    server = await startMetadataServer({ attributes: { "budget-predictor-object": "predictor-1.tgz" } });
  });
  afterEach(() => server.close());

  const attributes = (params = "") =>
    fetch(`${server.url}/computeMetadata/v1/instance/attributes/?recursive=true${params}`, {
      headers: { "Metadata-Flavor": "Google" },
    });

  it("answers a stale last_etag at once, and wakes an attribute watcher on an attribute change only", async () => {
    const first = await attributes();
    const etag = first.headers.get("etag") as string;
    expect(etag).toMatch(/^[0-9a-f]{16}$/);
    expect((await attributes()).headers.get("etag")).toBe(etag); // same content, same ETag

    let woken = false;
    const waiting = attributes(`&wait_for_change=true&last_etag=${etag}&timeout_sec=30`).then(async (response) => {
      woken = true;
      return { etag: response.headers.get("etag"), body: await response.json() };
    });
    await waitFor(() => server.watching === 1, { what: "the watcher to reach the server" });
    server.setPreempted(true); // another path: must not wake this watcher
    const stillWaiting = await Promise.race([
      waiting.then(() => false),
      fetch(`${server.url}/computeMetadata/v1/instance/preempted`, { headers: { "Metadata-Flavor": "Google" } }).then(
        () => !woken,
      ),
    ]);
    expect(stillWaiting).toBe(true);
    expect(server.watching).toBe(1);
    server.setAttribute("budget-predictor-object", "predictor-2.tgz");
    const changed = await waiting;
    expect(changed.body).toEqual({ "budget-predictor-object": "predictor-2.tgz" });
    expect(changed.etag).not.toBe(etag);

    // A caller still holding the old ETag learns of the change at once, without waiting.
    const stale = await attributes(`&wait_for_change=true&last_etag=${etag}&timeout_sec=30`);
    expect(await stale.json()).toEqual({ "budget-predictor-object": "predictor-2.tgz" });
  });
});
