import { InstancesClient, ZoneOperationsClient } from "@google-cloud/compute";
import { gaxEndpointOptions } from "../../contracts/googleEndpoints";

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
  const options = gaxEndpointOptions(endpoint);
  return { instances: new InstancesClient(options), operations: new ZoneOperationsClient(options) };
}
