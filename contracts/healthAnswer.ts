// What the runtime answers on `GET /`: the runtime writes it (runtime/health.ts); the VM's roll-out
// waits for `ready` on it (images/vm/rollout.ts); the component's health wait reads `status` and
// `bundle` (components/healthWait.ts); the load balancer's health check reads its status code (200 only when ready).
import type { Provisioning } from "./scheduling";

/** The runtime's life: `starting` → `ready` | `load_failed`; any → `draining` once told to stop. */
export type HealthState = "starting" | "ready" | "load_failed" | "draining";

/** What `GET /` answers. */
export interface HealthAnswer {
  status: HealthState;
  predictor: string;
  version: string;
  /**
   * Which bundles this process serves (`BUDGET_BUNDLE`, set by the VM's boot from the instance
   * metadata; see contracts/servedDeployment.ts). During a switch to new bundles the new runtime answers
   * with the new id, so the deployment's health wait can tell the old runtime from the new one.
   */
  bundle?: string;
  /**
   * The provisioning model the VM runs as (`BUDGET_PROVISIONING`, set by the VM's boot from the
   * metadata server's `instance/scheduling/`): the restarter may have switched a spot VM to standard
   * for lack of spot capacity, and back.
   */
  provisioning?: Provisioning;
  /**
   * On a VM with GPUs (`BUDGET_ACCELERATOR`): whether nvidia-smi showed the GPUs the deployment
   * declares before the predictor loaded, and their names. A failed check leaves the runtime in
   * `load_failed` (the reason is in the log): it never serves the model on the CPU instead.
   */
  gpus?: { check: "passed" | "failed"; names: string[] };
}
