import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { ENDPOINT_VARIABLES } from "../contracts/googleEndpoints";
import {
  METADATA_KEYS,
  secretVersionName,
  SHUTDOWN_SCRIPT_KEY,
  STARTUP_SCRIPT_KEY,
} from "../contracts/instanceMetadata";
import { BootedInstance } from "./bootedInstance";
import { hostFunction, type HostedFunction } from "./functionHost";
import { LocalCloud, type DeclaredCommand, type DeclaredFunction, type DeclaredInstance } from "./localCloud";
import { startSchedule } from "./schedulerClock";
import { startComputeFront } from "./standins/computeFront";
import { startComputeServer } from "./standins/computeServer";
import type { MetadataServer } from "./standins/metadataServer";
import { startStandIns } from "./standins/startStandIns";
import { waitForRegistrations } from "./waitForRegistrations";

/** The type token of the component whose instances the local deployment serves. */
const MODEL_TYPE = "budgetml:index:BudgetModel";

/** Options of {@link launchLocalProgram}. */
export interface LocalProgramOptions {
  /** Declares the resources (e.g. `new BudgetModel(...)`), as a Pulumi program's main does. */
  program: () => unknown;
  /** Pulumi project name (config keys without a namespace belong to it). @default "budgetml-local" */
  project?: string;
  /** Config values (`namespace:key` or `key`), as `pulumi config set` would hold them. @default gcp:project and gcp:zone for a local project */
  config?: Record<string, string>;
  /** Port of the first model's endpoint; the next models get the following ports. @default 8080 */
  port?: number;
  /** Real seconds per minute of the scheduler jobs' cron (sped up). @default 1 */
  secondsPerScheduleMinute?: number;
  /** Where progress lines go (never secrets). @default stderr */
  report?: (line: string) => void;
  /**
   * Front each instance with a real Caddy, as on a VM: its port answers plain HTTP through Caddy,
   * which also serves the VM's public site (its hostname, with Caddy's internal CA) on local ports,
   * and a roll-out starts the new runtime beside the old one. Needs `caddy` on PATH. Without it the
   * runtime itself listens on the port and a roll-out stops the old runtime first. @default false
   */
  caddyFront?: boolean;
}

/** One served model. */
export interface LocalModel {
  model: string;
  url: string;
  docsUrl: string;
  username: string;
  password: string;
  /**
   * A parked model (`running: false`): its instance is declared stopped and its scheduler job
   * paused, so it does not serve; the restarter leaves it stopped, as in the cloud.
   */
  parked: boolean;
  /** The environment its VM boots with: the stand-ins' endpoints (metadata server included). */
  endpoints: Record<string, string>;
  /** Preempts the instance now; resolves with the outage in ms once it is serving again. Refused for a parked model. */
  preempt(): Promise<number>;
}

/** A running local deployment of a program. */
export interface LocalProgramDeployment {
  models: LocalModel[];
  /** Every resource the program declared, `type name`. */
  declared: string[];
  /**
   * A second `pulumi up`: evaluates `program` (the same program with other arguments) against what
   * runs, applies what changed as Google applies it — an instance's new metadata replaces its old
   * in one change (the VM's watcher rolls it out), a new secret version is added — runs each health
   * wait whose inputs changed (against the local endpoint) as `pulumi up` runs it, then deletes
   * what the update replaced. Resolves with the models as they now are; rejects as `pulumi up`
   * would fail (a failed program, a health wait that gave up).
   */
  update(program: () => unknown): Promise<LocalModel[]>;
  stop(): Promise<void>;
}

/** How long a start operation runs before it is DONE: long enough that the restarter waits on it (which needs its grant). */
const START_OPERATION_MS = 200;

/** Grants take effect here at once (in the cloud: up to 7 minutes), so the boot retries a 403/404 only briefly. */
const LOCAL_GRANT_PROPAGATION_SECONDS = 3;

/** Restarter timing for a machine where an operation takes milliseconds, not seconds. */
const LOCAL_RESTARTER_TIMING = {
  BUDGET_RESTART_POLL_MS: "200",
  BUDGET_RESTART_BACKOFF_MS: "500",
  BUDGET_RESTART_BUDGET_SECONDS: "20",
};

