import { join } from "node:path";
import { METADATA_KEYS } from "../contracts/instanceMetadata";
import type { DeclaredBackendService, DeclaredLoadBalancing } from "./declaredLoadBalancing";
import { startLocalLoadBalancer } from "./loadBalancer";
import { waitForEndpoint } from "./localVm";
import { LocalManagedGroup } from "./managedGroup";
import { secretValue } from "./secretValue";
import type { StandIns } from "./standins/startStandIns";

/** A replicated model served here: its groups of local VMs behind a local load balancer. */
export interface ServedReplicatedModel {
  /** The backend service's Pulumi name (a BudgetModel's is `<model>-backend`). */
  resourceName: string;
  port: number;
  username: string;
  password: string;
  /** The environment its first replica boots with. */
  endpoints: Record<string, string>;
  /** How many replicas run. */
  replicas: number;
  /** Rejects when a replica's first boot fails. */
  bootFailed: Promise<never>;
  /** Resolves once every replica is ready and the load balancer answers `GET /` with 200. */
  ready(timeoutMs: number, signal?: AbortSignal): Promise<void>;
  /** Preempts one spot replica; resolves with the ms until the load balancer routes to it again. */
  preempt(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Materialises the backend service a program declared, from its own declarations: every group it
 * balances (at its target size, or its autoscaler's minimum) booted as local VMs from the group's
 * template, and a load balancer on `port` that health-checks them as the backend service declares
 * and retries as its URL map declares.
 */
export async function serveReplicatedModel(options: {
  declared: DeclaredLoadBalancing;
  backend: DeclaredBackendService;
  /** The secrets' versions, oldest first (see LocalCloud.secrets). */
  secrets: Record<string, Array<string | undefined>>;
  standIns: StandIns;
  port: number;
  root: string;
  freePort(): Promise<number>;
  report(line: string): void;
}): Promise<ServedReplicatedModel> {
  const { declared, backend } = options;
  const healthCheck = declared.healthChecks.find((check) => check.path === backend.healthCheck);
  if (!healthCheck?.http) throw new Error(`backend service ${backend.name}: no HTTP health check to balance on`);
  const members = backend.backends.map((entry) => {
    const group = declared.groups.find((g) => g.instanceGroup === entry.group);
    const template = group && declared.templates.find((t) => t.path === group.template);
    if (!group || !template) throw new Error(`backend service ${backend.name}: ${entry.group} was not declared`);
    const autoscaler = declared.autoscalers.find((a) => a.target === group.path);
    const managed = new LocalManagedGroup({
      group,
      template,
      size: autoscaler?.policy.minReplicas ?? group.targetSize ?? 0,
      standIns: options.standIns,
      root: join(options.root, "vm"),
      freePort: options.freePort,
      report: options.report,
    });
    return { template, managed };
  });
  const groups = members.map((member) => member.managed);
  const stopGroups = () => Promise.all(groups.map((group) => group.stop()));
  try {
    for (const group of groups) await group.start();
    const urlMap = declared.urlMaps.find((map) => map.defaultService === backend.path);
    const loadBalancer = await startLocalLoadBalancer({
      port: options.port,
      upstreamPorts: groups.flatMap((group) => group.ports),
      healthCheck: { ...healthCheck, requestPath: healthCheck.http.requestPath },
      retryPolicy: urlMap?.defaultRouteAction?.retryPolicy,
      timeoutSec: backend.timeoutSec,
      home: join(options.root, "load-balancer", backend.name),
    });
    // Every template of a model carries the same boot metadata: the login is in any of them.
    const attributes = members[0]?.template.metadata ?? {};
    const spotGroups = members
      .filter((member) => member.template.scheduling.provisioningModel === "SPOT")
      .map((member) => member.managed);
    let next = 0;
    return {
      resourceName: backend.resourceName,
      port: options.port,
      username: attributes[METADATA_KEYS.username] ?? "",
      password: secretValue(options.secrets, attributes[METADATA_KEYS.passwordSecret] ?? "") ?? "",
      endpoints: groups[0].endpoints,
      replicas: groups.reduce((sum, group) => sum + group.ports.length, 0),
      bootFailed: Promise.race(groups.map((group) => group.bootFailed)),
      async ready(timeoutMs, signal) {
        await Promise.all(groups.map((group) => group.whole(timeoutMs, signal)));
        await waitForEndpoint(`${loadBalancer.url}/`, timeoutMs, signal);
      },
      async preempt() {
        if (spotGroups.length === 0)
          throw new Error(`${backend.name} has no spot replica: standard VMs are not preempted`);
        const preemptedAt = Date.now();
        const port = await spotGroups[next++ % spotGroups.length].preemptOne();
        // Whole again when the load balancer sends the replica traffic, not merely when it answers.
        await loadBalancer.routesTo(port, preemptedAt);
        return Date.now() - preemptedAt;
      },
      async stop() {
        await loadBalancer.stop();
        await stopGroups();
      },
    };
  } catch (error) {
    await stopGroups();
    throw error;
  }
}
