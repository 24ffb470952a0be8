import { spawn, type ChildProcess } from "node:child_process";
import { get, request } from "node:http";
import { isAbsolute, join } from "node:path";
import { splitCredentials } from "../../contracts/runtimeCredentials";
import { RUNTIME_TARGET, serveCommand, type RuntimeTarget } from "./runtimeTarget";
import { waitFor } from "./waitFor";

export const USERNAME = "budget";
export const PASSWORD = "correct horse battery staple";
export const SIGNING_KEY = "0123456789abcdef0123456789abcdef";

const FIXTURES = join(__dirname, "..", "fixtures");

/** The environment every test runtime gets, before its own settings: the credentials and a drain window. */
export const TEST_RUNTIME_ENV = {
  BUDGET_USERNAME: USERNAME,
  BUDGET_PWD: PASSWORD,
  BUDGET_TOKEN: SIGNING_KEY,
  BUDGET_DRAIN_SECONDS: "10",
};

/** A predictor given as a file under tests/fixtures, or an absolute path. */
export const fixturePath = (predictor: string) => (isAbsolute(predictor) ? predictor : join(FIXTURES, predictor));

/** Options of {@link startTestRuntime}. */
export interface RuntimeTestOptions {
  /** Runtime settings as the VM passes them (`BUDGET_MAX_IN_FLIGHT`, …), besides the credentials. @default none */
  env?: Record<string, string>;
  /** Exported predictor class. @default the runtime's default */
  entrypoint?: string;
  /** Worker processes. @default 1 */
  workers?: number;
  /** The port to listen on, as on the VM (workers that all died re-listen on it). @default a free one (port 0) */
  port?: number;
  /**
   * Start it as the VM's systemd unit does: every setting in the environment (the predictor in
   * `BUDGET_PREDICTOR_PATH`, `PORT`, `BUDGET_HOST`), no flags, so one worker per core, and the
   * credentials on standard input (contracts/runtimeCredentials.ts). `workers` is ignored.
   * @default false
   */
  asOnTheVm?: boolean;
}

/** A runtime listening on 127.0.0.1, in a process of its own or in the test's (tests/support/inProcessRuntime.ts). */
export interface RuntimeUnderTest {
  url: string;
  /** The JSON log lines the runtime has written so far. */
  logLines: string[];
  token(): Promise<string>;
  /** The value of one Prometheus sample from /metrics, e.g. `budgetml_predictions_in_flight`: the whole server's, every worker's merged. */
  metric(sample: string): Promise<number>;
  /** Several samples from one scrape, in the order asked. */
  metrics(...samples: string[]): Promise<number[]>;
  /** Stops it and waits until it has. */
  close(): Promise<void>;
}

/** A `serve` process on 127.0.0.1, for the current {@link RUNTIME_TARGET}. */
export interface TestRuntime extends RuntimeUnderTest {
  target: RuntimeTarget;
  child: ChildProcess;
  /** The JSON log lines the process has written to stdout so far. */
  logLines: string[];
  /** What the process has written to stderr so far (terminal messages). */
  stderr(): string;
  /** Resolves when the process exits. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then waits for the exit (SIGKILL after 15 s). */
  close(): Promise<void>;
}

/**
 * Starts the runtime on a free port with `predictor` (a file under tests/fixtures, or an absolute
 * path) and resolves once it is listening and the predictor has loaded (or failed to).
 */
