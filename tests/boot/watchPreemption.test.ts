import { startMetadataServer, type MetadataServer } from "../../local/standins/metadataServer";
import { waitFor } from "../support/waitFor";
import { waitForPreemptionCleared, waitForPreemptionNotice } from "../../images/vm/watchPreemption";

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

  it("after a notice, waits until the flag is cleared before watching anew", async () => {
    metadata.setPreempted(true);
    await waitForPreemptionNotice(() => undefined); // already TRUE: returns at once
    let cleared = false;
    const clearing = waitForPreemptionCleared(() => undefined).then(() => (cleared = true));
    // It read TRUE and is now long-polling for a change: not cleared.
    await waitFor(() => metadata.watching > 0, { what: "the watcher to long-poll" });
    expect(cleared).toBe(false);
    metadata.setPreempted(false);
    await clearing;
    expect(cleared).toBe(true);
  });
});
