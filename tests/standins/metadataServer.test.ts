import * as gcpMetadata from "gcp-metadata";
import { GoogleAuth } from "google-auth-library";
import { waitFor } from "../support/waitFor";
import { startMetadataServer, type MetadataServer } from "../../local/standins/metadataServer";

// The real Google clients, pointed at the stand-in the way they are on a VM: GCE_METADATA_HOST.
describe("metadata stand-in, through gcp-metadata and google-auth-library", () => {
  let server: MetadataServer;
  const saved = process.env.GCE_METADATA_HOST;

  beforeEach(async () => {
    server = await startMetadataServer({ projectId: "proj-a", zone: "europe-west1-b", attributes: { "budget-bucket": "b1" } });
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
