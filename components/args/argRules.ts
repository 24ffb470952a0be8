import { existsSync } from "node:fs";
import { extname } from "node:path";
import type * as pulumi from "@pulumi/pulumi";
import { allowScriptsProblem, parseRequirements } from "../../bundles/predictorBundle";
import { pipRequirementProblem } from "../../bundles/pythonPredictorBundle";
import { checkFunctionRuntime } from "../../functions/functionRuntimes";
import { MAX_BATCH_SIZE, MAX_BATCH_WAIT_MS } from "../../contracts/batching";
import { utcWindowProblem } from "../../contracts/scheduling";
import type { ArgProblem } from "./argProblem";
import type { BudgetModelArgs } from "./budgetModelArgs";
import { ARG_DEFAULTS } from "./defaults";
import { acmeEmailProblem, domainProblem, subdomainProblem } from "./endpointArgs";

/**
 * An arg as a program may pass it, as the checks at construction see it: a field that may be an
 * output (`pulumi.Input`) is `unknown` — only a plain string is checked now, an output once known
 * (see whenKnown.ts) — and every field may be missing (a program in JavaScript may pass anything).
 */
type AsPassed<T> = [Extract<T, pulumi.OutputInstance<unknown> | Promise<unknown>>] extends [never] ? T : unknown;

/** The args as validated at construction, derived from {@link BudgetModelArgs}. */
export type CheckedArgs = { readonly [K in keyof BudgetModelArgs]?: AsPassed<BudgetModelArgs[K]> };

/** What a check finds: a problem that fails preview, or (`warning`) one Google still accepts today. */
export interface ArgFinding extends ArgProblem {
  readonly warning?: boolean;
}

const CRON_FIELD = /^(\*|\d+(-\d+)?)(\/\d+)?(,(\*|\d+(-\d+)?)(\/\d+)?)*$/;
const LABEL = /^[a-z][a-z0-9_-]{0,62}$/;

/** A network or subnetwork: a name, or a (partial) resource path or URL ending in one. */
const NETWORK_REF =
  /^([a-z]([-a-z0-9]{0,61}[a-z0-9])?|(https:\/\/www\.googleapis\.com\/compute\/v1\/)?projects\/[a-z][-a-z0-9.:]*\/(global\/networks|regions\/[a-z0-9-]+\/subnetworks)\/[a-z]([-a-z0-9]{0,61}[a-z0-9])?)$/;

/**
 * The rules of every arg of a single model, each problem with the property path it concerns. The
 * zone and region are the ones the model will use (the stack config's when the args leave them out).
 * `now` is the day the function runtime is checked for.
 */
