import { startMetadataServer, type MetadataServer } from "../../local/standins/metadataServer";
import { waitForPreemptionNotice } from "../../images/vm/watchPreemption";

// The watcher holds one long-poll open on the metadata server until the notice comes. Off GCE,
// gcp-metadata would abort each request after 3 s; the watcher must not turn that into a
// "retrying" log line every few seconds while nothing is wrong.
describe("the preemption watcher", () => {
  let metadata: MetadataServer;
  const saved = process.env.GCE_METADATA_HOST;
  beforeAll(async () => {
    metadata = await startMetadataServer();
    process.env.GCE_METADATA_HOST = metadata.host;
  });
  afterAll(async () => {
    process.env.GCE_METADATA_HOST = saved;
    if (saved === undefined) delete process.env.GCE_METADATA_HOST;
    await metadata.close();
  });

  it("waits quietly through a long quiet spell and returns when the notice comes", async () => {
    const logged: string[] = [];
    const started = Date.now();
    const watching = waitForPreemptionNotice((line) => logged.push(line));
    // The notice comes after longer than gcp-metadata's off-GCE request timeout (3 s).
    const notice = setTimeout(() => metadata.setPreempted(true), 4_000);
    try {
      await watching;
    } finally {
      clearTimeout(notice);
    }
    expect(Date.now() - started).toBeGreaterThanOrEqual(4_000);
    expect(logged).toEqual([]);
  });
});
