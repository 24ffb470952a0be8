import { existsSync, readFileSync } from "node:fs";

/** A process and all its descendants, by pid (from /proc; gone processes are left out). */
export function processTree(pid: number): number[] {
  const file = `/proc/${pid}/task/${pid}/children`;
  let children: number[] = [];
  try {
    if (existsSync(file)) children = readFileSync(file, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    // it ended while we looked
  }
  return [pid, ...children.flatMap(processTree)];
}
