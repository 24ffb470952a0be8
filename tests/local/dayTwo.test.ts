import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { BudgetModel, type BudgetModelArgs } from "../../components/budgetModel";
import { FRONT_HEADER, frontIdOf } from "../../contracts/servedDeployment";
import { launchLocalProgram, type LocalModel, type LocalProgramDeployment } from "../../local/localProgram";
import { deploymentRoot } from "../support/localDeployment";
import { failuresBeyondReload, startLoad, type Credentials } from "../support/predictionLoad";
import { freePort } from "../support/vmStandins";
import { waitFor } from "../support/waitFor";

const run = promisify(execFile);
const ROOT = join(__dirname, "..", "..");

// Day two: a deployment made by the local engine from the component's own declarations, then the
// component's arguments changed one at a time and applied as a second `pulumi up` (the engine
// evaluates the program again and applies what changed as Google does; the VM's watcher rolls it
// out; `pulumi up`'s own health wait must pass). Clients predict through the VM's Caddy the whole
// time. (provisioning: a change of scheduling, Google's side, goes in this sequence once the
// local engine applies it.)
describe("changing each argument of a running model (a second pulumi up)", () => {
  let deployment: LocalProgramDeployment;
  let model: LocalModel;
  let home: string;
  let credentials: Credentials;
  let args: BudgetModelArgs = {
    predictor: join(ROOT, "examples", "sentiment", "predictor.ts"),
    password: "first-password-1234",
    healthTimeoutSeconds: 120,
  };
  const program = () => new BudgetModel("daytwo", args);
  const lines: string[] = [];

  beforeAll(async () => {
    deployment = await launchLocalProgram({
      program,
      port: await freePort(),
      caddyFront: true,
      report: (line) => lines.push(line),
    });
    [model] = deployment.models;
    credentials = { username: model.username, password: model.password, generation: 0 };
    const vms = join(deploymentRoot(lines.join("\n")), "vm");
    home = join(vms, readdirSync(vms)[0], "opt", "budgetml"); // the one instance's root
  }, 180_000);

  afterAll(() => deployment?.stop());

  /**
   * The clients' pace: each predicts, then pauses 10 ms — about 300 requests a second from the 3,
   * so a window of failures longer than a few milliseconds cannot fall between two requests. A
   * tight loop would take every core for the whole roll-out (the zero-failure switch under a tight
   * loop is tests/boot/switch.test.ts's and the VM test's).
   */
  const PACE = { pauseMs: 10 };

  /**
   * Applies `change` as `pulumi up` would while 3 clients predict; returns what they got, and when
   * the update ran. With a new login the clients move to it once the VM serves it, as a user's do
   * when they roll out a new password (the old one is refused from then on).
   */
  async function upWhilePredicting(change: Partial<BudgetModelArgs>) {
    const load = startLoad(model.url, () => credentials, 3, PACE);
    await waitFor(() => load.predictions().length >= 10, { what: "predictions before the update" });
    const before = (await health()).body.bundle;
    const started = Date.now();
    args = { ...args, ...change };
    const newLogin = change.username !== undefined || change.password !== undefined;
    const moved = newLogin
      ? waitFor(async () => (await health()).body.bundle !== before, { timeoutMs: 120_000, intervalMs: 50 }).then(
          () => {
            credentials = {
              username: String(args.username ?? "budget"),
              password: String(args.password),
              generation: credentials.generation + 1,
            };
          },
        )
      : undefined;
    [model] = await deployment.update(program);
    const ended = Date.now();
    const afterUp = await health(); // what serves the moment `pulumi up` returns
    await moved;
    const doneAt = load.answers.length;
    await waitFor(
      () => load.answers.slice(doneAt).filter((a) => a.kind === "predict" && a.status === 200).length >= 10,
      { what: "predictions after the update", timeoutMs: 30_000 },
    );
    const answers = await load.stop();
    // A 200 that is not the model's (Caddy answers an unmatched site with an empty 200) is a failure too.
    for (const answer of answers)
      if (answer.status === 200 && !("label" in answer.body || "slept" in answer.body || "access_token" in answer.body))
        answer.status = -200;
    process.stdout.write(
      `day two, ${Object.keys(change).join(", ")}: pulumi up (health wait included) ${ended - started} ms; ` +
        `${load.predictions().length} predictions, ${answers.filter((a) => a.status !== 200).length} answers not 200 ` +
        `(${answers.filter((a) => a.status === 0).length} connection errors)\n`,
    );
    return { answers, started, ended, afterUp };
  }

  /** The health answer through the VM's front, and the front's header. */
  async function health() {
    const response = await fetch(`${model.url}/`);
    return { body: (await response.json()) as Record<string, string>, front: response.headers.get(FRONT_HEADER) };
  }

  it("a domain: Caddy reloads and serves it over HTTPS, no HTTP error (a kept-alive connection may be reset at the reload), pulumi up returns once it serves", async () => {
    const { answers, started, ended, afterUp } = await upWhilePredicting({ domain: "api.example.test" });
    expect(failuresBeyondReload(answers, started, ended, 3)).toEqual([]);
    expect(afterUp.front).toBe(frontIdOf({ hostname: "api.example.test", acmeEmail: "" }));
    const { https } = JSON.parse(readFileSync(join(home, "front-ports.json"), "utf8")) as { https: number };
    const served = await run("curl", [
      "-sS",
      "--cacert",
      join(home, "caddy", "caddy", "pki", "authorities", "local", "root.crt"),
      "--resolve",
      `api.example.test:${https}:127.0.0.1`,
      `https://api.example.test:${https}/`,
    ]);
    expect(JSON.parse(served.stdout)).toMatchObject({ status: "ready" });
  }, 180_000);

  it("an acmeEmail: Caddy reloads with the new contact, the runtime keeps running, no HTTP error", async () => {
    const before = await health();
    const { answers, started, ended, afterUp } = await upWhilePredicting({ acmeEmail: "ops@example.test" });
    expect(failuresBeyondReload(answers, started, ended, 3)).toEqual([]);
    expect(afterUp.front).toBe(frontIdOf({ hostname: "api.example.test", acmeEmail: "ops@example.test" }));
    expect(afterUp.body.bundle).toBe(before.body.bundle); // the runtime was not restarted for it
    expect(readFileSync(join(home, "Caddyfile"), "utf8")).toContain("email ops@example.test");
  }, 180_000);

  it.each([
    ["a password", { password: "second-password-5678" }],
    ["a username", { username: "alice" }],
  ])(
    "%s: a rotation — rolled out without a failed request, and every token issued before stops working",
    async (_what, change) => {
      const before = credentials;
      const oldToken = await token(before);
      const oldId = (await health()).body.bundle;
      const { answers, afterUp } = await upWhilePredicting(change);
      expect(afterUp.body.bundle).not.toBe(oldId); // pulumi up returned once the new login served
      // Only what the rotation revokes is refused: tokens and logins of the previous login.
      expect(
        answers.filter((a) => a.status !== 200 && !(a.status === 401 && a.generation < credentials.generation)),
      ).toEqual([]);
      expect(answers.filter((a) => a.status === 200 && a.generation === credentials.generation).length).toBeGreaterThan(
        0,
      );
      expect(
        (await fetch(`${model.url}/predict_dict`, { method: "POST", headers: { authorization: `Bearer ${oldToken}` } }))
          .status,
      ).toBe(401);
      expect((await login(before)).status).toBe(401);
      expect((await login(credentials)).status).toBe(200);
    },
    180_000,
  );

  it("a predictor: the new one takes over without a failed request", async () => {
    const { answers, afterUp } = await upWhilePredicting({
      predictor: join(ROOT, "tests", "fixtures", "slowPredictor.cjs"),
      entrypoint: "Slow",
    });
    expect(answers.filter((a) => a.status !== 200)).toEqual([]);
    expect(answers.some((a) => "slept" in a.body)).toBe(true);
    expect(afterUp.body.predictor).toMatch(/Slow/);
  }, 180_000);

  it("an image: nothing here runs containers, so the roll-out fails — and the running model keeps serving, and pulumi up fails", async () => {
    const load = startLoad(model.url, () => credentials, 3, PACE);
    await waitFor(() => load.predictions().length >= 10, { what: "predictions before the update" });
    const before = await health();
    // The health wait can only time out here: a short one (the roll-out fails within a second or two).
    args = { ...args, image: "europe-docker.pkg.dev/proj/models/sentiment:1", healthTimeoutSeconds: 10 };
    await expect(deployment.update(program)).rejects.toThrow(
      /wait-healthy failed: budgetml: .* not healthy after 10 s/,
    );
    const answers = await load.stop();
    expect(answers.filter((a) => a.status !== 200)).toEqual([]);
    expect((await health()).body.bundle).toBe(before.body.bundle);
    await waitFor(
      () =>
        /FAILED: .*cannot run the image europe-docker\.pkg\.dev\/proj\/models\/sentiment:1 here/.test(
          readFileSync(join(home, "runtime.log"), "utf8"),
        ),
      { what: "the roll-out's refusal of the image in the VM's log" },
    );
  }, 180_000);

  it("stops, and a preemption under way ends with the stop instead of waiting minutes for the instance", async () => {
    const preempting = model.preempt().then(
      () => "came back",
      (error: Error) => error.message,
    );
    await deployment.stop();
    expect(await preempting).toMatch(/stopped before it came back/);
  }, 60_000);

  async function login(login: Credentials) {
    return fetch(`${model.url}/token`, {
      method: "POST",
      body: new URLSearchParams({ username: login.username, password: login.password }),
    });
  }

  async function token(login_: Credentials): Promise<string> {
    return String(((await (await login(login_)).json()) as Record<string, unknown>).access_token);
  }
});
