import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SHUTDOWN_SCRIPT_KEY, STARTUP_SCRIPT_KEY } from "../contracts/instanceMetadata";
import { BootedInstance } from "./bootedInstance";
import type { MetadataServer } from "./standins/metadataServer";
import type { StandIns } from "./standins/startStandIns";

/** Grants take effect here at once (in the cloud: up to 7 minutes), so the boot retries a 403/404 only briefly. */
export const LOCAL_GRANT_PROPAGATION_SECONDS = 3;

/** A local "VM" ready to boot: its instance and the environment it boots with. */
export interface LocalVm {
  instance: BootedInstance;
  /** The environment pointing its boot at the stand-ins (metadata server included). */
  endpoints: Record<string, string>;
}

/**
 * A declared VM (an instance, or a group's replica) as the local engine boots it: its startup and
 * shutdown scripts *from its metadata* written under its own root, run with the VM's boot in
 * process mode against the stand-ins, as the machine identity `metadata` answers for, its endpoint
 * on `port`.
 */
export function localVm(options: {
  standIns: StandIns;
  metadata: MetadataServer;
  attributes: Record<string, string>;
  root: string;
  port: number;
  /** More environment for its boot (e.g. `BUDGET_FRONT`). @default none */
  env?: Record<string, string>;
  onBootFailed: (stderr: string) => void;
}): LocalVm {
  const scripts = writeBootScripts(options.root, options.attributes);
  const endpoints = options.standIns.environment(options.metadata);
  const instance = new BootedInstance({
    startupScript: scripts.startup,
    shutdownScript: scripts.shutdown,
    root: options.root,
    env: {
      PATH: process.env.PATH ?? "",
      BUDGET_ROOT: options.root,
      BUDGET_SERVICE_MANAGER: "process",
      BUDGET_RUNTIME_PORT: String(options.port),
      BUDGET_BOOT_RETRY_SECONDS: String(LOCAL_GRANT_PROPAGATION_SECONDS),
      // This machine's interpreter for Python predictors, if the user chose one (a VM uses its python3).
      ...(process.env.BUDGET_PYTHON ? { BUDGET_PYTHON: process.env.BUDGET_PYTHON } : {}),
      ...options.env,
      ...endpoints,
    },
    onBootFailed: options.onBootFailed,
  });
  return { instance, endpoints };
}

/**
 * Writes the VM's boot scripts from its metadata under `root`, where its boots run them from (a
 * metadata change rewrites them: Google runs the scripts the metadata names at the next boot).
 */
export function writeBootScripts(
  root: string,
  attributes: Record<string, string>,
): { startup: string; shutdown: string } {
  mkdirSync(root, { recursive: true });
  const script = (key: string) => {
    const file = join(root, `${key}.sh`);
    writeFileSync(file, attributes[key] ?? "#!/bin/sh\n");
    return file;
  };
  return { startup: script(STARTUP_SCRIPT_KEY), shutdown: script(SHUTDOWN_SCRIPT_KEY) };
}

/** The line of a failed boot's log that says why, with Google's message pulled out of an error body. */
export function bootFailureSummary(stderr: string): string {
  const lines = stderr.trim().split("\n");
  const failed = lines.filter((line) => /FAILED/.test(line)).pop() ?? lines.pop() ?? "no output";
  const googleMessage = /"message":"((?:[^"\\]|\\.)*)"/.exec(failed)?.[1];
  return googleMessage ? `${failed.slice(0, failed.indexOf("{")).trim()} ${googleMessage}` : failed;
}

/** Resolves when `url` answers 200; rejects after `timeoutMs`; stops quietly once `signal` aborts. */
export async function waitForEndpoint(url: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (signal?.aborted) return;
    if (
      await fetch(url).then(
        (r) => r.status === 200,
        () => false,
      )
    )
      return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`the local instance did not become ready at ${url} within ${timeoutMs / 1000} s`);
}
