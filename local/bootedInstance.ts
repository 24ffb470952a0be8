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
    this.killRuntime("SIGKILL");
    this.stopped();
  }

  /** Ctrl-C: stop the runtime and mark the instance stopped. */
  stop(): void {
    this.killRuntime("SIGKILL");
    this.stopped();
  }

  private stopped(): void {
    this.status = "TERMINATED";
    this.lastStop = new Date().toISOString();
  }

  private runtimePid(): number | undefined {
    const file = join(this.options.root, "opt", "budgetml", "runtime.pid");
    return existsSync(file) ? Number(readFileSync(file, "utf8")) : undefined;
  }

  private runtimeAlive(): boolean {
    const pid = this.runtimePid();
    if (!pid) return false;
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  private killRuntime(signal: NodeJS.Signals): void {
    const pid = this.runtimePid();
    try {
      if (pid) process.kill(-pid, signal); // the runtime leads its own process group: take its workers too
    } catch {
      // already gone
    }
  }
}
