import { execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import { json, login } from "../support/runtimeServer";

const ROOT = join(__dirname, "..", "..");
/** Processes whose command line mentions this deployment's working folder (runtime, watcher). */
const processesUnder = (folder: string) => {
  try {
    return execFileSync("pgrep", ["-f", folder], { encoding: "utf8" }).trim().split("\n").filter(Boolean).map(Number);
  } catch {
    return [];
  }
};

// The whole local deployment as a user runs it: `budgetml local`, real processes end to end.
describe("budgetml local", () => {
  it("serves all three endpoints, comes back after preemptions, and leaves nothing behind", async () => {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const child = spawn(process.execPath, [join(ROOT, "scripts", "runTs.cjs"), join(ROOT, "cli.ts"), "local", "tests/fixtures/allEndpoints.ts", "--port", String(port), "--preempt-every", "4"], {
      cwd: ROOT,
      env: { PATH: process.env.PATH },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let folder = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    try {
      while (!/password: (\S+)/.test(stdout)) {
        if (child.exitCode !== null) throw new Error(`budgetml local exited: ${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const password = /password: (\S+)/.exec(stdout)![1];
      folder = /working in (\S+)/.exec(stderr)![1];
      expect(processesUnder(folder).length).toBeGreaterThan(0); // the check below can see them
      const url = `http://127.0.0.1:${port}`;
      const token = await login(url, "budget", password);
      expect(stdout).toContain(`curl -s -X POST http://localhost:${port}/predict_dict`);

      const dict = await fetch(`${url}/predict_dict`, json(token, { payload: { a: 1 } }));
      expect(await dict.json()).toEqual({ kind: "dict", payload: { a: 1 } });
      const generic = await fetch(`${url}/predict`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body: "raw text" });
      expect(await generic.json()).toEqual({ kind: "generic", body: "raw text" });
      const form = new FormData();
      form.append("request", new Blob([new Uint8Array([1, 2, 3])]), "x.png");
      const image = await fetch(`${url}/predict_image`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body: form });
      expect(await image.json()).toEqual({ kind: "image", filename: "x.png", size: 3 });

      // Keep predicting through a preemption; count what failed while the instance was down.
      let failed = 0;
      let succeeded = 0;
      while (!/back after [\d.]+ s/.test(stderr)) {
        if (child.exitCode !== null) throw new Error(`budgetml local exited: ${stderr}`);
        const ok = await login(url, "budget", password)
          .then((fresh) => fetch(`${url}/predict_dict`, json(fresh, { payload: {} })))
          .then((r) => r.status === 200, () => false);
        if (ok) succeeded += 1;
        else failed += 1;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(stderr).toMatch(/preempting the instance/);
      expect(failed).toBeGreaterThan(0); // the outage was real
      expect(succeeded).toBeGreaterThan(0);
      const fresh = await login(url, "budget", password);
      expect((await fetch(`${url}/predict_dict`, json(fresh, { payload: { after: true } }))).status).toBe(200);
    } finally {
      child.kill("SIGINT");
    }
    expect(await exited).toBe(0);
    expect(await fetch(`http://127.0.0.1:${port}/`).then(() => "open", () => "closed")).toBe("closed");
    expect(processesUnder(folder)).toEqual([]);
    expect(existsSync(folder)).toBe(false);
  }, 120_000);

  it.each([
    [[], /missing PREDICTOR/],
    [["nope.ts"], /predictor file not found: nope\.ts/],
    [["examples/sentiment/predictor.ts", "--preempt-every", "soon"], /--preempt-every must be a number from 1 to 86400, got "soon"/],
    [["examples/sentiment/predictor.ts", "--bogus"], /Unknown option '--bogus'/],
    [["examples/sentiment/predictor.ts", "--port", "BUSY"], /port \d+ is already in use: pass --port with a free one/],
  ])("rejects %j with one line and exit 2", async (args, message) => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
    args = args.map((arg) => (arg === "BUSY" ? String((busy.address() as AddressInfo).port) : arg));
    const child = spawn(process.execPath, [join(ROOT, "scripts", "runTs.cjs"), join(ROOT, "cli.ts"), "local", ...args], { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    expect(await new Promise((resolve) => child.on("exit", resolve))).toBe(2);
    expect(stderr).toMatch(message);
    busy.close();
  });
});
