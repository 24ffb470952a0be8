import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { followDeployment, readAttributes } from "../../images/vm/watchDeployment";
import { startMetadataServer, type MetadataServer } from "../../local/standins/metadataServer";
import { waitFor } from "../support/waitFor";

const run = promisify(execFile);
const ROOT = join(__dirname, "..", "..");

// The watcher against the metadata stand-in, which holds a wait_for_change request as Google does.
describe("the watcher's view of the metadata", () => {
  let metadata: MetadataServer;
  let watching: AbortController;
  const saved = process.env.GCE_METADATA_HOST;
  beforeEach(async () => {
    watching = new AbortController();
    metadata = await startMetadataServer({
      attributes: { "budget-bucket": "b", "budget-username": "budget", "budget-topic": "projects/p/topics/t" },
    });
    process.env.GCE_METADATA_HOST = metadata.host;
  });
  afterEach(async () => {
    watching.abort();
    await metadata.close();
    if (saved === undefined) delete process.env.GCE_METADATA_HOST;
    else process.env.GCE_METADATA_HOST = saved;
  });

  it("rolls out a change of what the VM serves (a login, a contact), and not one of what it reads when used", async () => {
    const rolledOut: Array<Record<string, string>> = [];
    const lines: string[] = [];
    const following = followDeployment(
      async (attributes) => void rolledOut.push(attributes),
      (line) => lines.push(line),
      () => undefined,
      watching.signal,
    );
    await waitFor(() => metadata.watching > 0, { what: "the watcher to wait for a change" });
    metadata.setAttribute("budget-topic", "projects/p/topics/other");
    await waitFor(() => metadata.watching > 0, { what: "the watcher to wait again" });
    metadata.replaceAttributes({ ...metadata.attributes, "budget-username": "alice", "budget-acme-email": "o@x.io" });
    await waitFor(() => rolledOut.length > 0, { what: "the roll-out" });
    expect(rolledOut).toEqual([
      expect.objectContaining({ "budget-username": "alice", "budget-topic": "projects/p/topics/other" }),
    ]);
    expect(lines).toEqual(["instance metadata changed budget-username, budget-acme-email: rolling out"]);
    // Stopped, it ends its long poll at once (the metadata server sees no one waiting) and returns.
    watching.abort();
    await following;
    await waitFor(() => metadata.watching === 0, { what: "the metadata server to see the poll end" });
    expect(lines).toHaveLength(1);
  });

  it("waits out a quiet long poll however soon fetch would give up on headers (undici: 300 s, as long as the poll)", async () => {
    const { etag } = await readAttributes();
    const started = Date.now();
    const answer = await run(
      process.execPath,
      [
        join(ROOT, "scripts", "runTs.cjs"),
        join(ROOT, "tests", "fixtures", "longPollWithShortHeadersTimeout.ts"),
        etag,
        "3",
      ],
      { env: { PATH: process.env.PATH, GCE_METADATA_HOST: metadata.host } },
    ).then(
      (result) => JSON.parse(result.stdout) as { etag?: string; error?: string },
      (error: { stdout: string }) => JSON.parse(error.stdout) as { etag?: string; error?: string },
    );
    expect(answer).toEqual({ etag }); // the unchanged attributes, answered when timeout_sec ran out
    expect(Date.now() - started).toBeGreaterThanOrEqual(3000);
  }, 30_000);
});
