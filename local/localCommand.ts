import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { extname } from "node:path";
import { parseArgs } from "node:util";
import { allowScriptsProblem, parseRequirements } from "../bundles/predictorBundle";
import { parseNumberSetting, UsageError } from "../contracts/settings";
import type { LocalModel } from "./localProgram";
import { preemptOnTimer } from "./preemptOnTimer";
import { resolveProgram, runProgramFile } from "./programFile";
import { stopWhenNpmExits } from "./stopWhenNpmExits";

export const LOCAL_USAGE = `Usage: budgetml local PREDICTOR [--entrypoint NAME] [--requirements PKG...] [--allow-scripts PKG...] [--replicas N] [options]
       budgetml local --program FILE [--config KEY=VALUE]... [options]

Runs the whole deployment on this machine, no cloud account needed: the component's own
declarations evaluated by a local engine, the VM's boot path against local stand-ins of Google's
services that enforce the declared permissions, and the restarter bringing the instance back.

  PREDICTOR                a predictor file: runs one BudgetModel serving it
  --entrypoint NAME        exported predictor class (default Predictor, else the default export)
  --requirements PKG...    npm packages to install beside the predictor, as on the VM
  --allow-scripts PKG...   requirements whose install scripts may run (others install with
                           scripts off), as on the VM
  --replicas N             serve from N spot replicas behind a load balancer (BudgetModel's
                           replicas: N) instead of one VM
  --program FILE           a Pulumi program (.ts/.js, a folder, or its Pulumi.yaml): every
                           BudgetModel it declares is served, on --port, --port+1, ...;
                           a parked one (running: false) gets its port but stays stopped
  --config KEY=VALUE       a stack config value for the program (repeatable), e.g. domain=x.com
  --port N                 port of the (first) endpoint (default 8080)
  --preempt-every SECONDS  kill the instance(s) on a timer to watch them come back (with
                           replicas: one replica at a time, and the group brings it back)
  --json                   when ready, print one JSON line per model
                           {"model","url","docsUrl","username","password","parked"}, then one
                           {"endpoints": {...}} line per model: the environment its VM boots with`;

/** Replicas one machine runs side by side: each is a whole local VM (runtime, watcher, workers). */
const MAX_LOCAL_REPLICAS = 8;

/** Fails at once, with the fix, when the endpoint's port is taken (rather than after a boot). */
async function ensurePortFree(port: number): Promise<void> {
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once("error", (error: NodeJS.ErrnoException) =>
      reject(
        error.code === "EADDRINUSE"
          ? new UsageError(`port ${port} is already in use: pass --port with a free one`)
          : error,
      ),
    );
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolve()));
  });
}

/** `--config key=value` flags as config entries; a malformed one is a usage error. */
function parseConfig(flags: string[] | undefined): Record<string, string> {
  const config: Record<string, string> = {};
  for (const flag of flags ?? []) {
    const match = /^([A-Za-z0-9_.:-]+)=(.*)$/s.exec(flag);
    if (!match) throw new UsageError(`--config expects KEY=VALUE, got "${flag}"`);
    config[match[1]] = match[2];
  }
  return config;
}

