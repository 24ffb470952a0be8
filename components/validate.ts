import { existsSync } from "node:fs";
import { extname } from "node:path";
import { allowScriptsProblem, parseRequirements } from "../bundles/predictorBundle";
import { pipRequirementProblem } from "../contracts/pipRequirements";
import { checkFunctionRuntime, RESTARTER_RUNTIME } from "../contracts/functionRuntimes";
import { MAX_BATCH_SIZE, MAX_BATCH_WAIT_MS } from "../contracts/batching";
import { utcWindowProblem } from "../contracts/scheduling";
import * as pulumi from "@pulumi/pulumi";
import type { BudgetModelArgs } from "./budgetModel";
import { replicasProblems, type ArgProblem } from "./replicas/replicasArgs";

export { publicHostname } from "../contracts/instanceMetadata";

/**
 * The args as validated at construction: plain values only (outputs are checked by Google), and
 * `requirements` as either form it may take.
 */
export type CheckedArgs = Omit<
  BudgetModelArgs,
  | "requirements"
  | "requirementsFile"
  | "username"
  | "password"
  | "staticIp"
  | "network"
  | "subnetwork"
  | "running"
  | "domain"
  | "subdomain"
  | "acmeEmail"
> & {
  requirements?: string[] | string;
  domain?: unknown;
  subdomain?: unknown;
  acmeEmail?: unknown;
  username?: unknown;
  password?: unknown;
  staticIp?: unknown;
  network?: unknown;
  subnetwork?: unknown;
  /** Typed loosely: a program written in JavaScript may pass anything. */
  running?: unknown;
};

const CRON_FIELD = /^(\*|\d+(-\d+)?)(\/\d+)?(,(\*|\d+(-\d+)?)(\/\d+)?)*$/;
const LABEL = /^[a-z][a-z0-9_-]{0,62}$/;

/** A network or subnetwork: a name, or a (partial) resource path or URL ending in one. */
const NETWORK_REF =
  /^([a-z]([-a-z0-9]{0,61}[a-z0-9])?|(https:\/\/www\.googleapis\.com\/compute\/v1\/)?projects\/[a-z][-a-z0-9.:]*\/(global\/networks|regions\/[a-z0-9-]+\/subnetworks)\/[a-z]([-a-z0-9]{0,61}[a-z0-9])?)$/;

/**
 * Checks every arg that is a plain value, and throws one error naming each problem, so
 * `pulumi preview` fails before anything is created. Returns warnings: things Google still
 * accepts today but will refuse soon (a function runtime near its decommission date).
 * `now` is the day the check is made for (tests pin it).
 */
