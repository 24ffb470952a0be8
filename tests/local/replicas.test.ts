import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { launchLocal, type LocalDeployment } from "../../local/launchLocal";
import { freePort } from "../support/freePort";
import { BUILT_CLI, deploymentRoot, described, processesUnder } from "../support/localDeployment";
import { json, login } from "../support/runtimeServer";
import { waitFor } from "../support/waitFor";

const ROOT = join(__dirname, "..", "..");
const run = promisify(execFile);

// A replicated model on this machine, from the component's own declarations: its group's replicas
// booted as local VMs behind a real load balancer (Caddy) that health-checks them as the backend
// service declares; preempting one replica loses no request, and the group brings it back.
describe("budgetml local with replicas", () => {
  let deployment: LocalDeployment;
  let folder = "";
  const lines: string[] = [];
  let url = "";

  beforeAll(async () => {
    const port = await freePort();
    deployment = await launchLocal({
      predictor: join(ROOT, "tests", "fixtures", "allEndpoints.ts"),
      replicas: 2,
      port,
      report: (line) => lines.push(line),
    });
    folder = deploymentRoot(lines.join("\n"));
    url = `http://127.0.0.1:${port}`;
  }, 240_000);

  afterAll(async () => {
    await deployment?.stop();
  }, 60_000);

  it("boots each replica as its own VM and serves them through one load balancer, one login for all", async () => {
    expect(deployment.replicas).toBe(2);
    expect(deployment.url).toBe(`http://localhost:${new URL(url).port}`);
    const roots = readdirSync(join(folder, "vm"));
    expect(roots).toHaveLength(2);
    for (const replicaRoot of roots) expect(replicaRoot).toMatch(/^bm-allendpoints-[0-9a-f]{6}-spot-[0-9a-f]{4}-1$/);
    const health = await (await fetch(`${url}/`)).json();
    // Each replica reads its provisioning from its metadata server, as a VM of the spot template.
    expect(health).toMatchObject({ status: "ready", provisioning: "spot" });
    // One token works on every replica: round robin sends these to both, and they share the signing key.
    const token = await login(url, deployment.username, deployment.password);
    for (let i = 0; i < 6; i += 1) {
      const response = await fetch(`${url}/predict_dict`, json(token, { payload: { i } }));
      expect(await response.json()).toEqual({ kind: "dict", payload: { i } });
    }
  });

  it("loses no request while a replica is preempted, and the group makes itself whole again", async () => {
    const token = await login(url, deployment.username, deployment.password);
    let stop = false;
    const failures: string[] = [];
    let succeeded = 0;
    const client = async () => {
      while (!stop) {
        const response = await fetch(`${url}/predict_dict`, json(token, { payload: { steady: true } })).catch(
          (error: Error) => error,
        );
        if (response instanceof Error) failures.push(response.message);
        else if (response.status !== 200) failures.push(`${response.status} ${await response.text()}`);
        else {
          await response.arrayBuffer();
          succeeded += 1;
        }
      }
    };
    const clients = [client(), client(), client()];
    const before = succeeded;
    const wholeAfterMs = await deployment.preempt();
    const during = succeeded - before;
    stop = true;
    await Promise.all(clients);
    expect(failures).toEqual([]);
    expect(during).toBeGreaterThan(20); // the endpoint kept serving while one replica was gone
    expect(wholeAfterMs).toBeGreaterThan(0);
    expect(lines.join("\n")).toMatch(/budgetml local: preempting bm-allendpoints-\w+-spot-\w+/);
    expect(lines.join("\n")).toMatch(/recreates bm-allendpoints-\w+-spot-\w+/);
    // The preempted replica came back on a fresh disk (its boot ran again from the start).
    expect(readdirSync(join(folder, "vm")).filter((name) => name.endsWith("-2"))).toHaveLength(1);
    expect((await fetch(`${url}/predict_dict`, json(token, { payload: {} }))).status).toBe(200);
  }, 180_000);

  it("recreates a replica whose runtime crashed, and nothing of the old VM keeps running", async () => {
    const vms = join(folder, "vm");
    const [crashing] = readdirSync(vms);
    const home = join(vms, crashing, "opt", "budgetml");
    const runtime = Number(readFileSync(join(home, "runtime.pid"), "utf8"));
    expect(processesUnder(join(vms, crashing)).length).toBeGreaterThan(1); // the runtime, and the rest of the VM
    const seen = lines.length;
    process.kill(runtime, "SIGKILL");
    const name = crashing.replace(/-\d+$/, "");
    await waitFor(() => lines.slice(seen).some((line) => line.includes(`recreates ${name}`)), {
      timeoutMs: 30_000,
      what: `the group to recreate ${name}`,
    });
    await waitFor(async () => (await fetch(`${url}/`)).status === 200, { timeoutMs: 60_000, what: "the endpoint" });
    // Its old VM is gone as a whole (Google's group recreates the instance), not only its runtime.
    expect(processesUnder(join(vms, crashing)).map(described)).toEqual([]);
  }, 120_000);

  it("leaves nothing running when stopped, nor a preemption under way waiting for its replica", async () => {
    expect(processesUnder(folder).length).toBeGreaterThan(0); // the check below can see them
    const preempting = deployment.preempt().then(
      () => "came back",
      (error: Error) => error.message,
    );
    await deployment.stop();
    // Settled with the stop (it would otherwise poll the gone replica for 2 minutes, keeping the process alive).
    expect(await preempting).toMatch(/stopped before bm-allendpoints-\w+-spot-\w+ came back/);
    expect(processesUnder(folder).map(described)).toEqual([]);
    expect(existsSync(folder)).toBe(false);
    expect(
      await fetch(`${url}/`).then(
        () => "open",
        () => "closed",
      ),
    ).toBe("closed");
  }, 60_000);
});

describe("budgetml local --replicas", () => {
  const local = (args: string[]) =>
    run(process.execPath, [BUILT_CLI, "local", ...args], {
      cwd: ROOT,
    }).then(
      () => ({ code: 0, stderr: "" }),
      (error: { code: number; stderr: string }) => ({ code: error.code, stderr: error.stderr }),
    );

  it("refuses a bad count, and the flag with --program, in one line and exit 2", async () => {
    expect(await local(["examples/sentiment/predictor.ts", "--replicas", "0"])).toEqual({
      code: 2,
      stderr: expect.stringMatching(/--replicas must be a whole number from 1 to 8, got "0"/),
    });
    expect(await local(["--program", "Pulumi.yaml", "--replicas", "2"])).toEqual({
      code: 2,
      stderr: expect.stringMatching(/--replicas belong to the PREDICTOR form/),
    });
  }, 60_000);
});
