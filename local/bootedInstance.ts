import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { isRunning } from "../images/vm/services";
import { killProcessGroups } from "./processGroups";
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
  /** Process groups of the scripts this instance ran: everything the VM started lives in one. */
  private readonly groups = new Set<number>();
  /** Settles once every kill so far has taken effect: a second stop waits for the first one's too. */
  private killed: Promise<void> = Promise.resolve();

  constructor(private readonly options: BootedInstanceOptions) {}

  facts(): InstanceFacts {
    if (this.status === "RUNNING" && !this.runtimeAlive()) this.stopped(); // crashed: the VM is down
    return { status: this.status, ...(this.lastStop ? { lastStopTimestamp: this.lastStop } : {}) };
  }

  start(): void {
    this.status = "STAGING";
    this.run(this.options.startupScript, 0, (error, stderr) => {
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
    await new Promise((resolve) => this.run(this.options.shutdownScript, 30_000, resolve));
    await this.killAll();
    this.stopped();
  }

  /** Ctrl-C: stop the instance's processes and mark it stopped; resolves once they are gone. */
  async stop(): Promise<void> {
    this.stopped();
    await this.killAll();
  }

  /** Runs a VM script as the leader of a new process group, which the processes it starts join. */
  private run(script: string, timeoutMs: number, done: (error: Error | null, stderr: string) => void): void {
    const child = spawn("bash", [script], {
      env: this.options.env,
      detached: true,
      stdio: ["ignore", "ignore", "pipe"],
    });
    if (child.pid) this.groups.add(child.pid);
    let stderr = "";
    child.stderr.on("data", (chunk) => (stderr += chunk));
    const timer = timeoutMs > 0 ? setTimeout(() => child.kill("SIGKILL"), timeoutMs) : undefined;
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      done(code === 0 ? null : new Error(`${script} exited with ${code ?? signal}`), stderr);
    });
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
    return isRunning(this.pid("runtime"));
  }

  /** What Google does at the end of the window: everything on the VM stops, now. */
  private killAll(): Promise<void> {
    const groups = [...this.groups];
    this.groups.clear();
    this.killed = Promise.all([this.killed, killProcessGroups(groups)]).then(() => undefined);
    return this.killed;
  }
}
