// Test-only: a runtime serving a Python predictor, either from source (createApp + the loader, in
// this process) or as the VM runs it (server.cjs from the built runtime bundle, as a process).
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { extract } from "tar";
import { buildRuntimeBundle } from "../../bundles/runtimeBundle";
import { createApp } from "../../runtime/app";
import { loadPredictor } from "../../runtime/loader";
import { createLogger } from "../../runtime/logger";
import type { PythonPredictor } from "../../runtime/python/pythonPredictor";
import { PASSWORD, SIGNING_KEY, USERNAME } from "../support/runtimeServer";

export interface PythonRuntime {
  url: string;
  logLines: string[];
  /** Resolves with the first log line matching, as soon as it is written. */
  waitForLog(pattern: RegExp): Promise<string>;
  close(): Promise<void>;
  /** Bundle runtimes only: the server's process group (its pid) and its exit code once it ends. */
  group?: { pid: number; exited: Promise<number | null> };
}

export interface PythonRuntimeOptions {
  entrypoint?: string;
  workers?: number;
  env?: Record<string, string>;
}

export type RuntimeKind = "source" | "bundle";

/** Starts a runtime on 127.0.0.1:0 serving `predictor`, and waits until it is no longer `starting`. */
export async function startPythonRuntime(kind: RuntimeKind, predictor: string, options: PythonRuntimeOptions = {}): Promise<PythonRuntime> {
  const runtime = kind === "source" ? await fromSource(predictor, options) : await fromBundle(predictor, options);
  try {
    while (((await (await fetch(`${runtime.url}/`)).json()) as { status: string }).status === "starting") await new Promise((r) => setTimeout(r, 50));
  } catch (error) {
    await runtime.close();
    throw error;
  }
  return runtime;
}

function logCollector() {
  const logLines: string[] = [];
  const waiters: Array<{ pattern: RegExp; resolve(line: string): void }> = [];
  const add = (text: string) => {
    for (const line of text.split("\n").filter(Boolean)) {
      logLines.push(line);
      for (const waiter of [...waiters]) if (waiter.pattern.test(line)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  };
  const waitForLog = (pattern: RegExp) =>
    new Promise<string>((resolve) => {
      const found = logLines.find((line) => pattern.test(line));
      if (found) resolve(found);
      else waiters.push({ pattern, resolve });
    });
  return { logLines, add, waitForLog };
}

async function fromSource(predictor: string, options: PythonRuntimeOptions): Promise<PythonRuntime> {
  const { logLines, add, waitForLog } = logCollector();
  const destination = new Writable({ write: (chunk, _encoding, done) => (add(String(chunk)), done()) });
  const saved = { ...process.env };
  Object.assign(process.env, options.env);
  let loaded: PythonPredictor | undefined;
  const runtime = createApp({
    credentials: { username: USERNAME, password: PASSWORD },
    tokenSigningKey: SIGNING_KEY,
    logger: createLogger({ destination }),
    loadPredictor: async (logger) => {
      const result = await loadPredictor(predictor, options.entrypoint, logger);
      loaded = result.instance as PythonPredictor;
      return result;
    },
  });
  await runtime.loaded;
  for (const name of Object.keys(options.env ?? {})) if (saved[name] === undefined) delete process.env[name]; else process.env[name] = saved[name];
  const server = createServer(runtime.handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    logLines,
    waitForLog,
    close: async () => {
      await loaded?.stop();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

let bundleDir: Promise<string> | undefined;

/** The runtime bundle, built and extracted once per test file. */
export function extractedRuntimeBundle(): Promise<string> {
  return (bundleDir ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), "budgetml-python-runtime-"));
    const bundle = await buildRuntimeBundle(join(dir, "out"));
    await extract({ file: bundle.file, cwd: dir });
    return dir;
  })());
}

/** Removes the extracted bundle (call in afterAll). */
export async function removeRuntimeBundle(): Promise<void> {
  if (bundleDir) await rm(await bundleDir, { recursive: true, force: true });
  bundleDir = undefined;
}

/** The runtime as the VM starts it: `node server.cjs serve`, in its own process group. */
async function fromBundle(predictor: string, options: PythonRuntimeOptions): Promise<PythonRuntime> {
  const dir = await extractedRuntimeBundle();
  const { logLines, add, waitForLog } = logCollector();
  const args = [join(dir, "server.cjs"), "serve", "--predictor", predictor, "--port", "0", "--host", "127.0.0.1", "--workers", String(options.workers ?? 1)];
  if (options.entrypoint) args.push("--entrypoint", options.entrypoint);
  const child = spawn(process.execPath, args, {
    cwd: dir,
    detached: true, // its own process group, as under systemd: a stop signals every process in it
    env: { PATH: process.env.PATH, HOME: process.env.HOME, BUDGET_USERNAME: USERNAME, BUDGET_PWD: PASSWORD, BUDGET_TOKEN: SIGNING_KEY, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout.setEncoding("utf8").on("data", add);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (text: string) => {
      stderr += text;
      const match = /serving http:\/\/localhost:(\d+)/.exec(stderr);
      if (match) resolve(`http://127.0.0.1:${match[1]}`);
    });
    void exited.then((code) => reject(new Error(`server.cjs exited ${code}: ${stderr}`)));
  });
  return {
    url,
    logLines,
    waitForLog,
    group: { pid: child.pid as number, exited },
    close: async () => {
      if (child.exitCode === null && child.signalCode === null) process.kill(-(child.pid as number), "SIGKILL");
      await exited;
    },
  };
}