export async function startTestRuntime(predictor: string, options: RuntimeTestOptions = {}): Promise<TestRuntime> {
  const { args, cwd } = serveCommand();
  const predictorPath = fixturePath(predictor);
  const flags = [
    "--predictor",
    predictorPath,
    "--port",
    String(options.port ?? 0),
    "--host",
    "127.0.0.1",
    "--workers",
    String(options.workers ?? 1),
  ];
  if (options.entrypoint) flags.push("--entrypoint", options.entrypoint);
  const settings: Record<string, string> = { ...TEST_RUNTIME_ENV, ...options.env };
  const onTheVm = options.asOnTheVm
    ? splitCredentials({
        ...settings,
        BUDGET_PREDICTOR_PATH: predictorPath,
        ...(options.entrypoint ? { BUDGET_PREDICTOR_ENTRYPOINT: options.entrypoint } : {}),
        PORT: "0",
        BUDGET_HOST: "127.0.0.1",
      })
    : undefined;
  const child = spawn(process.execPath, onTheVm ? args : [...args, ...flags], {
    cwd,
    env: { PATH: process.env.PATH, ...(onTheVm ? onTheVm.env : settings) },
    stdio: [onTheVm ? "pipe" : "ignore", "pipe", "pipe"],
  });
  if (onTheVm) child.stdin!.end(onTheVm.stdin);
  const logLines: string[] = [];
  let stdoutRest = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    const lines = (stdoutRest + chunk).split("\n");
    stdoutRest = lines.pop() ?? "";
    logLines.push(...lines.filter(Boolean));
  });
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );

  const port = await Promise.race([
    waitFor(() => /serving http:\/\/localhost:(\d+)/.exec(stderr)?.[1], {
      timeoutMs: 20_000,
      what: `the ${RUNTIME_TARGET} runtime to listen`,
    }),
    exited.then(({ code }) =>
      Promise.reject(new Error(`the ${RUNTIME_TARGET} runtime exited ${code} before listening:\n${stderr}`)),
    ),
  ]);
  const url = `http://127.0.0.1:${port}`;
  // Listening comes before load(); wait until health leaves "starting".
  await waitFor(async () => ((await (await fetch(`${url}/`)).json()) as { status: string }).status !== "starting", {
    what: "the predictor to load",
  });

  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(killer);
    }
  };
  return {
    url,
    target: RUNTIME_TARGET,
    child,
    logLines,
    stderr: () => stderr,
    exited,
    token: () => login(url),
    metric: async (sample) => (await scrape(url, [sample]))[0],
    metrics: (...samples) => scrape(url, samples),
    close,
  };
}

/** Reads `samples` from one /metrics scrape on a new connection. */
export async function scrape(url: string, samples: string[]): Promise<number[]> {
  const lines = (await getOnNewConnection(`${url}/metrics`, await login(url))).split("\n");
  return samples.map((sample) => {
    const line = lines.find((l) => l.startsWith(`${sample} `));
    if (!line) throw new Error(`no sample ${sample} in /metrics`);
    return Number(line.slice(line.lastIndexOf(" ") + 1));
  });
}

/**
 * GET with a bearer token on a connection of its own: the cluster hands each new connection to the
 * next worker in turn, so consecutive calls reach every worker (a kept-alive one reaches only one).
 */
export function getOnNewConnection(url: string, token: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false, headers: { authorization: `Bearer ${token}` } }, (response) => {
      let body = "";
      response
        .setEncoding("utf8")
        .on("data", (chunk: string) => (body += chunk))
        .on("end", () => resolve(body));
    }).on("error", reject);
  });
}

/** The seed's documented client flow: a form with every OAuth2 field, most of them empty. */
export async function login(url: string, username = USERNAME, password = PASSWORD): Promise<string> {
  const response = await fetch(`${url}/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "", username, password, scope: "", client_id: "", client_secret: "" }),
  });
  if (response.status !== 200) throw new Error(`login failed: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { access_token: string }).access_token;
}

export const json = (token: string, body: unknown): RequestInit => ({
  method: "POST",
  headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
  body: JSON.stringify(body),
});

/** POST /token from a chosen loopback source address, with an X-Forwarded-For header. */
export function loginFrom(url: string, localAddress: string, forwardedFor: string, password: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const body = new URLSearchParams({ username: USERNAME, password }).toString();
    const req = request(
      `${url}/token`,
      {
        method: "POST",
        localAddress,
        agent: false,
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          "x-forwarded-for": forwardedFor,
          "content-length": Buffer.byteLength(body),
        },
      },
      (res) => {
        res.resume().on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", reject).end(body);
  });
}
