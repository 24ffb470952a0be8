import { basename } from "node:path";
import { BudgetModel } from "../components/budgetModel";
import { launchLocalProgram, type LocalModel } from "./localProgram";
import { preemptOnTimer } from "./preemptOnTimer";

/** Options of {@link launchLocal}. */
export interface LocalOptions {
  /** The predictor file. */
  predictor: string;
  /** Exported class name. @default "Predictor", else the default export */
  entrypoint?: string;
  /** npm packages installed beside the predictor, as on the VM. @default none */
  requirements?: string[];
  /** Requirements whose install scripts may run, as on the VM. @default none */
  allowScripts?: string[];
  /** Port the runtime listens on (127.0.0.1), or with `replicas` the local load balancer. @default 8080 */
  port?: number;
  /** Serve from this many spot replicas behind a load balancer (the component's `replicas`). @default one VM */
  replicas?: number;
  /** Kill the instance every this many seconds to show recovery. @default never */
  preemptEverySeconds?: number;
  /** Real seconds per minute of the restarter's schedule (its cron, sped up). @default 1 */
  tickSeconds?: number;
  /** Where progress lines go (never secrets). @default stderr */
  report?: (line: string) => void;
  /**
   * Interrupts the launch (an aborted signal): what it started so far is stopped and its files
   * removed, then it rejects. @default never interrupted
   */
  signal?: AbortSignal;
}

/** A running local deployment. */
export interface LocalDeployment extends LocalModel {
  /** Stops everything this deployment started and removes its files. */
  stop(): Promise<void>;
}

/**
 * Runs the whole deployment on this machine with no cloud account: a one-model program — the
 * `BudgetModel` component itself — evaluated by the local engine (see `launchLocalProgram`), so
 * the bucket, secrets, grants, instance, restarter and schedule are exactly what `pulumi up`
 * would declare.
 */
export async function launchLocal(options: LocalOptions): Promise<LocalDeployment> {
  const report = options.report ?? ((line: string) => process.stderr.write(`${line}\n`));
  const deployment = await launchLocalProgram({
    program: () =>
      new BudgetModel(basename(options.predictor).replace(/\.[^.]+$/, ""), {
        predictor: options.predictor,
        entrypoint: options.entrypoint,
        requirements: options.requirements,
        allowScripts: options.allowScripts,
        ...(options.replicas !== undefined ? { replicas: options.replicas } : {}),
      }),
    port: options.port,
    secondsPerScheduleMinute: options.tickSeconds,
    report,
    signal: options.signal,
  });
  const [model] = deployment.models;
  const stopPreempting = options.preemptEverySeconds
    ? preemptOnTimer(model, options.preemptEverySeconds, report)
    : () => {};
  return {
    ...model,
    stop: async () => {
      stopPreempting();
      await deployment.stop();
    },
  };
}
