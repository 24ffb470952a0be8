import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { InstanceBackend, InstanceFacts, InstanceStatus } from "./standins/computeServer";

/** How to boot the local "VM": the startup script and the environment pointing it at the stand-ins. */
export interface BootedInstanceOptions {
  startupScript: string;
  shutdownScript: string;
  root: string;
  env: Record<string, string>;
  onBootFailed?: (stderr: string) => void;
}

/**
 * The local deployment's instance, behind the Compute stand-in: starting it runs the VM's own
 * startup script (under a temporary root, services as processes); preempting it runs the VM's
 * shutdown script and then kills whatever is left, as Google does at the end of the window.
 */
export class BootedInstance implements InstanceBackend {
  private status: InstanceStatus = "TERMINATED";
  private lastStop: string | undefined = new Date().toISOString();

  constructor(private readonly options: BootedInstanceOptions) {}

  facts(): InstanceFacts {
    if (this.status === "RUNNING" && !this.runtimeAlive()) this.stopped(); // crashed: the VM is down
    return { status: this.status, ...(this.lastStop ? { lastStopTimestamp: this.lastStop } : {}) };
  }

  start(): void {
    this.status = "STAGING";
    execFile("bash", [this.options.startupScript], { env: this.options.env }, (error, _stdout, stderr) => {
      if (this.status !== "STAGING") return;
      if (error) {
        this.options.onBootFailed?.(stderr);
        this.stopped();
      } else this.status = "RUNNING";
    });
  }

  resume(): void {
    this.start();
  }

  /** Preemption: the shutdown script gets its chance, then the runtime is killed outright. */
  async preempt(): Promise<void> {
    if (this.status !== "RUNNING") return;
    this.status = "STOPPING";
    await new Promise((resolve) => execFile("bash", [this.options.shutdownScript], { env: this.options.env, timeout: 30_000 }, resolve));
    this.killAll();
    this.stopped();
  }

  /** Ctrl-C: stop the instance's processes and mark it stopped. */
  stop(): void {
    this.killAll();
    this.stopped();
  }

  private stopped(): void {
    this.status = "TERMINATED";
    this.lastStop = new Date().toISOString();
  }

  private pid(name: "runtime" | "watcher"): number | undefined {
    const file = join(this.options.root, "opt", "budgetml", `${name}.pid`);
    return existsSync(file) ? Number(readFileSync(file, "utf8")) : undefined;
  }

  private runtimeAlive(): boolean {
    const pid = this.pid("runtime");
    if (!pid) return false;
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  /** What Google does at the end of the window: everything on the VM stops, now. */
  private killAll(): void {
    for (const name of ["runtime", "watcher"] as const) {
      const pid = this.pid(name);
      try {
        if (pid) process.kill(-pid, "SIGKILL"); // each leads its own process group: take the runtime's workers too
      } catch {
        // already gone
      }
    }
  }
}
