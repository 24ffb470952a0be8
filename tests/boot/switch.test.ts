import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { WAIT_SCRIPT } from "../../components/healthWait";
import { isRunning } from "../../images/vm/services";
import { startLoad } from "../support/predictionLoad";
import { waitFor } from "../support/waitFor";
import { PASSWORD, ROOT, startTestVm, waitForHealth, type TestVm } from "../support/vmStandins";

// New bundles reach a running VM: the watcher sees the metadata change (wait_for_change), fetches
// them, starts the new runtime beside the old, switches Caddy (real Caddy, reloaded through its
// admin socket) and drains the old — while clients keep predicting through Caddy.
describe("switching a running VM to new bundles", () => {
  let vm: TestVm;
  const bundleOf = (predictor: string) => vm.runtimeId(predictor);

  beforeAll(async () => {
    vm = await startTestVm(
      {
        sentiment: { file: join(ROOT, "examples", "sentiment", "predictor.ts") },
        slow: { file: join(ROOT, "tests", "fixtures", "slowPredictor.cjs"), entrypoint: "Slow" },
        broken: { file: join(ROOT, "tests", "fixtures", "failingLoadPredictor.cjs"), entrypoint: "Broken" },
      },
      { BUDGET_FRONT: "caddy" },
    );
    await vm.boot();
    await waitForHealth(vm.url, { bundle: bundleOf("sentiment"), status: "ready" });
  }, 90_000);

  afterEach(() => {
    // On a failure, the VM's own account of it: the boot and watcher lines.
    const lines = readFileSync(join(vm.home, "runtime.log"), "utf8")
      .split("\n")
      .filter((line) => line.startsWith("budgetml-boot:"));
    if (expect.getState().assertionCalls === 0 || process.env.DEBUG_LOG)
      process.stderr.write(`${lines.slice(-30).join("\n")}\n`);
  });

  afterAll(() => vm.close());

  it("switches with zero failed requests while predictions run, then drains and stops the old runtime", async () => {
    const oldPid = Number(readFileSync(join(vm.home, "runtime-a.pid"), "utf8"));
    expect(isRunning(oldPid)).toBe(true); // so that "it exited" below means something
    const load = startLoad(vm.url, () => ({ username: "budget", password: PASSWORD, generation: 0 }), 4);
    await waitFor(() => load.answers.length >= 20, { what: "predictions from the old bundles" });

    const changedAt = Date.now();
    vm.metadata.setAttribute("budget-entrypoint", "Slow");
    vm.metadata.setAttribute("budget-predictor-object", vm.objects.slow);
    // `pulumi up`'s health wait, as the component runs it: it must wait for the new bundles, not
    // pass on the old runtime that keeps answering `ready` meanwhile.
    const healthWait = spawn(process.execPath, ["-e", WAIT_SCRIPT], {
      env: {
        PATH: process.env.PATH,
        BUDGET_HEALTH_URL: `${vm.url}/`,
        BUDGET_WAIT_SECONDS: "60",
        BUDGET_EXPECTED_BUNDLE: bundleOf("slow"),
      },
    });
    let waitOutput = "";
    healthWait.stdout.on("data", (chunk) => (waitOutput += chunk));
    const waitEnded = new Promise<number | null>((resolve) => healthWait.on("close", resolve));
    const firstNew = await waitFor(() => load.answers.find((answer) => "slept" in answer.body), {
      timeoutMs: 60_000,
      what: "a prediction from the new bundles",
    });
    await waitFor(() => !isRunning(oldPid), { timeoutMs: 40_000, what: "the old runtime to drain and exit" });
    const servedAfterDrain = load.answers.length;
    await waitFor(() => load.answers.length >= servedAfterDrain + 20, {
      what: "predictions after the old runtime is gone",
    });
    await load.stop();
    const answers = load.predictions();
    expect(await waitEnded).toBe(0);
    expect(JSON.parse(waitOutput.replace(/^healthy: /, ""))).toMatchObject({
      status: "ready",
      bundle: bundleOf("slow"),
    });

    const failed = answers.filter((answer) => answer.status !== 200);
    expect(failed).toEqual([]);
    expect(answers.filter((answer) => "label" in answer.body).length).toBeGreaterThan(0);
    expect(answers.filter((answer) => "slept" in answer.body).length).toBeGreaterThan(20);
    // Once the new runtime answered, the old never did again: the switch is one-way.
    expect(answers.filter((answer) => answer.at > firstNew.at + 500 && "label" in answer.body)).toEqual([]);
    expect(await waitForHealth(vm.url, { status: "ready" })).toMatchObject({
      bundle: bundleOf("slow"),
      predictor: expect.stringMatching(/Slow/),
    });

    const log = readFileSync(join(vm.home, "runtime.log"), "utf8");
    const switched = /serving \S+ from slot b after (\d+) ms/.exec(log);
    expect(switched).not.toBeNull();
    process.stdout.write(
      `bundle switch: metadata change → first answer from the new bundles ${firstNew.at - changedAt} ms; ` +
        `new runtime started → Caddy switched ${switched?.[1]} ms; ${answers.length} predictions, ${failed.length} failed\n`,
    );
  }, 120_000);

  it("a new bundle that fails to load never takes over: the old one keeps serving, the failure is logged", async () => {
    const load = startLoad(vm.url, () => ({ username: "budget", password: PASSWORD, generation: 0 }), 2);
    const slotA = join(vm.home, "runtime-a.pid");
    const stalePid = existsSync(slotA) ? Number(readFileSync(slotA, "utf8")) : undefined; // slot a's runtime, drained in the test above
    vm.metadata.setAttribute("budget-entrypoint", "Broken");
    vm.metadata.setAttribute("budget-predictor-object", vm.objects.broken);
    await waitFor(
      () =>
        /FAILED: new bundles \S+ did not become ready \(load_failed[^)]*\); still serving/.test(
          readFileSync(join(vm.home, "runtime.log"), "utf8"),
        ),
      {
        timeoutMs: 60_000,
        what: "the failed switch in the log",
      },
    );
    await load.stop();
    const answers = load.predictions();
    expect(readFileSync(join(vm.home, "runtime.log"), "utf8")).toMatch(
      /predictor failed to load: weights file missing/,
    );
    expect(answers.filter((answer) => answer.status !== 200)).toEqual([]);
    expect(answers.length).toBeGreaterThan(0);
    expect(answers.every((answer) => "slept" in answer.body)).toBe(true); // all from the bundles already serving
    expect(await waitForHealth(vm.url, { status: "ready" })).toMatchObject({ bundle: bundleOf("slow") });
    // The broken runtime was stopped, not left running beside the good one.
    const brokenPid = Number(readFileSync(join(vm.home, "runtime-a.pid"), "utf8"));
    expect(brokenPid).not.toBe(stalePid); // the broken runtime did start in slot a
    await waitFor(() => !isRunning(brokenPid), { what: "the broken runtime to be stopped" });
    expect(existsSync(join(vm.home, "serving.json"))).toBe(true);
    expect(JSON.parse(readFileSync(join(vm.home, "serving.json"), "utf8"))).toMatchObject({
      slot: "b",
      bundle: bundleOf("slow"),
    });
  }, 120_000);
});
