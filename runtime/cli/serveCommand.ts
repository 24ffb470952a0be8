import cluster from "node:cluster";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { readServeConfig, UsageError } from "./config";
import { serveWithWorkers } from "../server/workers";
import { withStdinCredentials } from "./stdinCredentials";

export const SERVE_USAGE = `Usage: budgetml serve --predictor FILE [--entrypoint NAME] [--port N] [--workers N] [--host ADDR]
                      [--max-batch-size N] [--max-batch-wait-ms MS]

Serves a predictor over HTTP: POST /token, /predict, /predict_dict, /predict_image; docs at /docs.

  --predictor FILE   .ts/.js/.cjs/.mjs/.py file or gs://bucket/object (env BUDGET_PREDICTOR_PATH;
                     a .py one runs with BUDGET_PYTHON, else python3)
  --entrypoint NAME  exported class name (env BUDGET_PREDICTOR_ENTRYPOINT; default Predictor, else default export)
  --port N           port to listen on (env PORT; default 8080)
  --workers N        worker processes (env BUDGET_WORKERS; default one per core)
  --host ADDR        address to listen on (env BUDGET_HOST; default 0.0.0.0)
  --max-batch-size N       adaptive batching: group up to N concurrent requests into one predictBatch()
                           call (env BUDGET_MAX_BATCH_SIZE; default 1, no batching)
  --max-batch-wait-ms MS   the longest a request waits for others while the model is idle
                           (env BUDGET_MAX_BATCH_WAIT_MS; default 10)

Credentials come from BUDGET_USERNAME, BUDGET_PWD and BUDGET_TOKEN — in the environment, or with
BUDGET_CREDENTIALS=stdin as one JSON object on standard input; when all three are unset, they are
generated and printed once to this terminal.`;

/** `budgetml serve`: returns an exit code for usage errors; otherwise serves until SIGTERM. */
export async function runServe(
  argv: string[],
  processEnv: NodeJS.ProcessEnv = process.env,
): Promise<number | undefined> {
  const { values } = parseArgs({
    args: argv,
    options: {
      predictor: { type: "string" },
      entrypoint: { type: "string" },
      port: { type: "string" },
      workers: { type: "string" },
      host: { type: "string" },
      "max-batch-size": { type: "string" },
      "max-batch-wait-ms": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(`${SERVE_USAGE}\n`);
    return 0;
  }
  const env = withStdinCredentials(processEnv);
  const generated =
    cluster.isPrimary && !env.BUDGET_USERNAME && !env.BUDGET_PWD && !env.BUDGET_TOKEN
      ? generateCredentials(env)
      : false;
  const config = readServeConfig(env, values);
  if (!config.predictorPath.startsWith("gs://") && !existsSync(config.predictorPath)) {
    throw new UsageError(`predictor file not found: ${config.predictorPath}`);
  }
  await serveWithWorkers(config, (port) => {
    const url = `http://localhost:${port}`;
    // To the terminal only, never to the JSON log.
    process.stderr.write(`budgetml: serving ${url} (docs: ${url}/docs)\n`);
    if (generated) process.stderr.write(`budgetml: username ${env.BUDGET_USERNAME}  password ${env.BUDGET_PWD}\n`);
  });
  return undefined;
}

/** Fills in credentials for a quick local run; workers inherit them through the environment. */
function generateCredentials(env: NodeJS.ProcessEnv): true {
  env.BUDGET_USERNAME = "budget";
  env.BUDGET_PWD = randomBytes(12).toString("base64url");
  env.BUDGET_TOKEN = randomBytes(32).toString("hex");
  return true;
}
