import * as command from "@pulumi/command";
import type * as pulumi from "@pulumi/pulumi";
import type { ModelContext } from "./context";

/**
 * Runs on the machine doing `pulumi up`, under node itself (no shell: `pulumi up` may run on
 * Windows): polls the health check until the runtime says ready — a 200 whose JSON `status` is
 * "ready", so a proxy's own answer never passes for the runtime's — and whose `bundle` is the one
 * this update deployed (`BUDGET_EXPECTED_BUNDLE`), so the old runtime, still serving while the VM
 * switches to new bundles, does not pass for the new one.
 */
export const WAIT_SCRIPT = `
const url = process.env.BUDGET_HEALTH_URL;
const seconds = Number(process.env.BUDGET_WAIT_SECONDS);
const expected = process.env.BUDGET_EXPECTED_BUNDLE;
const deadline = Date.now() + seconds * 1000;
let last = "no answer yet";
(async () => {
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(5000), redirect: "manual" });
      const body = await response.text();
      let status, bundle;
      try { ({ status, bundle } = JSON.parse(body)); } catch {}
      if (response.status === 200 && status === "ready" && (!expected || bundle === expected)) { console.log("healthy: " + body); return; }
      last = response.status + " " + body.slice(0, 200);
    } catch (error) { last = String(error.cause ? error.cause.code || error.cause : error); }
    await new Promise((resolve) => setTimeout(resolve, 5000));
  }
  console.error("budgetml: " + url + " not healthy after " + seconds + " s; last: " + last);
  process.exit(1);
})();`;

/**
 * Makes `pulumi up` wait until the endpoint answers its health check, so "done" means serving.
 * Re-runs whenever the instance or a bundle changes.
 */
export function waitForHealth(
  ctx: ModelContext,
  url: pulumi.Output<string>,
  timeoutSeconds: number,
  triggers: pulumi.Input<string>[],
  expectedBundle?: pulumi.Input<string>,
): command.local.Command {
  return new command.local.Command(
    `${ctx.name}-wait-healthy`,
    {
      interpreter: ["node", "-e"],
      create: WAIT_SCRIPT,
      environment: {
        BUDGET_HEALTH_URL: url,
        BUDGET_WAIT_SECONDS: String(timeoutSeconds),
        ...(expectedBundle ? { BUDGET_EXPECTED_BUNDLE: expectedBundle } : {}),
      },
      triggers,
    },
    { parent: ctx.parent },
  );
}
