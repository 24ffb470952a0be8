import {
  handoffMsFor,
  LOAD_BALANCER_HEALTH_CHECK,
  REPLICA_DRAIN_SECONDS,
  REPLICA_KEEPALIVE_SECONDS,
  SERVING_PORT,
  trustedProxiesBehind,
} from "../../contracts/loadBalancer";
import { runtimeEnvironment } from "../../contracts/runtimeEnvironment";
import { systemd, type ServiceManager } from "./services";

/**
 * The services of one replica behind Google's external Application Load Balancer (instance
 * metadata `budget-load-balancer`): no Caddy — the load balancer terminates TLS and health-checks
 * the runtime itself — and one runtime, on the serving port. A switch to new bundles stops the old
 * runtime first (new bundles reach a group through its rolling update, which replaces whole VMs;
 * an in-place switch only happens when someone edits one VM's metadata by hand). A stopping runtime
 * keeps serving while the load balancer's health check notices it draining (`handoffMs`), so the
 * load balancer moves traffic before the runtime refuses any.
 *
 * On a VM (systemd) the runtime listens on {@link SERVING_PORT}; in process mode (the local engine)
 * on `BUDGET_RUNTIME_PORT`, where the local load balancer expects it, and routing only records
 * which runtime serves.
 */
export function behindLoadBalancer(manager: ServiceManager): ServiceManager {
  const onVm = manager === systemd;
  return {
    ...manager,
    overlaps: false,
    handoffMs: handoffMsFor(LOAD_BALANCER_HEALTH_CHECK),
    noticeMs: 0,
    portFor: onVm ? async () => SERVING_PORT : manager.portFor,
    // The VM's front is Caddy, which the load balancer replaces: nothing to route.
    routeTo: onVm ? async () => undefined : manager.routeTo,
  };
}

/**
 * What the runtime's environment adds behind the load balancer: it listens on every interface
 * (the front ends connect to the VM's own address; the firewall admits only them), believes
 * `X-Forwarded-For` from the front ends and the load balancer's address, keeps idle connections
 * longer than the front ends do, and drains within the window left after the hand-off.
 */
export function loadBalancedRuntimeEnv(loadBalancerIp: string): Record<string, string> {
  return runtimeEnvironment({
    BUDGET_HOST: "0.0.0.0",
    BUDGET_TRUSTED_PROXY: trustedProxiesBehind(loadBalancerIp),
    BUDGET_KEEPALIVE_SECONDS: String(REPLICA_KEEPALIVE_SECONDS),
    BUDGET_DRAIN_SECONDS: String(REPLICA_DRAIN_SECONDS),
  });
}
