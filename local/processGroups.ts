import { readdirSync } from "node:fs";
import { processStat, runs } from "../images/vm/services";

/**
 * Kills every process of each group outright (SIGKILL) and resolves once none of them runs any
 * more: a signal is only delivered when the process is next scheduled, so a caller that reads the
 * process table right after `kill()` may still see it. Zombies — dead, waiting for their parent to
 * collect them — count as gone. Where there is no /proc (not Linux) it resolves at once.
 */
export async function killProcessGroups(groups: Iterable<number>, timeoutMs = 10_000): Promise<void> {
  const pending = new Set<number>();
  for (const group of groups) {
    try {
      process.kill(-group, "SIGKILL");
      pending.add(group);
    } catch {
      // that group is gone already
    }
  }
  const deadline = Date.now() + timeoutMs;
  while (pending.size > 0 && Date.now() < deadline) {
    const alive = groupsStillRunning();
    if (!alive) return;
    for (const group of pending) if (!alive.has(group)) pending.delete(group);
    if (pending.size > 0) await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The process groups that have a process not yet dead; undefined without /proc. */
function groupsStillRunning(): Set<number> | undefined {
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((name) => /^\d+$/.test(name));
  } catch {
    return undefined;
  }
  const groups = new Set<number>();
  for (const pid of pids) {
    const stat = processStat(Number(pid)); // undefined: it exited while we looked
    if (runs(stat)) groups.add(stat.group);
  }
  return groups;
}
