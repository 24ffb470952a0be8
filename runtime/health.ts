import type { HealthAnswer, HealthState } from "../contracts/healthAnswer";
import type { Provisioning } from "../contracts/scheduling";

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