export function argRules(args: CheckedArgs, now: Date): ArgFinding[] {
  const findings: ArgFinding[] = [];
  const problem = (propertyPath: string, reason: string | undefined) => {
    if (reason) findings.push({ propertyPath, reason });
  };

  if (typeof args.predictor !== "string" || args.predictor === "")
    problem("predictor", "predictor is required: the path of your predictor file");
  else if (!existsSync(args.predictor)) problem("predictor", `predictor: file not found: ${args.predictor}`);
  else if (![".ts", ".mts", ".cts", ".js", ".cjs", ".mjs", ".py"].includes(extname(args.predictor)))
    problem("predictor", `predictor: expected a .ts, .js, .cjs, .mjs or .py file, got ${args.predictor}`);
  const python = typeof args.predictor === "string" && extname(args.predictor) === ".py";
  if (args.requirements !== undefined && args.requirementsFile !== undefined)
    problem("requirementsFile", "give requirements or requirementsFile, not both");
  if (python) {
    if (args.entrypoint !== undefined && !/^[A-Za-z_]\w*$/.test(args.entrypoint))
      problem("entrypoint", `entrypoint: "${args.entrypoint}" is not a Python identifier`);
    if (Array.isArray(args.requirements))
      for (const requirement of args.requirements) problem("requirements", pipRequirementProblem(requirement));
  } else if (args.entrypoint !== undefined && !/^[A-Za-z_$][\w$]*$/.test(args.entrypoint))
    problem("entrypoint", `entrypoint: "${args.entrypoint}" is not a JavaScript identifier`);
  // npm requirements as a list; a requirements package.json is read when the bundle is built, and checked there.
  let npmRequirements: Record<string, string> | undefined;
  if (!python && args.requirementsFile === undefined) {
    try {
      npmRequirements = parseRequirements(args.requirements);
    } catch (error) {
      problem("requirements", (error as Error).message);
    }
  }
  if (args.allowScripts !== undefined) {
    if (!Array.isArray(args.allowScripts) || !args.allowScripts.every((name) => typeof name === "string"))
      problem("allowScripts", "allowScripts: expected a list of package names");
    else problem("allowScripts", allowScriptsProblem(args.allowScripts, { python, dependencies: npmRequirements }));
  }
  if (args.zone !== undefined && !/^[a-z]+-[a-z]+\d+-[a-z]$/.test(args.zone))
    problem("zone", `zone: "${args.zone}" is not a zone (like us-central1-a)`);
  if (args.region !== undefined && !/^[a-z]+-[a-z]+\d+$/.test(args.region))
    problem("region", `region: "${args.region}" is not a region (like us-central1)`);
  if (args.zone && args.region && !args.zone.startsWith(`${args.region}-`))
    problem("zone", `zone ${args.zone} is not in region ${args.region}`);
  if (args.machineType !== undefined && !/^[a-z][a-z0-9]*-[a-z0-9-]+$/.test(args.machineType))
    problem("machineType", `machineType: "${args.machineType}" is not a machine type (like e2-small)`);
  if (
    args.diskSizeGb !== undefined &&
    (!Number.isInteger(args.diskSizeGb) || args.diskSizeGb < 10 || args.diskSizeGb > 65536)
  ) {
    problem("diskSizeGb", `diskSizeGb: ${args.diskSizeGb} must be a whole number of GB from 10 to 65536`);
  }
  if (args.provisioning !== undefined && !["spot", "preemptible", "standard"].includes(args.provisioning)) {
    problem("provisioning", `provisioning: "${args.provisioning}" must be "spot", "preemptible" or "standard"`);
  }
  if (typeof args.domain === "string") problem("domain", domainProblem(args.domain));
  if (args.subdomain !== undefined) {
    if (args.domain === undefined) problem("subdomain", "subdomain needs domain");
    if (typeof args.subdomain === "string") problem("subdomain", subdomainProblem(args.subdomain));
  }
  if (typeof args.username === "string" && !/^[\w.@-]{1,64}$/.test(args.username))
    problem("username", `username: "${args.username}" must be 1-64 letters, digits or ._@-`);
  if (typeof args.password === "string" && args.password.length < 12)
    problem("password", "password must be at least 12 characters");
  if (args.schedule !== undefined) {
    const fields = args.schedule.trim().split(/\s+/);
    if (fields.length !== 5 || !fields.every((field) => CRON_FIELD.test(field)))
      problem("schedule", `schedule: "${args.schedule}" is not a 5-field cron expression (like "* * * * *")`);
  }
  if (
    args.spotFallbackMinutes !== undefined &&
    (!Number.isFinite(args.spotFallbackMinutes) || args.spotFallbackMinutes < 0 || args.spotFallbackMinutes > 1440)
  ) {
    problem("spotFallbackMinutes", `spotFallbackMinutes: ${args.spotFallbackMinutes} must be from 0 (off) to 1440`);
  }
  const batching = batchingProblem(args.maxBatchSize, args.maxBatchWaitMs);
  if (batching) findings.push(batching);
  if (args.spotReturnWindow !== undefined) {
    const bad =
      typeof args.spotReturnWindow === "string"
        ? utcWindowProblem(args.spotReturnWindow)
        : `${JSON.stringify(args.spotReturnWindow)} is not a UTC window like "03:00-05:00"`;
    if (bad) problem("spotReturnWindow", `spotReturnWindow: ${bad}`);
  }
  if (args.image !== undefined && (args.requirements ?? args.requirementsFile) !== undefined) {
    problem(
      "image",
      "image and requirements cannot be combined: with a custom image, install the predictor's packages in the image",
    );
  }
  if (args.running !== undefined && typeof args.running !== "boolean")
    problem("running", `running: expected true or false, got ${JSON.stringify(args.running)}`);
  if (typeof args.acmeEmail === "string") problem("acmeEmail", acmeEmailProblem(args.acmeEmail));
  if (typeof args.network === "string" && !NETWORK_REF.test(args.network))
    problem(
      "network",
      `network: "${args.network}" is not a network name or path (like "default" or projects/P/global/networks/N)`,
    );
  if (typeof args.subnetwork === "string" && !NETWORK_REF.test(args.subnetwork))
    problem(
      "subnetwork",
      `subnetwork: "${args.subnetwork}" is not a subnetwork name or path (like projects/P/regions/R/subnetworks/S)`,
    );
  if (args.subnetwork !== undefined && args.network === undefined)
    problem("subnetwork", "subnetwork needs network: the firewall rule is made on the network");
  // The default runtime is checked too: a budgetml release outliving its runtime says so at preview.
  // A replicated model has no restarter, so no function runtime.
  if (args.replicas === undefined) {
    const runtime = checkFunctionRuntime(args.functionRuntime ?? ARG_DEFAULTS.functionRuntime.value, now);
    if (!runtime.ok) problem("functionRuntime", `functionRuntime: ${runtime.error}`);
    else if (runtime.warning)
      findings.push({ propertyPath: "functionRuntime", reason: `functionRuntime: ${runtime.warning}`, warning: true });
  }
  for (const [key, value] of Object.entries(args.labels ?? {})) {
    const path = `labels[${JSON.stringify(key)}]`;
    if (!LABEL.test(key))
      problem(path, `labels: key "${key}" must be lowercase letters, digits, _ or -, starting with a letter`);
    if (typeof value === "string" && !/^[a-z0-9_-]{0,63}$/.test(value))
      problem(path, `labels: value "${value}" of ${key} must be lowercase letters, digits, _ or -`);
  }
  return findings;
}

