import {
  startMetadataServer,
  type MetadataServer,
  type MetadataServerOptions,
} from "../../local/standins/metadataServer";

/**
 * Starts a metadata stand-in before this file's tests and points every Google client at it
 * (`GCE_METADATA_HOST`: their credentials come from it, as on a VM or a Cloud Function), and
 * restores the variable after them. Returns the running stand-in.
 */
export function useMetadataStandIn(options: MetadataServerOptions = {}): () => MetadataServer {
  let metadata: MetadataServer | undefined;
  let previousHost: string | undefined;
  beforeAll(async () => {
    metadata = await startMetadataServer(options);
    previousHost = process.env.GCE_METADATA_HOST;
    process.env.GCE_METADATA_HOST = metadata.host;
  });
  afterAll(async () => {
    if (previousHost === undefined) delete process.env.GCE_METADATA_HOST;
    else process.env.GCE_METADATA_HOST = previousHost;
    await metadata?.close();
  });
  return () => {
    if (!metadata) throw new Error("the metadata stand-in starts in beforeAll");
    return metadata;
  };
}
