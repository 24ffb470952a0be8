// The two clients' own modules, not the package's index: the index loads all of Compute's ~100
// clients, which doubles the function's start (CPU it pays at each cold start, right when a
// preempted VM waits for it).
import { InstancesClient } from "@google-cloud/compute/build/src/v1/instances_client";
import { ZoneOperationsClient } from "@google-cloud/compute/build/src/v1/zone_operations_client";
import type { SchedulingUpdate } from "../../contracts/scheduling";
import { gaxEndpointOptions } from "../../contracts/googleEndpoints";

/** A zone operation as the restarter reads it. */
export interface OperationView {
  name?: string;
  status?: string;
  insertTime?: string;
  error?: { errors?: Array<{ code?: string; message?: string }> };
}

/** The Compute calls the restarter makes, on Google's endpoint or on an override. */
export interface ComputeClients {
  instances: InstancesClient;
  operations: ZoneOperationsClient;
  /**
   * `instances.setScheduling` with exactly `update` as its body, explicit nulls included. The
   * client library cannot send one: it builds the body from a protobuf message, which drops a
   * null field, and a field left out stays on the instance — so a spot VM's termination action
   * could never be cleared. This sends what gcloud's `set-scheduling --clear-instance-termination-action`
   * sends (an explicit null), with the client's own credentials. Rejects as the client does: an
   * error whose message is Google's JSON error body and whose `code` is the HTTP status.
   */
  setScheduling(
    target: { project: string; zone: string; instance: string },
    update: SchedulingUpdate,
  ): Promise<OperationView>;
}

/** Google's Compute REST endpoint. */
const COMPUTE_ENDPOINT = "https://compute.googleapis.com";

/**
 * Real `@google-cloud/compute` clients (REST transport), authenticated by application default
 * credentials: the function's service account in the cloud, the metadata stand-in locally.
 */
export function createComputeClients(endpoint?: URL): ComputeClients {
  const options = gaxEndpointOptions(endpoint);
  const instances = new InstancesClient(options);
  const base = endpoint ? endpoint.origin : COMPUTE_ENDPOINT;
  return {
    instances,
    operations: new ZoneOperationsClient(options),
    async setScheduling({ project, zone, instance }, update) {
      const path = [project, zone, instance].map(encodeURIComponent);
      try {
        const response = await instances.auth.request<OperationView>({
          url: `${base}/compute/v1/projects/${path[0]}/zones/${path[1]}/instances/${path[2]}/setScheduling`,
          method: "POST",
          data: update,
        });
        return response.data;
      } catch (error) {
        const failed = error as { status?: number; response?: { status?: number; data?: unknown } };
        const body = failed.response?.data ?? { error: { message: (error as Error).message } };
        throw Object.assign(new Error(typeof body === "string" ? body : JSON.stringify(body)), {
          code: failed.response?.status ?? failed.status,
        });
      }
    },
  };
}
