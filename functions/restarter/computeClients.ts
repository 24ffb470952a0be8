import { InstancesClient, ZoneOperationsClient } from "@google-cloud/compute";

/** The two Compute clients the restarter uses, on Google's endpoint or on an override. */
export interface ComputeClients {
  instances: InstancesClient;
  operations: ZoneOperationsClient;
}

/**
 * Real `@google-cloud/compute` clients (REST transport), authenticated by application default
 * credentials: the function's service account in the cloud, the metadata stand-in locally.
 */
export function createComputeClients(endpoint?: URL): ComputeClients {
  const options = endpoint
    ? { apiEndpoint: endpoint.hostname, port: Number(endpoint.port || (endpoint.protocol === "https:" ? 443 : 80)), protocol: endpoint.protocol.slice(0, -1) }
    : {};
  return { instances: new InstancesClient(options), operations: new ZoneOperationsClient(options) };
}
