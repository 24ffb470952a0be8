// The restarter Cloud Function (2nd gen): a Pub/Sub CloudEvent — a scheduler tick, or the VM's
// shutdown script signalling a preemption — makes it bring the instance back if it is down.
import * as functions from "@google-cloud/functions-framework";
import type { CloudEvent } from "@google-cloud/functions-framework";
import { createLogger } from "../../contracts/cloudLogging";
import { restartReasonOf } from "../../contracts/restartSignal";
import { createComputeClients } from "./computeClients";
import { readRestarterConfig } from "./config";
import { keepInstanceRunning } from "./keepRunning";

// Read at cold start: a misconfigured function fails to load, loudly, instead of failing every tick.
const config = readRestarterConfig(process.env);
const clients = createComputeClients(config.computeEndpoint);
const logger = createLogger();

interface PubSubEvent {
  message?: { data?: string; attributes?: Record<string, string> };
}

functions.cloudEvent<PubSubEvent>("restartInstance", async (event: CloudEvent<PubSubEvent>) => {
  const trigger = restartReasonOf(event.data?.message?.attributes);
  logger.info({ trigger, eventId: event.id }, `restarter: triggered by ${trigger}`);
  // A parked model (`running: false`) and a planned stop are left alone there (see mayStart).
  await keepInstanceRunning(clients, config, logger);
});