/** `budgetml local`: serves until Ctrl-C / SIGTERM, then removes everything it started. */
export async function runLocal(argv: string[]): Promise<number | undefined> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      entrypoint: { type: "string" },
      requirements: { type: "string", multiple: true },
      "allow-scripts": { type: "string", multiple: true },
      replicas: { type: "string" },
      program: { type: "string" },
      config: { type: "string", multiple: true },
      port: { type: "string" },
      "preempt-every": { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${LOCAL_USAGE}\n`);
    return 0;
  }
  const port = parseNumberSetting("--port", values.port, 8080, { min: 1, max: 65535, integer: true });
  const preemptEverySeconds =
    parseNumberSetting("--preempt-every", values["preempt-every"], 0, { min: 1, max: 86_400 }) || undefined;
  let models: LocalModel[];
  // Ctrl-C and SIGTERM stop what was started, from the moment a launch may start something: while
  // it boots (the launch then stops what it started and rejects) and once it serves. A second one
  // while stopping changes nothing: exiting then would leave the VMs running, in process groups of
  // their own that no terminal signal reaches.
  const launch = new AbortController();
  let stopAll: (() => Promise<void>) | undefined;
  const stopPreempting: Array<() => void> = [];
  let stopping = false;
  const stopServing = (stopDeployment: () => Promise<void>) =>
    stopDeployment().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  const stop = () => {
    if (stopping) return;
    stopping = true;
    process.stderr.write("budgetml local: stopping…\n");
    for (const stopTimer of stopPreempting) stopTimer();
    if (stopAll) void stopServing(stopAll);
    else launch.abort();
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  stopWhenNpmExits(stop);
  /** An interrupted launch rejects once it has stopped what it started: nothing is left to stop. */
  const unlessInterrupted = (error: unknown): never => {
    if (launch.signal.aborted) process.exit(0);
    throw error;
  };
  if (values.program !== undefined) {
    if (positionals.length > 0)
      throw new UsageError(`--program runs the program's own models: drop ${positionals.join(" ")}`);
    if (
      values.entrypoint !== undefined ||
      values.requirements !== undefined ||
      values["allow-scripts"] !== undefined ||
      values.replicas !== undefined
    ) {
      throw new UsageError(
        "--entrypoint, --requirements, --allow-scripts and --replicas belong to the PREDICTOR form; a program sets them in its BudgetModel args",
      );
    }
    const program = resolveProgram(values.program);
    const config = parseConfig(values.config);
    await ensurePortFree(port);
    process.stderr.write(`budgetml local: running ${program.entry} and booting what it declares…\n`);
    // Loaded once the flags are checked: the engine pulls in Pulumi and the Google provider (seconds).
    const { launchLocalProgram } = await import("./localProgram.js");
    const deployment = await launchLocalProgram({
      program: () => runProgramFile(program.entry),
      project: program.project,
      config,
      port,
      signal: launch.signal,
    }).catch(unlessInterrupted);
    if (deployment.models.length === 0) {
      await deployment.stop();
      throw new UsageError(`${program.entry} declares no BudgetModel: nothing to serve`);
    }
    if (deployment.models.every((model) => model.parked)) {
      await deployment.stop();
      throw new UsageError(`every BudgetModel ${program.entry} declares is parked (running: false): nothing to serve`);
    }
    models = deployment.models;
    stopAll = deployment.stop;
  } else {
    if (values.config !== undefined) throw new UsageError("--config belongs to --program");
    if (positionals.length !== 1)
      throw new UsageError(
        positionals.length === 0
          ? "missing PREDICTOR: budgetml local PREDICTOR, or --program FILE (see --help)"
          : `expected one PREDICTOR, got ${positionals.length}: ${positionals.join(" ")}`,
      );
    const [predictor] = positionals;
    if (!existsSync(predictor)) throw new UsageError(`predictor file not found: ${predictor}`);
    const requirements = splitList(values.requirements);
    const allowScripts = splitList(values["allow-scripts"]);
    const scriptsProblem = allowScripts && allowScriptsFlagProblem(predictor, requirements, allowScripts);
    if (scriptsProblem) throw new UsageError(scriptsProblem);
    const replicas =
      values.replicas === undefined
        ? undefined
        : parseNumberSetting("--replicas", values.replicas, 1, { min: 1, max: MAX_LOCAL_REPLICAS, integer: true });
    await ensurePortFree(port);
    process.stderr.write("budgetml local: building bundles and booting the local instance…\n");
    const { launchLocal } = await import("./launchLocal.js");
    const deployment = await launchLocal({
      predictor,
      entrypoint: values.entrypoint,
      requirements,
      allowScripts,
      port,
      replicas,
      signal: launch.signal,
    }).catch(unlessInterrupted);
    models = [deployment];
    stopAll = deployment.stop;
  }
  if (preemptEverySeconds)
    for (const model of models.filter((m) => !m.parked))
      stopPreempting.push(preemptOnTimer(model, preemptEverySeconds, (line) => process.stderr.write(`${line}\n`)));

  if (values.json) {
    const lines = [
      ...models.map(({ model, url, docsUrl, username, password, parked }) => ({
        model,
        url,
        docsUrl,
        username,
        password,
        parked,
      })),
      ...models.map(({ endpoints }) => ({ endpoints })),
    ];
    process.stdout.write(lines.map((line) => `${JSON.stringify(line)}\n`).join(""));
  } else {
    for (const model of models) process.stdout.write(describe(model));
    process.stdout.write("Ctrl-C stops everything.\n\n");
  }
  // Interrupted as the launch finished: it serves, so it is stopped as a serving one is.
  if (stopping) void stopServing(stopAll);
  return undefined;
}

/** Why `--allow-scripts` does not fit the predictor and `--requirements`: the component's own check, in the flags' words. */
function allowScriptsFlagProblem(
  predictor: string,
  requirements: string[] | undefined,
  allowScripts: string[],
): string | undefined {
  let dependencies: Record<string, string> | undefined;
  try {
    dependencies = parseRequirements(requirements);
  } catch {
    // a malformed requirement is the component's to report, in its own words
  }
  const problem = allowScriptsProblem(allowScripts, { python: extname(predictor) === ".py", dependencies });
  return problem?.replace(/^allowScripts:/, "--allow-scripts:").replace(/the requirements$/, "--requirements");
}

/** A repeatable flag's values, each of which may itself be a comma- or space-separated list. */
function splitList(values: string[] | undefined): string[] | undefined {
  return values?.flatMap((value) => value.split(/[\s,]+/)).filter(Boolean);
}

/** What a person reads: where the model is, how to log in, a first call to try. */
function describe(model: LocalModel): string {
  if (model.parked)
    return `budgetml local: ${model.model} is parked (running: false): its VM stays stopped and ${model.url} does not answer\n\n`;
  return [
    `budgetml local: ${model.model} serving ${model.url}`,
    `  docs:     ${model.docsUrl}`,
    `  username: ${model.username}`,
    `  password: ${model.password}`,
    "",
    "Try it:",
    `  TOKEN=$(curl -s -X POST ${model.url}/token -d 'username=${model.username}&password=${model.password}' | node -pe 'JSON.parse(require("fs").readFileSync(0)).access_token')`,
    `  curl -s -X POST ${model.url}/predict_dict -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"payload": {"text": "I love this"}}'`,
    "",
    "",
  ].join("\n");
}