/** Why the batching args cannot be used, if they cannot (ranges in contracts/batching.ts, as `budgetml serve` reads them). */
export function batchingProblem(maxBatchSize: unknown, maxBatchWaitMs: unknown): ArgProblem | undefined {
  const outside = (value: unknown, rule: { min: number; max: number }) =>
    typeof value !== "number" || !Number.isInteger(value) || value < rule.min || value > rule.max;
  if (maxBatchSize !== undefined && outside(maxBatchSize, MAX_BATCH_SIZE))
    return {
      propertyPath: "maxBatchSize",
      reason: `maxBatchSize: ${JSON.stringify(maxBatchSize)} must be a whole number from ${MAX_BATCH_SIZE.min} (no batching) to ${MAX_BATCH_SIZE.max}`,
    };
  if (maxBatchWaitMs === undefined) return undefined;
  if (outside(maxBatchWaitMs, MAX_BATCH_WAIT_MS))
    return {
      propertyPath: "maxBatchWaitMs",
      reason: `maxBatchWaitMs: ${JSON.stringify(maxBatchWaitMs)} must be a whole number of ms from ${MAX_BATCH_WAIT_MS.min} to ${MAX_BATCH_WAIT_MS.max}`,
    };
  if (typeof maxBatchSize !== "number" || maxBatchSize <= 1)
    return { propertyPath: "maxBatchWaitMs", reason: "maxBatchWaitMs needs maxBatchSize above 1: batching is off" };
  return undefined;
}
