import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { ENDPOINT_VARIABLES, PROJECT_VARIABLE } from "../contracts/googleEndpoints";
import { METADATA_KEYS } from "../contracts/instanceMetadata";
import { freePort } from "../images/vm/services";
import { GPU_STANDIN_VARIABLE, gpusOf } from "../contracts/accelerators";
import type { BootedInstance } from "./bootedInstance";
import { hostFunction, type HostedFunction } from "./functionHost";
import { LocalCloud, type DeclaredCommand, type DeclaredFunction, type DeclaredInstance } from "./localCloud";
import { bootFailureSummary, localVm, waitForEndpoint, writeBootScripts } from "./localVm";
import { serveReplicatedModel, type ServedReplicatedModel } from "./replicatedModel";
import { startSchedule } from "./schedulerClock";
import { secretValue } from "./secretValue";
import { startComputeFront } from "./standins/computeFront";
import { startComputeServer } from "./standins/computeServer";
import { loadBalancingRefusals, unadmittedHealthChecks } from "./standins/loadBalancingRules";
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
  /**
   * Interrupts the launch (Ctrl-C while it boots): what it started so far is stopped and its files
   * removed, then it rejects with {@link LaunchInterrupted}. @default never interrupted
   */
  signal?: AbortSignal;
}

/** Why {@link launchLocalProgram} rejected when its `signal` aborted: it stopped what it had started. */
export class LaunchInterrupted extends Error {
  constructor() {
    super("budgetml local: interrupted before the deployment was ready; everything it started is stopped");
  }
}

/** One served model. */
export interface LocalModel {
  /** The model's name: the `BudgetModel`'s resource name. */
  model: string;
  /** The local endpoint's base URL (`http://localhost:<port>`). */
  url: string;
  /** Swagger UI: `<url>/docs`. */
  docsUrl: string;
  /** The login name the model was declared with. */
  username: string;
  /** The password: declared, or generated as in the cloud. */
  password: string;
  /**
   * A parked model (`running: false`): its instance is declared stopped and its scheduler job
   * paused, so it does not serve; the restarter leaves it stopped, as in the cloud.
   */
  parked: boolean;
  /** The environment its VM boots with: the stand-ins' endpoints (metadata server included). */
  endpoints: Record<string, string>;
  /** With `replicas`: how many replicas serve (the group's minimum). */
  replicas?: number;
  /**
   * Preempts the instance now; resolves with the outage in ms once it is serving again. With
   * replicas, preempts one spot replica and resolves once its group is whole again (the endpoint
   * keeps serving meanwhile). Refused for a parked model; rejects once the deployment stops.
   */
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
   * would fail (a failed program, a health wait that gave up). Replicated models are not updated
   * here: an update of a program that serves one is refused (start it anew).
   */
  update(program: () => unknown): Promise<LocalModel[]>;
  stop(): Promise<void>;
}

