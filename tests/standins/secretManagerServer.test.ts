import * as gcpMetadata from "gcp-metadata";
import { readSecrets } from "../../images/vm/secrets";
import { startMetadataServer, type MetadataServer } from "../../local/standins/metadataServer";
import { startSecretManagerServer } from "../../local/standins/secretManagerServer";
import { onlyToken } from "../../local/standins/accessPolicy";
import type { LoopbackServer } from "../../local/standins/listen";

// Secret Manager hands a secret only to a caller with a token Google issued; locally, only to the
// holder of the token this run's metadata stand-in issues, not to any process with any bearer string.
describe("Secret Manager stand-in", () => {
  let metadata: MetadataServer;
  let secrets: LoopbackServer;
  const saved = process.env.GCE_METADATA_HOST;
  beforeEach(async () => {
    metadata = await startMetadataServer({ accessToken: `run-${Math.random().toString(36).slice(2)}` });
    secrets = await startSecretManagerServer({ "projects/p/secrets/pw": "hunter2" }, onlyToken(metadata.accessToken));
    process.env.GCE_METADATA_HOST = metadata.host;
    gcpMetadata.resetIsAvailableCache();
  });
  afterEach(async () => {
    await Promise.all([metadata.close(), secrets.close()]);
    if (saved === undefined) delete process.env.GCE_METADATA_HOST;
    else process.env.GCE_METADATA_HOST = saved;
  });

  it("answers the VM's client, which authenticates through the metadata stand-in", async () => {
    expect(await readSecrets(["projects/p/secrets/pw"], secrets.url)).toEqual(["hunter2"]);
    expect(metadata.tokenRequests).toBeGreaterThan(0);
  });

  it.each([
    ["no token", undefined, /missing required authentication credential/],
    ["a made-up token", "Bearer local-metadata-token", /invalid authentication credentials/],
    ["the token with another scheme", "Basic TOKEN", /invalid authentication credentials/],
  ])("refuses %s with 401", async (_name, authorization, message) => {
    const response = await fetch(`${secrets.url}/v1/projects/p/secrets/pw/versions/latest:access`, {
      headers: authorization ? { authorization: authorization.replace("TOKEN", metadata.accessToken) } : {},
    });
    expect(response.status).toBe(401);
    const body = (await response.json()) as { error: { status: string; message: string } };
    expect(body.error.status).toBe("UNAUTHENTICATED");
    expect(body.error.message).toMatch(message);
    expect(JSON.stringify(body)).not.toContain("hunter2");
  });

  it("refuses a client whose token came from another run's metadata stand-in", async () => {
    const other = await startMetadataServer({ accessToken: "another-run" });
    process.env.GCE_METADATA_HOST = other.host;
    gcpMetadata.resetIsAvailableCache();
    try {
      await expect(readSecrets(["projects/p/secrets/pw"], secrets.url)).rejects.toThrow(
        /cannot read secret projects\/p\/secrets\/pw: .*invalid authentication credentials/,
      );
    } finally {
      await other.close();
    }
  });
});
