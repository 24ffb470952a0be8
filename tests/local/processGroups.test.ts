import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { killProcessGroups } from "../../local/processGroups";
import { processesMatching } from "../support/localDeployment";
import { waitFor } from "../support/waitFor";

/** The live (not zombie) processes of process group `group`. */
function liveMembers(group: number): number[] {
  return processesMatching(() => true).filter((pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      return Number(pgrp) === group && state !== "Z";
    } catch {
      return false;
    }
  });
}

describe("killProcessGroups (how the local VM stops)", () => {
  it("resolves only once every process of each group is gone, its leader's children included", async () => {
    // Two groups, each a shell that started background processes, as a VM's boot script does.
    const leaders = [0, 1].map(
      () =>
        spawn("bash", ["-c", "sleep 300 & sleep 300 & (sleep 300 &) ; wait"], { detached: true, stdio: "ignore" }).pid!,
    );
    for (const leader of leaders)
      await waitFor(() => liveMembers(leader).length >= 4, { what: `group ${leader}'s processes` });
    await killProcessGroups(leaders);
    expect(leaders.map(liveMembers)).toEqual([[], []]);
  });

  it("takes a group that is already gone in its stride", async () => {
    const leader = spawn("true", [], { detached: true, stdio: "ignore" });
    await new Promise((resolve) => leader.on("exit", resolve));
    await expect(killProcessGroups([leader.pid!])).resolves.toBeUndefined();
  });
});
