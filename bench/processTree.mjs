// What the benchmarks read about a server's processes from /proc (Linux): the whole tree under
// its first process (a cluster's primary and workers, gunicorn and its workers).
import { readFileSync } from "node:fs";

const TICK_US = 1_000_000 / 100; // /proc's clock ticks: USER_HZ is 100 on Linux

/** The pids of `pid`'s children (all its threads' children), read while they run. */
export function childrenOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return []; // the process ended while we looked
  }
}

/** `pid` and every process under it. */
export function processTree(pid) {
  const tree = [pid];
  for (let i = 0; i < tree.length; i += 1) tree.push(...childrenOf(tree[i]));
  return tree;
}

/** CPU time (user + system, µs) used so far by `pid` and every process under it. */
export function treeCpuUs(pid) {
  let ticks = 0;
  for (const member of processTree(pid)) {
    try {
      const text = readFileSync(`/proc/${member}/stat`, "utf8");
      const fields = text.slice(text.lastIndexOf(")") + 2).split(" "); // fields from the 3rd on
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // the process ended while we looked
    }
  }
  return ticks * TICK_US;
}

/** Peak resident memory (VmHWM) of `pid` and every process under it, in KiB. */
export function treePeakRssKb(pid) {
  return processTree(pid)
    .map((member) => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${member}/status`, "utf8"))?.[1] ?? 0))
    .reduce((a, b) => a + b, 0);
}