/** How long a start operation runs before it is DONE: long enough that the restarter waits on it (which needs its grant). */
const START_OPERATION_MS = 200;

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
  // A preemption under way stops waiting for its instance once the deployment stops.
  const stopped = new AbortController();
  const stop = async () => {
    stopped.abort();
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  };
  // Checked after each step, once what the step started is among the cleanups: an interrupted
  // launch then stops all of it (a step raced against the signal could start something after).
  const notInterrupted = () => {
    if (options.signal?.aborted) throw new LaunchInterrupted();
  };
  try {
    notInterrupted();
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
    notInterrupted();

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
    notInterrupted();
    report(
      `budgetml local: ${cloud.declared.length} resources declared; ${cloud.instances.length} instance(s), ${cloud.functions.length} function(s), ${cloud.jobs.length} scheduler job(s)${cloud.loadBalancing.groups.length > 0 ? `, ${cloud.loadBalancing.groups.length} managed instance group(s)` : ""}`,
    );

    // What Google would refuse fails here, before anything boots, as it would fail `pulumi up`.
    const servedBackends = cloud.loadBalancing.servedBackendServices();
    const refused = [
      ...loadBalancingRefusals(cloud.loadBalancing).map(({ resource, message }) => `${resource}: ${message}`),
      ...servedBackends.flatMap((backend) =>
        unadmittedHealthChecks(backend, cloud.loadBalancing).map((why) => `${backend.resourceName}: ${why}`),
      ),
    ];
    if (refused.length > 0)
      throw new Error(`Google would not serve what the program declares:\n  ${refused.join("\n  ")}`);

    // Endpoints: every instance behind its own Compute stand-in, all behind one Compute endpoint;
    // every load-balanced backend service (a replicated model) as its groups behind a local load balancer.
    const basePort = options.port ?? 8080;
    const backends = new Map<string, string>();
    const served: Served[] = [];
    const replicated: ServedReplicatedModel[] = [];
    // Ports follow the order the program declared its models in (resources register in any order).
    const declaredOrder = (resourceName: string) => {
      const index = cloud.components.findIndex((c) => c.type === MODEL_TYPE && c.name === modelOf(resourceName));
      return index === -1 ? Number.MAX_SAFE_INTEGER : index;
    };
    const endpointsToServe = [
      ...cloud.instances.map((instance) => ({ resourceName: instance.resourceName, instance })),
      ...servedBackends.map((backend) => ({ resourceName: backend.resourceName, backend })),
    ].sort(
      (a, b) =>
        declaredOrder(a.resourceName) - declaredOrder(b.resourceName) || a.resourceName.localeCompare(b.resourceName),
    );
    for (const [index, endpoint] of endpointsToServe.entries()) {
      notInterrupted();
      const port = basePort + index;
      if ("backend" in endpoint) {
        const model = await serveReplicatedModel({
          declared: cloud.loadBalancing,
          backend: endpoint.backend,
          secrets: cloud.secrets,
          standIns,
          port,
          root,
          freePort,
          report,
        });
        cleanups.push(() => model.stop());
        replicated.push(model);
        continue;
      }
      const declared = endpoint.instance;
      const gpus = gpusOf(declared.machineType, declared.guestAccelerators[0]);
      if (gpus)
        report(
          `budgetml local: ${modelOf(declared.resourceName)} declares ${gpus.count} × ${gpus.type} (${declared.machineType}); no GPU here: it serves on this machine's CPU (deployed, the VM installs the NVIDIA driver and checks its GPUs with nvidia-smi before serving)`,
        );
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
      const { instance, endpoints } = localVm({
        standIns,
        metadata,
        attributes: declared.metadata,
        root: vmRoot,
        port,
        env: {
          ...(options.caddyFront ? { BUDGET_FRONT: "caddy" } : {}),
          ...(gpus ? { [GPU_STANDIN_VARIABLE]: "cpu" } : {}),
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
        machineType: declared.machineType,
        guestAccelerators: declared.guestAccelerators,
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
        endpoints,
        instance,
        bootFailed,
      });
    }
    const computeFront = await startComputeFront(backends);
    cleanups.push(() => computeFront.close());
    notInterrupted();

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
          [PROJECT_VARIABLE]: metadata.projectId,
          [ENDPOINT_VARIABLES.metadata]: metadata.host,
          [ENDPOINT_VARIABLES.compute]: computeFront.url,
        },
        log: (line) =>
          /"level":(50|60)|Error/.test(line) ? report(`budgetml local: ${declared.name}: ${line}`) : undefined,
      });
      cleanups.push(() => hosted.stop());
      functions.push({ declared, hosted });
      notInterrupted();
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
    options.signal?.addEventListener("abort", () => giveUp.abort(), { once: true });
    await Promise.all([
      ...served.filter((s) => !parked(s)).map((s) => Promise.race([ready(s.port, giveUp.signal), s.bootFailed])),
      ...replicated.map((r) => Promise.race([r.ready(120_000, giveUp.signal), r.bootFailed])),
    ]).finally(() => giveUp.abort());
    notInterrupted();

    const replicatedModels = replicated.map((r): LocalModel => {
      const url = `http://localhost:${r.port}`;
      const model = modelOf(r.resourceName);
      return {
        model: cloud.components.some((c) => c.type === MODEL_TYPE && c.name === model) ? model : r.resourceName,
        url,
        docsUrl: `${url}/docs`,
        username: r.username,
        password: r.password,
        parked: false,
        endpoints: r.endpoints,
        replicas: r.replicas,
        preempt: () => r.preempt(),
      };
    });
    const byPort = (a: LocalModel, b: LocalModel) => Number(new URL(a.url).port) - Number(new URL(b.url).port);
    const models = () =>
      [
        ...served.map((s): LocalModel => {
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
              await ready(s.port, stopped.signal);
              if (stopped.signal.aborted) throw new Error(`${s.declared.name} stopped before it came back`);
              return Date.now() - killedAt;
            },
          };
        }),
        ...replicatedModels,
      ].sort(byPort);

    const update = async (program: () => unknown): Promise<LocalModel[]> => {
      if (replicated.length > 0)
        throw new Error("budgetml local does not apply an update to a replicated model; start it anew");
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

/** A BudgetModel's endpoint is its child `<model>-instance`, or `<model>-backend` with replicas. */
const modelOf = (resourceName: string) => resourceName.replace(/-(instance|backend)$/, "");

/** A parked model's instance is declared stopped (`running: false`). */
const parked = (s: Served) => s.declared.desiredStatus === "TERMINATED";

/**
 * Applies an update to a running instance as Google does. Its metadata is updated in place
 * (`instances.setMetadata` replaces the whole list at once; the VM's watcher rolls out what
 * changed), and the boot scripts it names are what its next boot runs.
 */
function applyInstanceChange(s: Served, declared: DeclaredInstance, report: (line: string) => void): void {
  if (JSON.stringify(declared.metadata) !== JSON.stringify(s.declared.metadata)) {
    writeBootScripts(s.vmRoot, declared.metadata);
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
