import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { BootedInstance } from "./bootedInstance";
import type { DeclaredGroup, DeclaredTemplate } from "./declaredLoadBalancing";
import { bootFailureSummary, localVm, waitForEndpoint } from "./localVm";
import type { MetadataServer } from "./standins/metadataServer";
import type { StandIns } from "./standins/startStandIns";

/** One replica: its slot in the group (name, zone, port, machine identity) and the VM booted in it now. */
interface Replica {
  name: string;
  zone: string;
  port: number;
  metadata: MetadataServer;
  instance: BootedInstance;
  /** How many times the group has created this replica's VM. */
  generation: number;
  /** When the group may create its VM again once it stops (a failed boot waits a little). */
  recreateAfter: number;
  /** Set while the group preempts it: the watch leaves it alone then. */
  busy: boolean;
}

/** What a local managed instance group is made from. */
export interface LocalManagedGroupOptions {
  group: DeclaredGroup;
  template: DeclaredTemplate;
  /** How many replicas run: the group's target size, or its autoscaler's minimum. */
  size: number;
  standIns: StandIns;
  /** Folder under which each replica's VM gets a root of its own. */
  root: string;
  /** A free port for each replica. */
  freePort(): Promise<number>;
  report(line: string): void;
}

/** How often the group looks at its replicas (Google's groups act within seconds to a minute). */
const WATCH_MS = 250;
/** A replica whose boot failed is created again after this, not at once (Google retries too, with backoff). */
const RETRY_FAILED_BOOT_MS = 5000;

/**
 * A regional managed instance group, on this machine: `size` replicas, each a local VM booted from
 * the template's metadata (its startup script and all) as the template's service account, spread
 * over the group's zones. As Google's group does, it recreates a replica whose VM stopped without
 * the group asking — a preempted one — on a fresh disk (a new root: the template's boot runs again
 * from the start), keeping its name. It does not autoscale (it runs the minimum), and does not
 * autoheal: the autohealing check's first-boot delay (300 s) outlasts what a local session needs.
 */
