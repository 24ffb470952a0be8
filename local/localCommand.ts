import { existsSync } from "node:fs";
import { basename } from "node:path";
import { createServer } from "node:net";
import { parseArgs } from "node:util";
import { UsageError } from "../runtime/config";
import { launchLocal } from "./launchLocal";
import { stopWhenNpmExits } from "./stopWhenNpmExits";

export const LOCAL_USAGE = `Usage: budgetml local PREDICTOR [--entrypoint NAME] [--requirements PKG...] [--port N] [--preempt-every SECONDS] [--json]

Runs the whole deployment on this machine, no cloud account needed: the VM's boot path against
local stand-ins of Google's services, and the restarter bringing the instance back when it dies.

  --entrypoint NAME        exported predictor class (default Predictor, else the default export)
  --requirements PKG...    npm packages to install beside the predictor, as on the VM
  --port N                 port of the endpoint (default 8080)
  --preempt-every SECONDS  kill the instance on a timer to watch it come back
  --json                   when ready, print JSON lines instead: one per model, then
                           {"endpoints": {...}}, the environment a VM boots against this cloud with`;

const positiveNumber = (flag: string, raw: string | undefined, max: number) => {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0 || value > max) throw new UsageError(`${flag} must be a number from 1 to ${max}, got "${raw}"`);
  return value;
};

/** Fails at once, with the fix, when the endpoint's port is taken (rather than after a boot). */
async function ensurePortFree(port: number): Promise<void> {
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once("error", (error: NodeJS.ErrnoException) =>
      reject(error.code === "EADDRINUSE" ? new UsageError(`port ${port} is already in use: pass --port with a free one`) : error),
    );
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolve()));
  });
}

/** `budgetml local`: serves until Ctrl-C / SIGTERM, then removes everything it started. */
export async function runLocal(argv: string[]): Promise<number | undefined> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      entrypoint: { type: "string" },
      requirements: { type: "string", multiple: true },
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
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? "missing PREDICTOR: budgetml local PREDICTOR (see --help)" : `expected one PREDICTOR, got ${positionals.length}: ${positionals.join(" ")}`);
  const [predictor] = positionals;
  if (!existsSync(predictor)) throw new UsageError(`predictor file not found: ${predictor}`);
  const port = positiveNumber("--port", values.port, 65535);
  if (port !== undefined && !Number.isInteger(port)) throw new UsageError(`--port must be a whole number, got "${values.port}"`);
  const requirements = values.requirements?.flatMap((r) => r.split(/[\s,]+/)).filter(Boolean);
  await ensurePortFree(port ?? 8080);

  process.stderr.write("budgetml local: building bundles and booting the local instance…\n");
  const deployment = await launchLocal({ predictor, entrypoint: values.entrypoint, requirements, port, preemptEverySeconds: positiveNumber("--preempt-every", values["preempt-every"], 86_400) });
  if (values.json) {
    const model = { model: basename(predictor).replace(/\.[^.]+$/, ""), url: deployment.url, docsUrl: deployment.docsUrl, username: deployment.username, password: deployment.password };
    process.stdout.write(`${JSON.stringify(model)}\n${JSON.stringify({ endpoints: deployment.endpoints })}\n`);
  } else process.stdout.write(
    [
      `budgetml local: serving ${deployment.url}`,
      `  docs:     ${deployment.docsUrl}`,
      `  username: ${deployment.username}`,
      `  password: ${deployment.password}`,
      "",
      "Try it:",
      `  TOKEN=$(curl -s -X POST ${deployment.url}/token -d 'username=${deployment.username}&password=${deployment.password}' | node -pe 'JSON.parse(require("fs").readFileSync(0)).access_token')`,
      `  curl -s -X POST ${deployment.url}/predict_dict -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"payload": {"text": "I love this"}}'`,
      "",
      "Ctrl-C stops everything.",
      "",
    ].join("\n"),
  );
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    process.stderr.write("budgetml local: stopping…\n");
    deployment.stop().then(() => process.exit(0), () => process.exit(1));
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  stopWhenNpmExits(stop);
  return undefined;
}
