import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { link, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { HealthAnswer } from "../../contracts/healthAnswer";
import { runtimeEnvironment } from "../../contracts/runtimeEnvironment";
import { isRunning, writeIfChanged, type FrontSpec, type Paths, type ServiceManager, type Slot } from "./services";

/** What should be serving: the bundle id, and what the runtime runs with. */
export interface Wanted extends Paths, FrontSpec {
  bundle: string;
  server: string;
  image: string;
  env: Record<string, string>;
}

/** What is serving: written after every switch (`home/serving.json`). */
interface Serving {
  slot: Slot;
  port: number;
  bundle: string;
  /** A hash of the runtime's configuration (server, image, environment — secrets included, so hashed). */
  config: string;
}

/** How long a new runtime may take to load its predictor before the switch is abandoned. */
const READY_TIMEOUT_MS = 10 * 60_000;

/**
 * Brings the serving runtime to `wanted`. Unchanged → make sure it runs (after a reboot) and the
 * front points at it. Changed → blue/green: start the new bundles in the other slot, wait until
 * its health check answers `ready` with the new bundle id — Caddy, health-checking both slots,
 * starts sending it traffic — then stop the old runtime: its health turns `draining` at once, it
 * keeps serving what still reaches it for the hand-off window while Caddy moves away, then it
 * finishes its in-flight predictions and exits. A new runtime that fails to load is stopped and the old one keeps serving. With a front
 * that cannot overlap (the local deployment without Caddy), the old runtime stops first.
 */
export async function rollOut(
  manager: ServiceManager,
  wanted: Wanted,
  log: (message: string) => void,
): Promise<"unchanged" | "switched"> {
  const serving = readServing(wanted.home);
  const config = createHash("sha256")
    .update(JSON.stringify([wanted.server, wanted.image, wanted.env]))
    .digest("hex");
  const spec = (slot: Slot, port: number) => ({
    root: wanted.root,
    home: wanted.home,
    slot,
    port,
    server: wanted.server,
    image: wanted.image,
    env: {
      ...wanted.env,
      ...runtimeEnvironment({
        PORT: String(port),
        BUDGET_BUNDLE: wanted.bundle,
        BUDGET_HANDOFF_MS: String(manager.handoffMs),
      }),
    },
  });

  if (serving && serving.bundle === wanted.bundle && serving.config === config) {
    await manager.ensureSlot(spec(serving.slot, serving.port));
    await manager.routeTo(wanted, wanted, serving.slot, serving.port);
    log(`serving ${wanted.bundle} (slot ${serving.slot})`);
    return "unchanged";
  }

  const slot: Slot = serving?.slot === "a" ? "b" : "a";
  const started = Date.now();
  if (serving && !manager.overlaps) await manager.stopSlot(wanted, serving.slot);
  const port = await manager.portFor(wanted, slot);
  log(
    `${serving ? `switching from ${serving.bundle} to` : "starting"} ${wanted.bundle} in slot ${slot} (port ${port})`,
  );
  await manager.startSlot(spec(slot, port));
  if (serving && manager.overlaps) {
    const answer = await waitUntilServing(port, wanted.bundle, READY_TIMEOUT_MS);
    if (answer.status !== "ready") {
      await manager.stopSlot(wanted, slot);
      throw new Error(
        `new bundles ${wanted.bundle} did not become ready (${answer.status}${answer.reason ? `: ${answer.reason}` : "; the runtime's log says why"}); still serving ${serving.bundle}`,
      );
    }
    // Caddy learns of a healthy runtime only from its own periodic check: until it has seen the new
    // one healthy, turning the old one unhealthy would leave it no upstream for a moment.
    await new Promise((resolve) => setTimeout(resolve, manager.noticeMs));
  }
  await manager.routeTo(wanted, wanted, slot, port);
  await writeServing(wanted.home, { slot, port, bundle: wanted.bundle, config });
  if (serving && manager.overlaps) {
    log(`serving ${wanted.bundle} from slot ${slot} after ${Date.now() - started} ms; draining slot ${serving.slot}`);
    await manager.stopSlot(wanted, serving.slot);
  }
  log(`switched to ${wanted.bundle} in ${Date.now() - started} ms`);
  return "switched";
}

/**
 * Polls the new runtime's health check on its own port until it is `ready` with the expected
 * bundle, or settles elsewhere (`load_failed`), or time runs out.
 */
async function waitUntilServing(
  port: number,
  bundle: string,
  timeoutMs: number,
): Promise<{ status: HealthAnswer["status"]; reason?: string }> {
  const deadline = Date.now() + timeoutMs;
  let last: HealthAnswer | { status: "starting" } = { status: "starting" };
  while (Date.now() < deadline) {
    try {
      const answer = (await (
        await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5000) })
      ).json()) as HealthAnswer;
      if (answer.bundle === bundle && (answer.status === "ready" || answer.status === "load_failed")) return answer;
      last = answer;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { status: last.status, reason: `not ready after ${timeoutMs / 1000} s (last: ${last.status})` };
}

/** Records the deployment (see `deploymentOf`) the boot has just rolled out, in `home/rolled-out`. */
export async function recordRolledOut(home: string, deployment: string): Promise<void> {
  await writeIfChanged(join(home, "rolled-out"), deployment);
}

/** The deployment the last boot rolled out, if any. */
export function rolledOut(home: string): string | undefined {
  const file = join(home, "rolled-out");
  return existsSync(file) ? readFileSync(file, "utf8") : undefined;
}

function readServing(home: string): Serving | undefined {
  const file = join(home, "serving.json");
  return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as Serving) : undefined;
}

async function writeServing(home: string, serving: Serving): Promise<void> {
  await writeIfChanged(join(home, "serving.json"), JSON.stringify(serving));
}

/** Runs `work` holding the boot lock (see {@link lock}). */
export async function withBootLock<T>(root: string, work: () => Promise<T>): Promise<T> {
  const release = await lock(root);
  try {
    return await work();
  } finally {
    await release();
  }
}

/**
 * One boot at a time: the startup script's boot and a watcher-started one may overlap. The lock
 * is a file holding its owner's pid, created whole (written aside, then hard-linked into place) and
 * kept under `/run` so a reboot clears it; a lock whose owner is gone is taken over.
 */
async function lock(root: string): Promise<() => Promise<void>> {
  const dir = join(root, "run", "budgetml");
  await mkdir(dir, { recursive: true });
  const file = join(dir, "rollout.lock");
  const mine = join(dir, `rollout.lock.${process.pid}`);
  await writeFile(mine, String(process.pid));
  try {
    for (;;) {
      try {
        await link(mine, file);
        return () => rm(file, { force: true });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
        const owner = Number(await readFile(file, "utf8").catch(() => "0"));
        if (!isRunning(owner)) await rm(file, { force: true });
        else await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  } finally {
    await rm(mine, { force: true });
  }
}
