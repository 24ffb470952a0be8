import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BootedInstance } from "../../local/bootedInstance";
import { killProcessGroups } from "../../local/processGroups";
import { processStat } from "../../images/vm/services";
import { processesMatching } from "../support/localDeployment";
import { waitFor } from "../support/waitFor";

/** The live (not zombie) processes of process group `group`. */
function liveMembers(group: number): number[] {
  return processesMatching(() => true).filter((pid) => {
    const stat = processStat(pid);
    return stat?.group === group && stat.state !== "Z";
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

  it("a second stop of a local VM, while the first is still killing it, also resolves only once it is gone", async () => {
    const root = mkdtempSync(join(tmpdir(), "budgetml-instance-"));
    const startup = join(root, "startup.sh");
    writeFileSync(startup, "sleep 300 & sleep 300 & sleep 300 & echo started >&2; wait\n");
    const stillRunning: number[][] = [];
    try {
      // A few rounds: right after kill() returns, a SIGKILLed process runs until it is next scheduled.
      for (let round = 0; round < 10; round += 1) {
        const instance = new BootedInstance({
          startupScript: startup,
          shutdownScript: startup,
          root,
          env: { PATH: process.env.PATH ?? "" },
        });
        instance.start();
        const leader = await waitFor(
          () => processesMatching((cmdline) => cmdline.includes(startup)).find((pid) => liveMembers(pid).length >= 4),
          { what: "the VM's processes" },
        );
        // The group recreating a crashed replica stops its old VM while the deployment's stop may stop it too.
        const first = instance.stop();
        await instance.stop();
        stillRunning.push(liveMembers(leader));
        await first;
      }
      expect(stillRunning.flat()).toEqual([]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
