import * as command from "@pulumi/command";
import type * as pulumi from "@pulumi/pulumi";
import type { ModelContext } from "./context";

// Runs on the machine doing `pulumi up`: polls the health check until it says ready (200).
// The first boot installs Node.js and obtains a certificate, so allow minutes, not seconds.
const WAIT_SCRIPT = `
const deadline = Date.now() + Number(process.env.BUDGET_WAIT_SECONDS) * 1000;
let last = "no answer yet";
(async () => {
  while (Date.now() < deadline) {
    try {
      const response = await fetch(process.env.BUDGET_HEALTH_URL, { signal: AbortSignal.timeout(5000) });
      const body = await response.text();
      if (response.status === 200) { console.log("healthy: " + body); return; }
      last = response.status + " " + body;
    } catch (error) { last = String(error.cause ? error.cause.code || error.cause : error); }
    await new Promise((resolve) => setTimeout(resolve, 5000));
  }
  console.error("budgetml: " + process.env.BUDGET_HEALTH_URL + " not healthy after " + process.env.BUDGET_WAIT_SECONDS + " s; last: " + last);
  process.exit(1);
})();`;

/**
 * Makes `pulumi up` wait until the endpoint answers its health check, so "done" means serving.
 * Re-runs whenever the instance or a bundle changes.
 */
export function waitForHealth(ctx: ModelContext, url: pulumi.Output<string>, timeoutSeconds: number, triggers: pulumi.Input<string>[]): command.local.Command {
  return new command.local.Command(
    `${ctx.name}-wait-healthy`,
    {
      create: `node -e '${WAIT_SCRIPT}'`, // the script holds no single quote
      environment: { BUDGET_HEALTH_URL: url, BUDGET_WAIT_SECONDS: String(timeoutSeconds) },
      triggers,
    },
    { parent: ctx.parent },
  );
}