/**
 * Runs a Pulumi program on this machine: Pulumi's mock engine evaluates it, and {@link LocalCloud}
 * materialises each declared resource. Then every declared instance boots with the metadata it
 * declared (its startup script included) against the stand-ins, as its own service account; every
 * declared function runs from the source archive it declared, with the environment it declared,
 * as its own service account, triggered by its topic; every scheduler job ticks by its cron, sped
 * up. The stand-ins enforce the IAM grants the program declared, so a missing grant fails here as
 * it would in the cloud. Does not change `process.env`.
 */
export async function launchLocalProgram(options: LocalProgramOptions): Promise<LocalProgramDeployment> {
  const report = options.report ?? ((line: string) => process.stderr.write(`${line}\n`));
  const root = mkdtempSync(join(tmpdir(), "budgetml-local-"));
  report(`budgetml local: working in ${root} (removed on exit)`);
  const cleanups: Array<() => unknown> = [() => rmSync(root, { recursive: true, force: true })];
  const stop = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  };
  try {
    const cloud = new LocalCloud(join(root, "buckets"));
    mkdirSync(cloud.bucketsDir, { recursive: true });
    const functions: Array<{ declared: DeclaredFunction; hosted: HostedFunction }> = [];
    const deliver = (topic: string, message: { data: string; attributes: Record<string, string> }) => {
      for (const { declared, hosted } of functions) {
        if (declared.trigger?.topic !== topic) continue;
        // Eventarc pushes to the function's service as the trigger's account, which needs run.invoker there.
        const service = `projects/${declared.project}/locations/${declared.location}/services/${declared.name}`;
        const invoker = declared.trigger.serviceAccount;
        if (!invoker || !cloud.policy.allows(invoker, "run.routes.invoke", service)) {
          report(
            `budgetml local: Eventarc cannot deliver ${topic} to ${declared.name}: ${invoker ?? "no trigger service account"} lacks run.routes.invoke on ${service}`,
          );
          continue;
        }
        hosted
          .deliver(topic, message)
          .catch((error: Error) => report(`budgetml local: delivery to ${declared.name} failed: ${error.message}`));
      }
    };
    const standIns = await startStandIns({
      bucketsDir: cloud.bucketsDir,
      secrets: cloud.secrets,
      access: cloud.policy,
      onPublish: (m) => deliver(m.topic, m),
    });
    cleanups.push(() => standIns.close());

    // Evaluate the program under the mock engine: every resource it declares reaches `cloud`.
    const project = options.project ?? "budgetml-local";
    const config = { "gcp:project": "budgetml-local", "gcp:zone": "us-central1-a", ...(options.config ?? {}) };
    const evaluate = async (program: () => unknown) => {
      await pulumi.runtime.setMocks(cloud.mocks(), project, "local", false);
      for (const [key, value] of Object.entries(config))
        pulumi.runtime.setConfig(key.includes(":") ? key : `${project}:${key}`, value);
      await evaluateProgram(program, () => cloud.declared.length);
    };
    await evaluate(options.program);
    report(
      `budgetml local: ${cloud.declared.length} resources declared; ${cloud.instances.length} instance(s), ${cloud.functions.length} function(s), ${cloud.jobs.length} scheduler job(s)`,
    );

    // Instances: each behind its own Compute stand-in, all behind one Compute endpoint.
    const basePort = options.port ?? 8080;
    const backends = new Map<string, string>();
    const served: Served[] = [];
    // Ports follow the order the program declared its models in (instances register in any order).
    const declaredOrder = (resourceName: string) => {
      const index = cloud.components.findIndex((c) => c.type === MODEL_TYPE && c.name === modelOf(resourceName));
      return index === -1 ? Number.MAX_SAFE_INTEGER : index;
    };
    const instances = [...cloud.instances].sort(
      (a, b) =>
        declaredOrder(a.resourceName) - declaredOrder(b.resourceName) || a.resourceName.localeCompare(b.resourceName),
    );
    for (const [index, declared] of instances.entries()) {
      const port = basePort + index;
      const metadata = await standIns.metadataFor(declared.serviceAccount, {
        projectId: declared.project,
        zone: declared.zone,
        instanceName: declared.name,
        attributes: declared.metadata,
        externalIp: declared.externalIp,
        scheduling: declared.scheduling,
      });
      let failBoot: (error: Error) => void = () => {};
      const bootFailed = new Promise<never>((_, reject) => (failBoot = reject));
      bootFailed.catch(() => {}); // only the first boot's failure fails the launch
      const vmRoot = join(root, "vm", declared.name);
      mkdirSync(vmRoot, { recursive: true });
      const instance = new BootedInstance({
        startupScript: writeScript(vmRoot, declared, STARTUP_SCRIPT_KEY),
        shutdownScript: writeScript(vmRoot, declared, SHUTDOWN_SCRIPT_KEY),
        root: vmRoot,
        env: {
          PATH: process.env.PATH ?? "",
          BUDGET_ROOT: vmRoot,
          BUDGET_SERVICE_MANAGER: "process",
          BUDGET_RUNTIME_PORT: String(port),
          BUDGET_BOOT_RETRY_SECONDS: String(LOCAL_GRANT_PROPAGATION_SECONDS),
          ...(options.caddyFront ? { BUDGET_FRONT: "caddy" } : {}),
          // This machine's interpreter for Python predictors, if the user chose one (a VM uses its python3).
          ...(process.env.BUDGET_PYTHON ? { BUDGET_PYTHON: process.env.BUDGET_PYTHON } : {}),
          ...standIns.environment(metadata),
        },
        onBootFailed: (stderr) => {
          report(`budgetml local: instance ${declared.name} boot failed:\n${stderr.trim()}`);
          failBoot(new Error(`instance ${declared.name} failed to boot: ${bootFailureSummary(stderr)}`));
        },
      });
      cleanups.push(() => instance.stop());
      const compute = await startComputeServer({
        project: declared.project,
        zone: declared.zone,
        instance: declared.name,
        backend: instance,
        access: cloud.policy,
        scheduling: declared.scheduling,
        labels: declared.labels,
        // The VM reads its scheduling from its metadata server at boot, as on Google.
        onSchedulingChange: (scheduling) => metadata.setScheduling(scheduling),
        operationMs: START_OPERATION_MS,
      });
      cleanups.push(() => compute.close());
      backends.set(declared.id, compute.url);
      served.push({
        declared,
        port,
        metadata,
        vmRoot,
        endpoints: standIns.environment(metadata),
        instance,
        bootFailed,
      });
    }
    const computeFront = await startComputeFront(backends);
    cleanups.push(() => computeFront.close());

    // Functions: from their uploaded source, as their own service account.
    for (const declared of cloud.functions) {
      const sourceDir = cloud.archives.get(`${declared.source.bucket}/${declared.source.object}`);
      if (!sourceDir)
        throw new Error(
          `function ${declared.name}: its source gs://${declared.source.bucket}/${declared.source.object} was not uploaded by the program`,
        );
      const metadata = await standIns.metadataFor(declared.serviceAccount, { projectId: declared.project });
      const hosted = await hostFunction({
        name: declared.name,
        sourceDir,
        entryPoint: declared.entryPoint,
        env: {
          ...declared.env,
          ...LOCAL_RESTARTER_TIMING,
          [ENDPOINT_VARIABLES.metadata]: metadata.host,
          [ENDPOINT_VARIABLES.compute]: computeFront.url,
        },
        log: (line) =>
          /"level":(50|60)|Error/.test(line) ? report(`budgetml local: ${declared.name}: ${line}`) : undefined,
      });
      cleanups.push(() => hosted.stop());
      functions.push({ declared, hosted });
    }

    // Scheduler jobs publish as Cloud Scheduler's own service agent, which may publish to any topic
    // of the project. A paused job (a parked model's) never fires.
    const jobs = cloud.jobs.filter((job) => !job.paused);
    const fire = (job: (typeof jobs)[number]) => deliver(job.topic, { data: job.data, attributes: job.attributes });
    for (const job of jobs)
      cleanups.push(startSchedule(job.schedule, options.secondsPerScheduleMinute ?? 1, () => fire(job)));

    // Instances start TERMINATED here: the first start goes through the restarter too.
    for (const job of jobs) fire(job);
    const ready = (port: number, signal?: AbortSignal) => waitForEndpoint(`http://127.0.0.1:${port}/`, 120_000, signal);
    // A first boot that fails (a missing grant, a bad bundle) fails the launch, as `pulumi up`'s health wait would.
    const giveUp = new AbortController();
    await Promise.all(
      served.filter((s) => !parked(s)).map((s) => Promise.race([ready(s.port, giveUp.signal), s.bootFailed])),
    ).finally(() => giveUp.abort());

    const models = () =>
      served.map((s): LocalModel => {
        const url = `http://localhost:${s.port}`;
        const model = modelOf(s.declared.resourceName);
        const secret = s.declared.metadata[METADATA_KEYS.passwordSecret] ?? "";
        return {
          model: cloud.components.some((c) => c.type === MODEL_TYPE && c.name === model)
            ? model
            : s.declared.resourceName,
          url,
          docsUrl: `${url}/docs`,
          username: s.declared.metadata[METADATA_KEYS.username] ?? "",
          password: secretValue(cloud.secrets, secret) ?? "",
          parked: parked(s),
          endpoints: s.endpoints,
          async preempt() {
            if (parked(s))
              throw new Error(
                `${modelOf(s.declared.resourceName)} is parked (running: false): there is nothing to preempt`,
              );
            const killedAt = Date.now();
            await s.instance.preempt(); // runs the shutdown script, whose signal reaches the restarter
            await ready(s.port);
            return Date.now() - killedAt;
          },
        };
      });

    const update = async (program: () => unknown): Promise<LocalModel[]> => {
      const before = { functions: JSON.stringify(cloud.functions), jobs: JSON.stringify(cloud.jobs) };
      cloud.beginUpdate();
      await evaluate(program);
      for (const s of served) {
        const declared = cloud.instances.find((i) => i.resourceName === s.declared.resourceName);
        if (!declared || declared.id !== s.declared.id)
          throw new Error(
            `${s.declared.resourceName}: the update replaces or removes the instance, which budgetml local does not do; start it anew`,
          );
        applyInstanceChange(s, declared, report);
      }
      if (cloud.instances.length > served.length)
        throw new Error("the update declares a new instance, which budgetml local does not start; start it anew");
      // Left as they run (their changes are recorded, not applied here yet): functions and scheduler jobs.
      if (JSON.stringify(cloud.functions) !== before.functions || JSON.stringify(cloud.jobs) !== before.jobs)
        report("budgetml local: the restarter's function or schedule changed; the running ones are kept as they were");
      for (const command of cloud.commands.filter((c) => c.changed)) {
        const target = served.find((s) => `${modelOf(s.declared.resourceName)}-wait-healthy` === command.name);
        if (target && !parked(target)) await runHealthWait(command, target.port, options.caddyFront === true);
      }
      cloud.finishUpdate();
      return models();
    };
    return { models: models(), declared: cloud.declared, update, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** An instance the local deployment runs: as last declared, and what runs it. */
interface Served {
  declared: DeclaredInstance;
  port: number;
  metadata: MetadataServer;
  vmRoot: string;
  endpoints: Record<string, string>;
  instance: BootedInstance;
  bootFailed: Promise<never>;
}

/** A BudgetModel's endpoint is its child `<model>-instance`. */
const modelOf = (resourceName: string) => resourceName.replace(/-instance$/, "");

/** A parked model's instance is declared stopped (`running: false`). */
const parked = (s: Served) => s.declared.desiredStatus === "TERMINATED";

/** Writes one of the instance's boot scripts (from its declared metadata) where the local "VM" runs it from. */
function writeScript(vmRoot: string, declared: DeclaredInstance, key: string): string {
  const file = join(vmRoot, `${key}.sh`);
  writeFileSync(file, declared.metadata[key] ?? "#!/bin/sh\n");
  return file;
}

/** The value of the secret version `name` (a secret alone: its latest), if it exists and is not destroyed. */
function secretValue(secrets: Record<string, Array<string | undefined>>, name: string): string | undefined {
  const version = secretVersionName(name);
  const secret = version.replace(/\/versions\/[^/]+$/, "");
  const versions = secrets[secret] ?? [];
  const number = version.endsWith("/latest") ? versions.length : Number(version.split("/").pop());
  return versions[number - 1];
}

/**
 * Applies an update to a running instance as Google does. Its metadata is updated in place
 * (`instances.setMetadata` replaces the whole list at once; the VM's watcher rolls out what
 * changed), and the boot scripts it names are what its next boot runs.
 */
function applyInstanceChange(s: Served, declared: DeclaredInstance, report: (line: string) => void): void {
  if (JSON.stringify(declared.metadata) !== JSON.stringify(s.declared.metadata)) {
    writeScript(s.vmRoot, declared, STARTUP_SCRIPT_KEY);
    writeScript(s.vmRoot, declared, SHUTDOWN_SCRIPT_KEY);
    s.metadata.replaceAttributes(declared.metadata);
  }
  // Scheduling (provisioning) and status changes go through the Compute stand-in, as Google applies
  // them to a running instance; not applied by an update here yet.
  for (const field of ["scheduling", "desiredStatus", "externalIp", "serviceAccount"] as const)
    if (JSON.stringify(declared[field]) !== JSON.stringify(s.declared[field]))
      report(`budgetml local: ${declared.name}: a change of ${field} is not applied to the running instance`);
  s.declared = declared;
}

/**
 * Runs a declared health wait as `pulumi up` runs it when its inputs changed — its own interpreter,
 * script and environment — pointed at the local endpoint instead of the public URL. Without a Caddy
 * front nothing sends the front's header, so only the runtime's answer is checked then.
 */
async function runHealthWait(command: DeclaredCommand, port: number, caddyFront: boolean): Promise<void> {
  const { BUDGET_EXPECTED_FRONT: front, ...environment } = command.environment;
  const [interpreter, ...args] = command.interpreter;
  const child = spawn(interpreter === "node" ? process.execPath : interpreter, [...args, command.create], {
    env: {
      PATH: process.env.PATH,
      ...environment,
      ...(caddyFront && front ? { BUDGET_EXPECTED_FRONT: front } : {}),
      BUDGET_HEALTH_URL: `http://127.0.0.1:${port}/`,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk) => (output += chunk));
  child.stderr.on("data", (chunk) => (output += chunk));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  if (code !== 0) throw new Error(`${command.name} failed: ${output.trim()}`);
}

/**
 * Runs the program and waits for everything it declares. An error thrown inside an `apply` (an
 * output checked once known, such as a BudgetModel's domain) reaches no caller: Pulumi's language
 * host reports such errors as the program's failure, and so does this.
 */
async function evaluateProgram(program: () => unknown, declared: () => number): Promise<void> {
  let onRejection: (reason: unknown) => void = () => {};
  // The failure ends the wait at once, whatever the registrations still in flight do.
  const failed = new Promise<never>((_, reject) => {
    // Pulumi wraps the error in where it happened ("error serializing property "outputs": …"); the user's words are inside.
    const reasonOf = (reason: unknown) =>
      (reason instanceof Error ? reason.message : String(reason)).replace(
        /^(error serializing property "[^"]*": )+/,
        "",
      );
    onRejection = (reason) => reject(new Error(`the program failed: ${reasonOf(reason)}`));
  });
  process.on("unhandledRejection", onRejection);
  try {
    await Promise.race([
      (async () => {
        await program();
        await waitForRegistrations(declared);
      })(),
      failed,
    ]);
  } finally {
    process.off("unhandledRejection", onRejection);
  }
}

/** The line of a failed boot's log that says why, with Google's message pulled out of an error body. */
function bootFailureSummary(stderr: string): string {
  const lines = stderr.trim().split("\n");
  const failed = lines.filter((line) => /FAILED/.test(line)).pop() ?? lines.pop() ?? "no output";
  const googleMessage = /"message":"((?:[^"\\]|\\.)*)"/.exec(failed)?.[1];
  return googleMessage ? `${failed.slice(0, failed.indexOf("{")).trim()} ${googleMessage}` : failed;
}

/** Resolves when `url` answers 200; rejects after `timeoutMs`; stops quietly once `signal` aborts. */
async function waitForEndpoint(url: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
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
