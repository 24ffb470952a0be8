/** The runtime's life: `starting` → `ready` | `load_failed`; any → `draining` once told to stop. */
export type HealthState = "starting" | "ready" | "load_failed" | "draining";

/** Tracks the server's state; the health route reports it and predict routes refuse unless ready. */
export class Health {
  private current: HealthState = "starting";
  private failure: string | undefined;

  get state(): HealthState {
    return this.current;
  }

  /** Why `load()` failed, while in `load_failed`. */
  get reason(): string | undefined {
    return this.failure;
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

  draining(): void {
    this.current = "draining";
  }
}
