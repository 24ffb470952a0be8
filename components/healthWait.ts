import * as command from "@pulumi/command";
import type * as pulumi from "@pulumi/pulumi";
import { FRONT_HEADER } from "../contracts/servedDeployment";
import type { ModelContext } from "./context";

/**
 * Runs on the machine doing `pulumi up`, under node itself (no shell: `pulumi up` may run on
 * Windows): polls the health check every second (each probe a small GET; a day-two change is
 * served seconds after it is set, and `pulumi up` should return then) until the runtime says ready — a 200 whose JSON `status` is
 * "ready", so a proxy's own answer never passes for the runtime's — serving what this update
 * deployed: the runtime's `bundle` is `BUDGET_EXPECTED_BUNDLE` (its bundles, image and secret
 * versions: see `runtimeIdOf`) and the front's `Budgetml-Front` header is `BUDGET_EXPECTED_FRONT`
 * (its hostname and certificate contact: see `frontIdOf`). So the old runtime, still serving while
 * the VM rolls a change out, and Caddy before its reload, do not pass for the new ones.
 */
export const WAIT_SCRIPT = `
const url = process.env.BUDGET_HEALTH_URL;
const seconds = Number(process.env.BUDGET_WAIT_SECONDS);
const expected = process.env.BUDGET_EXPECTED_BUNDLE;
const expectedFront = process.env.BUDGET_EXPECTED_FRONT;
const deadline = Date.now() + seconds * 1000;
let last = "no answer yet";
(async () => {
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(5000), redirect: "manual" });
      const body = await response.text();
      const front = response.headers.get("${FRONT_HEADER}");
      let status, bundle;
      try { ({ status, bundle } = JSON.parse(body)); } catch {}
      if (response.status === 200 && status === "ready" && (!expected || bundle === expected) && (!expectedFront || front === expectedFront)) { console.log("healthy: " + body); return; }
      last = response.status + " " + body.slice(0, 200) + (expectedFront ? " (front: " + front + ")" : "");
    } catch (error) { last = String(error.cause ? error.cause.code || error.cause : error); }
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.min(1000, deadline - Date.now()))));
  }
  console.error("budgetml: " + url + " not healthy after " + seconds + " s; last: " + last);
  process.exit(1);
})();`;

/** What the health wait waits for: the runtime's and the front's ids (see `runtimeIdOf`, `frontIdOf`). */
export interface ExpectedDeployment {
  bundle: pulumi.Input<string>;
  front: pulumi.Input<string>;
}

/**
 * Makes `pulumi up` wait until the endpoint answers its health check, so "done" means serving.
 * Runs again whenever its inputs change — the instance, or what the VM should now serve (the
 * command provider runs `create` again on any change of its inputs when it has no `update`).
 */
export function waitForHealth(
  ctx: ModelContext,
  url: pulumi.Output<string>,
  timeoutSeconds: number,
  triggers: pulumi.Input<string>[],
  expected: ExpectedDeployment,
): command.local.Command {
  return new command.local.Command(
    `${ctx.name}-wait-healthy`,
    {
      interpreter: ["node", "-e"],
      create: WAIT_SCRIPT,
      environment: {
        BUDGET_HEALTH_URL: url,
        BUDGET_WAIT_SECONDS: String(timeoutSeconds),
        BUDGET_EXPECTED_BUNDLE: expected.bundle,
        BUDGET_EXPECTED_FRONT: expected.front,
      },
      triggers,
    },
    { parent: ctx.parent },
  );
}