export class LocalManagedGroup {
  private readonly replicas: Replica[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** Aborted by {@link stop}: a preemption under way stops waiting for its replica then. */
  private readonly stopping = new AbortController();
  private get stopped(): boolean {
    return this.stopping.signal.aborted;
  }
  private next = 0;
  private firstBootFailed: (error: Error) => void = () => {};
  /** Rejects when a replica's first boot fails (a bad bundle, a missing grant), as `pulumi up`'s health wait would. */
  readonly bootFailed = new Promise<never>((_, reject) => (this.firstBootFailed = reject));

  constructor(private readonly options: LocalManagedGroupOptions) {
    this.bootFailed.catch(() => {});
  }

  /** The replicas' ports, for the load balancer in front. */
  get ports(): number[] {
    return this.replicas.map((replica) => replica.port);
  }

  /** The environment the first replica boots with (`budgetml local --json` prints it). */
  get endpoints(): Record<string, string> {
    return this.options.standIns.environment(this.replicas[0].metadata);
  }

  /** Creates the replicas and starts watching them. */
  async start(): Promise<void> {
    const { group, template, size } = this.options;
    for (let index = 0; index < size; index += 1) {
      const zone = group.zones.length > 0 ? group.zones[index % group.zones.length] : `${group.region}-a`;
      const name = `${group.baseInstanceName}-${randomBytes(2).toString("hex")}`;
      const metadata = await this.options.standIns.metadataFor(template.serviceAccount, {
        projectId: group.project,
        zone,
        instanceName: name,
        attributes: template.metadata,
        externalIp: "127.0.0.1",
        // The VM reads its provisioning (spot or standard) from here at boot, as on Google.
        scheduling: template.scheduling,
      });
      const port = await this.options.freePort();
      const replica: Replica = {
        name,
        zone,
        port,
        metadata,
        generation: 0,
        recreateAfter: 0,
        busy: false,
        instance: undefined as unknown as BootedInstance,
      };
      this.replicas.push(replica);
      this.create(replica);
    }
    this.timer = setInterval(() => this.watch(), WATCH_MS);
  }

  /** Resolves once every replica runs and answers its health check with 200. */
  async whole(timeoutMs = 120_000, signal?: AbortSignal): Promise<void> {
    await Promise.all(
      this.replicas.map((replica) => waitForEndpoint(`http://127.0.0.1:${replica.port}/`, timeoutMs, signal)),
    );
  }

  /**
   * Preempts one running replica (in turn), as Google would: `instance/preempted` turns TRUE, the
   * shutdown script runs, then the VM is gone. The group brings it back; resolves with the
   * replica's port once it is ready again, or rejects once the group is stopped.
   */
  async preemptOne(): Promise<number> {
    const running = this.replicas.filter((r) => !r.busy && r.instance.facts().status === "RUNNING");
    if (running.length === 0) throw new Error(`${this.options.group.name} has no running replica to preempt`);
    const replica = running[this.next++ % running.length];
    replica.busy = true;
    this.options.report(`budgetml local: preempting ${replica.name} (${replica.zone})`);
    replica.metadata.setPreempted(true);
    try {
      await replica.instance.preempt();
    } finally {
      replica.busy = false;
    }
    await new Promise((resolve) => setTimeout(resolve, WATCH_MS)); // the group sees it stopped…
    await this.whole(undefined, this.stopping.signal); // …and recreates it
    if (this.stopped) throw new Error(`${this.options.group.name} stopped before ${replica.name} came back`);
    return replica.port;
  }

  /** Stops the watch and every replica; resolves once their processes are gone. */
  async stop(): Promise<void> {
    this.stopping.abort();
    clearInterval(this.timer);
    await Promise.all(this.replicas.map((replica) => replica.instance?.stop()));
  }

  /** Boots a new VM in the replica's slot, on a fresh root. */
  private create(replica: Replica): void {
    const previousRoot = replica.generation > 0 ? this.rootOf(replica) : undefined;
    replica.generation += 1;
    replica.recreateAfter = 0;
    replica.metadata.setPreempted(false);
    if (previousRoot) rmSync(previousRoot, { recursive: true, force: true });
    const first = replica.generation === 1;
    const { instance } = localVm({
      standIns: this.options.standIns,
      metadata: replica.metadata,
      attributes: this.options.template.metadata,
      root: this.rootOf(replica),
      port: replica.port,
      onBootFailed: (stderr) => {
        this.options.report(`budgetml local: ${replica.name} boot failed:\n${stderr.trim()}`);
        if (first)
          this.firstBootFailed(new Error(`replica ${replica.name} failed to boot: ${bootFailureSummary(stderr)}`));
        replica.recreateAfter = Date.now() + RETRY_FAILED_BOOT_MS; // recreated after a pause, not in a loop
      },
    });
    replica.instance = instance;
    instance.start();
  }

  private rootOf(replica: Replica): string {
    return join(this.options.root, `${replica.name}-${replica.generation}`);
  }

  /** What Google's group does on its own: recreate a replica that stopped without being asked to. */
  private watch(): void {
    for (const replica of this.replicas) {
      if (this.stopped || replica.busy) continue;
      const { status } = replica.instance.facts();
      if (status === "TERMINATED" && Date.now() >= replica.recreateAfter) void this.recreate(replica);
    }
  }

  /**
   * A new VM in the slot once the old one is gone as a whole: a VM counts as stopped when its
   * runtime is, and what else it ran (its watcher) would otherwise keep running from a deleted root.
   */
  private async recreate(replica: Replica): Promise<void> {
    replica.busy = true;
    try {
      await replica.instance.stop();
      if (this.stopped) return;
      this.options.report(`budgetml local: ${this.options.group.name} recreates ${replica.name}`);
      this.create(replica);
    } finally {
      replica.busy = false;
    }
  }
}