export function validateArgs(name: string, args: CheckedArgs, now: Date = new Date()): string[] {
  const warnings: string[] = [];
  const problems: string[] = [];
  const problem = (message: string) => problems.push(message);
  const checkNow = (message: string | undefined) => message && problem(message);

  if (typeof args.predictor !== "string" || args.predictor === "")
    problem("predictor is required: the path of your predictor file");
  else if (!existsSync(args.predictor)) problem(`predictor: file not found: ${args.predictor}`);
  else if (![".ts", ".mts", ".cts", ".js", ".cjs", ".mjs", ".py"].includes(extname(args.predictor)))
    problem(`predictor: expected a .ts, .js, .cjs, .mjs or .py file, got ${args.predictor}`);
  const python = typeof args.predictor === "string" && extname(args.predictor) === ".py";
  if (python) {
    if (args.entrypoint !== undefined && !/^[A-Za-z_]\w*$/.test(args.entrypoint))
      problem(`entrypoint: "${args.entrypoint}" is not a Python identifier`);
    if (Array.isArray(args.requirements))
      for (const requirement of args.requirements) {
        const bad = pipRequirementProblem(requirement);
        if (bad) problem(bad);
      }
  } else if (args.entrypoint !== undefined && !/^[A-Za-z_$][\w$]*$/.test(args.entrypoint))
    problem(`entrypoint: "${args.entrypoint}" is not a JavaScript identifier`);
  // npm requirements as a list; a requirements package.json is read when the bundle is built, and checked there.
  let npmRequirements: Record<string, string> | undefined;
  if (!python && typeof args.requirements !== "string") {
    try {
      npmRequirements = parseRequirements(args.requirements);
    } catch (error) {
      problem((error as Error).message);
    }
  }
  if (args.allowScripts !== undefined) {
    if (!Array.isArray(args.allowScripts) || !args.allowScripts.every((name) => typeof name === "string"))
      problem("allowScripts: expected a list of package names");
    else checkNow(allowScriptsProblem(args.allowScripts, { python, dependencies: npmRequirements }));
  }
  if (args.zone !== undefined && !/^[a-z]+-[a-z]+\d+-[a-z]$/.test(args.zone))
    problem(`zone: "${args.zone}" is not a zone (like us-central1-a)`);
  if (args.region !== undefined && !/^[a-z]+-[a-z]+\d+$/.test(args.region))
    problem(`region: "${args.region}" is not a region (like us-central1)`);
  if (args.zone && args.region && !args.zone.startsWith(`${args.region}-`))
    problem(`zone ${args.zone} is not in region ${args.region}`);
  if (args.machineType !== undefined && !/^[a-z][a-z0-9]*-[a-z0-9-]+$/.test(args.machineType))
    problem(`machineType: "${args.machineType}" is not a machine type (like e2-small)`);
  if (
    args.diskSizeGb !== undefined &&
    (!Number.isInteger(args.diskSizeGb) || args.diskSizeGb < 10 || args.diskSizeGb > 65536)
  ) {
    problem(`diskSizeGb: ${args.diskSizeGb} must be a whole number of GB from 10 to 65536`);
  }
  if (args.provisioning !== undefined && !["spot", "preemptible", "standard"].includes(args.provisioning)) {
    problem(`provisioning: "${args.provisioning}" must be "spot", "preemptible" or "standard"`);
  }
  if (typeof args.domain === "string") checkNow(domainProblem(args.domain));
  if (args.subdomain !== undefined) {
    if (args.domain === undefined) problem("subdomain needs domain");
    if (typeof args.subdomain === "string") checkNow(subdomainProblem(args.subdomain));
  }
  if (typeof args.username === "string" && !/^[\w.@-]{1,64}$/.test(args.username))
    problem(`username: "${args.username}" must be 1-64 letters, digits or ._@-`);
  if (typeof args.password === "string" && args.password.length < 12)
    problem("password must be at least 12 characters");
  if (args.schedule !== undefined) {
    const fields = args.schedule.trim().split(/\s+/);
    if (fields.length !== 5 || !fields.every((field) => CRON_FIELD.test(field)))
      problem(`schedule: "${args.schedule}" is not a 5-field cron expression (like "* * * * *")`);
  }
  if (
    args.spotFallbackMinutes !== undefined &&
    (!Number.isFinite(args.spotFallbackMinutes) || args.spotFallbackMinutes < 0 || args.spotFallbackMinutes > 1440)
  ) {
    problem(`spotFallbackMinutes: ${args.spotFallbackMinutes} must be from 0 (off) to 1440`);
  }
  checkNow(batchingProblem(args.maxBatchSize, args.maxBatchWaitMs));
  if (args.spotReturnWindow !== undefined) {
    const bad =
      typeof args.spotReturnWindow === "string"
        ? utcWindowProblem(args.spotReturnWindow)
        : `${JSON.stringify(args.spotReturnWindow)} is not a UTC window like "03:00-05:00"`;
    if (bad) problem(`spotReturnWindow: ${bad}`);
  }
  if (args.image !== undefined && args.requirements !== undefined) {
    problem(
      "image and requirements cannot be combined: with a custom image, install the predictor's packages in the image",
    );
  }
  if (args.running !== undefined && typeof args.running !== "boolean")
    problem(`running: expected true or false, got ${JSON.stringify(args.running)}`);
  if (typeof args.acmeEmail === "string") checkNow(acmeEmailProblem(args.acmeEmail));
  if (typeof args.network === "string" && !NETWORK_REF.test(args.network))
    problem(
      `network: "${args.network}" is not a network name or path (like "default" or projects/P/global/networks/N)`,
    );
  if (typeof args.subnetwork === "string" && !NETWORK_REF.test(args.subnetwork))
    problem(
      `subnetwork: "${args.subnetwork}" is not a subnetwork name or path (like projects/P/regions/R/subnetworks/S)`,
    );
  if (args.subnetwork !== undefined && args.network === undefined)
    problem("subnetwork needs network: the firewall rule is made on the network");
  // The default runtime is checked too: a budgetml release outliving its runtime says so at preview.
  // A replicated model has no restarter, so no function runtime.
  if (args.replicas === undefined) {
    const runtime = checkFunctionRuntime(args.functionRuntime ?? RESTARTER_RUNTIME, now);
    if (!runtime.ok) problem(`functionRuntime: ${runtime.error}`);
    else if (runtime.warning) warnings.push(`functionRuntime: ${runtime.warning}`);
  }
  for (const [key, value] of Object.entries(args.labels ?? {})) {
    if (!LABEL.test(key))
      problem(`labels: key "${key}" must be lowercase letters, digits, _ or -, starting with a letter`);
    if (typeof value === "string" && !/^[a-z0-9_-]{0,63}$/.test(value))
      problem(`labels: value "${value}" of ${key} must be lowercase letters, digits, _ or -`);
  }
  // One entry per problem, keyed by the property it names first, so `pulumi preview` points at each field.
  const errors: ArgProblem[] = [
    ...problems.map((reason) => ({ propertyPath: /^\w+/.exec(reason)?.[0] ?? "", reason })),
    ...replicasProblems(args.replicas, args),
  ];
  if (errors.length > 0) {
    throw new pulumi.InputPropertiesError({
      message: `BudgetModel "${name}": ${errors.map((error) => error.reason).join("; ")}`,
      errors,
    });
  }
  return warnings;
}

