import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Duplex, Readable } from "node:stream";
import { ERRORS, HttpError, isClientStatus, predictorRejection } from "../../http/errors";
import type { Logger } from "../../../contracts/cloudLogging";
import { encodeFrames, FrameReader, type Frame } from "./frames";
import { CREDENTIAL_VARIABLES } from "../../../contracts/runtimeCredentials";
import type { RuntimeEnv } from "../../../contracts/runtimeEnvironment";

/** The host script's file name; the runtime bundle ships it as `python/budgetml_host.py`. */
export const PYTHON_HOST_SCRIPT = "budgetml_host.py";

/**
 * Where the host script is: `python/` beside the bundled server.cjs (or dist/cli.js) when run from
 * a build; beside this file when run from source; and, when an entry was compiled in memory
 * (scripts/runTs.cjs, where `__dirname` is the entry's folder), under `runtime/predictor/python/`
 * from the repository's root (`cli.ts`) or from `runtime/cli/` (`main.ts`).
 */
export function pythonHostScript(from: string = __dirname): string {
  const candidates = [
    join(from, "python", PYTHON_HOST_SCRIPT),
    join(from, PYTHON_HOST_SCRIPT),
    join(from, "runtime", "predictor", "python", PYTHON_HOST_SCRIPT),
    join(from, "..", "predictor", "python", PYTHON_HOST_SCRIPT),
  ];
  const found = candidates.find((file) => existsSync(file));
  if (!found) throw new Error(`the Python host script is missing (looked for ${candidates.join(", ")})`);
  return found;
}

/** What a prediction gets while this worker's Python process is being replaced. */
export const pythonRestarting = (): HttpError =>
  new HttpError(ERRORS.BUDGETML_PYTHON_RESTARTING, "The Python predictor is restarting; retry shortly", {
    "Retry-After": "2",
  });

/** The interpreter: `BUDGET_PYTHON` if set, else `python3` on PATH. */
export function pythonInterpreter(env: RuntimeEnv = process.env): string {
  return env.BUDGET_PYTHON || "python3";
}

export interface PythonHostOptions {
  /** The predictor's .py file. */
  predictorPath: string;
  /** Class name. @default "Predictor" */
  entrypoint?: string;
  /** @default {@link pythonInterpreter} */
  python?: string;
  /** The host script. @default {@link pythonHostScript} */
  hostScript?: string;
  logger: Logger;
}

interface PendingCall {
  resolve(frame: Frame): void;
  reject(error: Error): void;
}

/** How a host process ended. */
export interface HostExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const EMPTY = Buffer.alloc(0);

// The channel is the child's fd 3: Node makes it one end of a socket pair, Python wraps it as a socket.
const CHANNEL_FD = 3;
const STOP_GRACE_MS = 5000;

/**
 * One Python process running one predictor, and the calls in flight to it. {@link PythonHost.start}
 * resolves once `load()` has returned in Python; calls then go out as frames on a persistent
 * channel and come back, matched by id, in whatever order Python finishes them.
 */
export class PythonHost {
  private nextId = 1;
  private readonly pending = new Map<number, PendingCall>();
  private stopping = false;
  /** What calls in flight get when the process ends: set by {@link kill}. */
  private failWith: HttpError | undefined;
  /** Frames written since the last flush: sent together once this turn of the event loop is over. */
  private unsent: Frame[] = [];
  private flushScheduled = false;
  /** Settles when the process has ended, however it ended. */
  readonly exited: Promise<HostExit>;

  private constructor(
    private readonly child: ChildProcess,
    private readonly channel: Duplex,
    /** `<file>:<class>`, as the health check reports it. */
    readonly name: string,
    /** Whether the class defines `predict_batch` (a `{"kind": "batch"}` frame runs it). */
    readonly batches: boolean,
    exited: Promise<HostExit>,
  ) {
    this.exited = exited;
  }

