import * as pulumi from "@pulumi/pulumi";

/**
 * Resolves once a program evaluated under Pulumi's mocks has declared everything: every
 * registration has finished and none started meanwhile (a child may be declared in a callback that
 * runs just after the registration it waited for). `declared` counts the registrations seen so far.
 */
export async function waitForRegistrations(declared: () => number): Promise<void> {
  // waitForRPCs is on the runtime module but missing from its type declarations.
  const runtime = pulumi.runtime as unknown as { waitForRPCs(): Promise<void> };
  for (let seen = -1; seen !== declared();) {
    seen = declared();
    await runtime.waitForRPCs();
    await new Promise((resolve) => setImmediate(resolve));
  }
}