/** Why the batching args cannot be used, if they cannot (ranges in contracts/batching.ts, as `budgetml serve` reads them). */
export function batchingProblem(maxBatchSize: unknown, maxBatchWaitMs: unknown): string | undefined {
  const outside = (value: unknown, rule: { min: number; max: number }) =>
    typeof value !== "number" || !Number.isInteger(value) || value < rule.min || value > rule.max;
  if (maxBatchSize !== undefined && outside(maxBatchSize, MAX_BATCH_SIZE))
    return `maxBatchSize: ${JSON.stringify(maxBatchSize)} must be a whole number from ${MAX_BATCH_SIZE.min} (no batching) to ${MAX_BATCH_SIZE.max}`;
  if (maxBatchWaitMs === undefined) return undefined;
  if (outside(maxBatchWaitMs, MAX_BATCH_WAIT_MS))
    return `maxBatchWaitMs: ${JSON.stringify(maxBatchWaitMs)} must be a whole number of ms from ${MAX_BATCH_WAIT_MS.min} to ${MAX_BATCH_WAIT_MS.max}`;
  if (typeof maxBatchSize !== "number" || maxBatchSize <= 1)
    return "maxBatchWaitMs needs maxBatchSize above 1: batching is off";
  return undefined;
}

/** A domain as the endpoint uses it: without the root's trailing dot that Cloud DNS's `dnsName` carries. */
export function endpointDomain(domain: string): string {
  return domain.replace(/\.$/, "");
}

/** Why `domain` cannot be the endpoint's domain, if it cannot. A trailing dot is allowed (see {@link endpointDomain}). */
export function domainProblem(domain: string): string | undefined {
  return /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/.test(endpointDomain(domain))
    ? undefined
    : `domain: "${domain}" is not a domain name`;
}

/** Why `subdomain` cannot be a label under the domain, if it cannot. */
export function subdomainProblem(subdomain: string): string | undefined {
  return /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(subdomain)
    ? undefined
    : `subdomain: "${subdomain}" is not a DNS label`;
}

/** Why `acmeEmail` cannot be given to the certificate authorities, if it cannot. */
export function acmeEmailProblem(email: string): string | undefined {
  return /^[^\s@"'<>]{1,64}@([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i.test(email)
    ? undefined
    : `acmeEmail: "${email}" is not an email address`;
}

/**
 * `value`, checked by `problemOf` once known: a plain value was checked at construction already;
 * an output (another resource's attribute) is checked when it resolves, and fails the update there.
 */
export function checkedWhenKnown(
  model: string,
  property: string,
  value: pulumi.Input<string>,
  problemOf: (value: string) => string | undefined,
): pulumi.Output<string> {
  return pulumi.output(value).apply((known) => {
    if (typeof known !== "string")
      throw new Error(
        `BudgetModel "${model}": ${property}: expected a string, got ${JSON.stringify(known) ?? "undefined"}`,
      );
    const problem = problemOf(known);
    if (problem) throw new Error(`BudgetModel "${model}": ${problem}`);
    return known;
  });
}

/** A name fit for Google resource ids: lowercase letters, digits and dashes, starting with a letter. */
export function resourceSlug(name: string, maxLength: number): string {
  const slug = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^[^a-z]+/, "")
    .replace(/-+/g, "-")
    .slice(0, maxLength)
    .replace(/-+$/, "");
  return slug || "model";
}