  /** Starts the process and waits for the predictor to load; rejects with the reason it did not. */
  static start(options: PythonHostOptions): Promise<PythonHost> {
    const python = options.python ?? pythonInterpreter();
    const child = spawn(
      python,
      [
        "-u",
        options.hostScript ?? pythonHostScript(),
        options.predictorPath,
        options.entrypoint ?? "",
        String(CHANNEL_FD),
      ],
      {
        stdio: ["ignore", "pipe", "pipe", "pipe"],
        env: pythonEnv(process.env),
      },
    );
    const channel = child.stdio[CHANNEL_FD] as Duplex;
    const recentOutput: string[] = [];
    const logLines = (stream: Readable | null, name: string) =>
      forEachLine(stream, (line) => {
        recentOutput.push(line);
        if (recentOutput.length > 20) recentOutput.shift();
        options.logger.info({ python: name, pid: child.pid }, line);
      });
    logLines(child.stdout, "stdout");
    logLines(child.stderr, "stderr");
    const exited = new Promise<HostExit>((resolve) =>
      child.once("exit", (code, signal) => {
        // Answers written just before the exit may still be in the channel: read them first, but
        // never wait long on it — a process the predictor started may hold the channel open.
        const ended = () => resolve({ code, signal });
        if (channel.destroyed || channel.readableEnded) return ended();
        const timer = setTimeout(ended, 200);
        channel.once("close", () => (clearTimeout(timer), ended()));
      }),
    );

    return new Promise<PythonHost>((resolve, reject) => {
      let host: PythonHost | undefined;
      const reader = new FrameReader();
      child.once("error", (error: NodeJS.ErrnoException) =>
        reject(
          new Error(
            error.code === "ENOENT"
              ? `cannot start Python: "${python}" not found (set BUDGET_PYTHON to an interpreter)`
              : `cannot start Python "${python}": ${error.message}`,
          ),
        ),
      );
      channel.on("error", () => undefined); // a broken channel shows up as the process's exit
      channel.on("data", (chunk: Buffer) => {
        let frames: Frame[];
        try {
          frames = reader.push(chunk);
        } catch (error) {
          options.logger.error({ err: error }, "unreadable frame from the Python host; stopping it");
          child.kill("SIGKILL");
          return;
        }
        for (const frame of frames) {
          if (host) host.settle(frame);
          else if (frame.header.op === "ready") {
            host = new PythonHost(child, channel, String(frame.header.name), frame.header.batches === true, exited);
            resolve(host);
          } else if (frame.header.op === "load_failed") {
            const error = new Error(String(frame.header.error));
            error.stack = `${String(frame.header.error)}\n${String(frame.header.traceback ?? "")}`;
            reject(error);
          }
        }
      });
      void exited.then(({ code, signal }) => {
        if (host) return host.failPending(code, signal);
        const output = recentOutput.slice(-5).join(" | ");
        reject(
          new Error(
            `the Python process exited (${signal ?? `code ${code}`}) before the predictor loaded${output ? `: ${output}` : ""}`,
          ),
        );
      });
    });
  }

  /** The process id, for logs (and for tests that need to end it the hard way). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Calls in flight. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Sends one prediction and resolves with Python's answer frame. */
  call(header: Record<string, unknown>, body: Buffer): Promise<Frame> {
    if (this.stopping || this.child.exitCode !== null || this.child.signalCode !== null) {
      return Promise.reject(pythonRestarting());
    }
    const id = this.nextId++;
    return new Promise<Frame>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.unsent.push({ header: { ...header, id }, body });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(this.flush);
      }
    });
  }

  /**
   * Writes the frames of this event-loop turn in one go: every request parsed in the same turn
   * reaches Python in one write, and wakes it once.
   */
  private readonly flush = (): void => {
    this.flushScheduled = false;
    const frames = this.unsent;
    this.unsent = [];
    for (const part of encodeFrames(frames)) this.channel.write(part);
  };

  /** Resolves when the process's event loop answers: it is not stuck, whatever its predictions are doing. */
  ping(): Promise<Frame> {
    return this.call({ kind: "ping" }, EMPTY);
  }

  /**
   * Ends the process at once (SIGKILL). Its calls in flight get `answer` when given, else 500 as
   * for a process that died.
   */
  kill(answer?: HttpError): void {
    if (answer) this.failWith = answer;
    this.child.kill("SIGKILL");
  }

  /** Closes the channel (Python exits once it sees that) and waits; SIGKILL after a grace period. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.channel.end();
    const timer = setTimeout(() => this.child.kill("SIGKILL"), STOP_GRACE_MS);
    await this.exited;
    clearTimeout(timer);
  }

  private settle(frame: Frame): void {
    const id = Number(frame.header.id);
    const call = this.pending.get(id);
    if (!call) return;
    this.pending.delete(id);
    if (frame.header.ok) return call.resolve(frame);
    call.reject(PythonHost.errorOf(frame.header));
  }

  /**
   * The error a failed answer stands for: `{"status": 4xx, "error"}` is the client's (an
   * HTTPException-like error), anything else `predict()` raising, whose traceback goes to the log
   * only (as the error's stack) while the message reaches the client.
   */
  static errorOf(answer: Record<string, unknown>): Error {
    const status = Number(answer.status);
    if (isClientStatus(status)) return predictorRejection(status, String(answer.error));
    const error = new Error(`predict() raised ${String(answer.error)}`);
    error.stack = `${error.message}\n${String(answer.traceback ?? "")}`;
    return error;
  }

  private failPending(code: number | null, signal: NodeJS.Signals | null): void {
    const error =
      this.failWith ??
      new HttpError(
        ERRORS.BUDGETML_PYTHON_EXITED,
        `The Python predictor process exited (${signal ?? `code ${code}`}) during this prediction; it is being restarted`,
      );
    for (const call of this.pending.values()) call.reject(error);
    this.pending.clear();
  }
}

/**
 * The Python process's environment: the runtime's, less its credentials when they came through
 * the environment (the predictor has no use for them, and a print of os.environ must not log them).
 */
function pythonEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const copy: NodeJS.ProcessEnv = { ...env, PYTHONUNBUFFERED: "1", PYTHONDONTWRITEBYTECODE: "1" };
  for (const name of CREDENTIAL_VARIABLES) delete copy[name];
  return copy;
}

/** Calls `onLine` for every line a stream writes. */
function forEachLine(stream: Readable | null, onLine: (line: string) => void): void {
  if (!stream) return;
  let partial = "";
  stream.setEncoding("utf8");
  stream.on("data", (text: string) => {
    const lines = (partial + text).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) if (line.trim()) onLine(line);
  });
  stream.on("end", () => {
    if (partial.trim()) onLine(partial);
  });
}
