import type { Provisioning } from "../contracts/scheduling";

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

/** Tracks the server's state; the health route reports it and predict routes refuse unless ready. */
export class Health {
  private current: HealthState = "starting";
  private failure: string | undefined;
  private handingOff = false;
  private gpus: HealthAnswer["gpus"];

  /**
   * @param bundle the bundle id to report; absent when the runtime runs outside a deployment.
   * @param provisioning the model the VM runs as; absent outside a deployment.
   */
  constructor(
    private readonly bundle?: string,
    private readonly provisioning?: Provisioning,
  ) {}

  get state(): HealthState {
    return this.current;
  }

  /** Why `load()` failed, while in `load_failed`. */
  get reason(): string | undefined {
    return this.failure;
  }

  /** The health answer's body (the load error goes to the log, not to anyone asking); 200 only when `ready`, else 503. */
  answer(predictor: string, version: string): HealthAnswer {
    return {
      status: this.current,
      predictor,
      version,
      ...(this.bundle ? { bundle: this.bundle } : {}),
      ...(this.provisioning ? { provisioning: this.provisioning } : {}),
      ...(this.gpus ? { gpus: this.gpus } : {}),
    };
  }

  /** Records the GPU check made before the predictor loads (see {@link HealthAnswer.gpus}). */
  gpusChecked(gpus: NonNullable<HealthAnswer["gpus"]>): void {
    this.gpus = gpus;
  }

  ready(): void {
    if (this.current === "starting") this.current = "ready";
  }

  loadFailed(reason: string): void {
    if (this.current === "starting") {
      this.current = "load_failed";
      this.failure = reason;
    }
  }

  /** Whether predictions are admitted: when ready, and while handing off (see {@link handOff}). */
  get admitsPredictions(): boolean {
    return this.current === "ready" || (this.current === "draining" && this.handingOff);
  }

  /**
   * The first phase of a drain behind a proxy that health-checks: the health answer says
   * `draining` (503) at once, so the proxy moves new traffic to the runtime that replaces this
   * one, while predictions that still arrive here are served, not refused. `draining()` ends it.
   */
  handOff(): void {
    if (this.current !== "ready") return this.draining();
    this.current = "draining";
    this.handingOff = true;
  }

  draining(): void {
    this.current = "draining";
    this.handingOff = false;
  }
}
