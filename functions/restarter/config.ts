import {
  DEFAULT_SPOT_RETURN_WINDOW,
  parseUtcWindow,
  type Provisioning,
  type UtcWindow,
} from "../../contracts/scheduling";
import { ENDPOINT_VARIABLES } from "../../contracts/googleEndpoints";
import { RESTARTER_VARIABLES } from "../../contracts/restarterEnvironment";
import { parseNumberSetting } from "../../contracts/settings";

/** What the restarter keeps running, read from its environment at cold start. */
export interface RestarterConfig {
  project: string;
  zone: string;
  instance: string;
  /** A Compute REST endpoint to use instead of Google's (the local stand-in). */
  computeEndpoint: URL | undefined;
  /** How long one invocation may keep trying; stays inside the function's timeout. @default 50 s */
  budgetMs: number;
  /** Between status reads while the instance is stopping. @default 1000 ms */
  pollMs: number;
  /** First retry delay after a transient failure; doubles up to 16 s. @default 2000 ms */
  backoffMs: number;
  /** Switch a spot instance to standard after this long down for lack of capacity; 0 = never. @default 600 s */
  fallbackAfterMs: number;
  /** The least time on standard after a fallback before a return to spot is tried. @default 6 h */
  returnAfterMs: number;
  /** When a running fallback instance may be stopped and tried on spot again (UTC). @default 03:00-05:00 */
  returnWindow: UtcWindow;
  /** The model the deployment declares; the restarter switches the instance to it. @default what the instance runs as */
  provisioning: Provisioning | undefined;
  /** `false` parks the model: the restarter never starts it. @default true */
  running: boolean;
  /** A stop someone asked for is left alone this long before the instance counts as down. @default 1200 s */
  plannedStopGraceMs: number;
}

const NAME = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
const PROJECT = /^[a-z][-a-z0-9]{4,28}[a-z0-9]$/;
const ZONE = /^[a-z]+-[a-z]+[0-9]+-[a-z]$/;

/** Reads and validates the configuration; throws one message naming every problem. */
export function readRestarterConfig(env: Record<string, string | undefined>): RestarterConfig {
  const problems: string[] = [];
  const required = (name: string, pattern: RegExp, what: string) => {
    const value = env[name];
    if (!value) problems.push(`${name} is not set`);
    else if (!pattern.test(value)) problems.push(`${name}="${value}" is not a valid ${what}`);
    return value ?? "";
  };
  const project = required(RESTARTER_VARIABLES.project, PROJECT, "project id");
  const zone = required(RESTARTER_VARIABLES.zone, ZONE, "zone (like us-central1-a)");
  const instance = required(RESTARTER_VARIABLES.instance, NAME, "instance name");
  let computeEndpoint: URL | undefined;
  const computeEndpointSetting = env[ENDPOINT_VARIABLES.compute];
  if (computeEndpointSetting) {
    try {
      computeEndpoint = new URL(computeEndpointSetting);
      if (!/^https?:$/.test(computeEndpoint.protocol)) throw new Error();
    } catch {
      problems.push(`${ENDPOINT_VARIABLES.compute}="${computeEndpointSetting}" is not an http(s) URL`);
    }
  }
  const number = (name: string, fallback: number, min: number, max: number) => {
    try {
      return parseNumberSetting(name, env[name], fallback, { min, max });
    } catch (error) {
      problems.push((error as Error).message);
      return fallback;
    }
  };
  const budgetMs = number(RESTARTER_VARIABLES.restartBudgetSeconds, 50, 1, 3600) * 1000;
  const pollMs = number(RESTARTER_VARIABLES.restartPollMs, 1000, 10, 60_000);
  const backoffMs = number(RESTARTER_VARIABLES.restartBackoffMs, 2000, 10, 60_000);
  const fallbackAfterMs = number(RESTARTER_VARIABLES.spotFallbackSeconds, 600, 0, 86_400) * 1000;
  const returnAfterMs = number(RESTARTER_VARIABLES.spotReturnSeconds, 21_600, 0, 30 * 86_400) * 1000;
  let returnWindow = parseUtcWindow(DEFAULT_SPOT_RETURN_WINDOW);
  try {
    returnWindow = parseUtcWindow(env[RESTARTER_VARIABLES.spotReturnWindow] ?? DEFAULT_SPOT_RETURN_WINDOW);
  } catch (error) {
    problems.push(`${RESTARTER_VARIABLES.spotReturnWindow}: ${(error as Error).message}`);
  }
  const provisioning = env[RESTARTER_VARIABLES.declaredProvisioning] || undefined;
  if (provisioning !== undefined && !["spot", "preemptible", "standard"].includes(provisioning))
    problems.push(
      `${RESTARTER_VARIABLES.declaredProvisioning}="${provisioning}" must be spot, preemptible or standard`,
    );
  const runningRaw = env[RESTARTER_VARIABLES.running] ?? "true";
  if (runningRaw !== "true" && runningRaw !== "false")
    problems.push(`${RESTARTER_VARIABLES.running}="${runningRaw}" must be true or false`);
  const plannedStopGraceMs = number(RESTARTER_VARIABLES.plannedStopGraceSeconds, 1200, 0, 86_400) * 1000;
  if (problems.length > 0) throw new Error(`restarter misconfigured: ${problems.join("; ")}`);
  return {
    project,
    zone,
    instance,
    computeEndpoint,
    budgetMs,
    pollMs,
    backoffMs,
    fallbackAfterMs,
    returnAfterMs,
    returnWindow,
    provisioning: provisioning as Provisioning | undefined,
    running: runningRaw !== "false",
    plannedStopGraceMs,
  };
}
