import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isRunning, processes, processStat } from "../../images/vm/services";
import { waitFor } from "../support/waitFor";

// The process manager the local deployment and the boot tests run the VM's services with.
describe("the process service manager", () => {
  it("counts a process that has exited as stopped, though its parent has not collected it yet (a zombie)", async () => {
    // bash starts `sleep 0` and becomes `sleep 30`, which never collects it.
    const parent = spawn("bash", ["-c", "sleep 0 & echo $!; exec sleep 30"], { stdio: ["ignore", "pipe", "ignore"] });
    try {
      const pid = Number(await new Promise<string>((resolve) => parent.stdout.once("data", (d) => resolve(String(d)))));
      await waitFor(() => processStat(pid)?.state === "Z", { what: "the zombie" });
      expect(isRunning(pid)).toBe(false);
      expect(isRunning(parent.pid)).toBe(true);
    } finally {
      parent.kill("SIGKILL");
    }
  });

  it("fails with what to install when the front's Caddy is not on PATH", async () => {
    const root = mkdtempSync(join(tmpdir(), "budgetml-services-"));
    const home = join(root, "opt", "budgetml");
    mkdirSync(home, { recursive: true });
    const path = process.env.PATH;
    process.env.PATH = join(root, "empty-bin"); // no caddy there (nor anything else)
    try {
      await expect(processes(true).routeTo({ root, home }, { hostname: "localhost" }, "a", 0)).rejects.toThrow(
        "caddy is not on PATH: install caddy (it runs the VM's caddy)",
      );
    } finally {
      process.env.PATH = path;
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("stops the watcher and returns once it has ended, even one it had to SIGKILL", async () => {
    const root = mkdtempSync(join(tmpdir(), "budgetml-services-"));
    const home = join(root, "opt", "budgetml");
    mkdirSync(home, { recursive: true });
    const stillRunning: number[] = [];
    try {
      // A few rounds: right after kill() returns, a SIGKILLed process runs until it is next scheduled.
      for (let round = 0; round < 5; round += 1) {
        const stubborn = spawn(
          process.execPath,
          ["-e", 'process.on("SIGTERM", () => {}); setInterval(() => {}, 1000); console.log("up")'],
          { stdio: ["ignore", "pipe", "ignore"] },
        );
        await new Promise((resolve) => stubborn.stdout.once("data", resolve));
        writeFileSync(join(home, "watcher.pid"), String(stubborn.pid));
        await processes(false).stopAll({ root, home });
        const state = processStat(stubborn.pid!)?.state ?? "gone"; // Z: dead, not yet collected by this test's process
        if (!["Z", "X", "gone"].includes(state)) stillRunning.push(stubborn.pid!);
        stubborn.kill("SIGKILL");
      }
      expect(stillRunning).toEqual([]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
