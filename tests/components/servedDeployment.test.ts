// The harness puts Pulumi's mocks in place before the component is loaded.
import { deploy } from "./pulumiHarness";
import { frontIdOf, runtimeIdOf } from "../../contracts/servedDeployment";

// What the component tells the VM, and what its health wait waits for: the contract the VM's
// watcher, boot and Caddy fulfil (tests/boot, tests/local/dayTwo.test.ts show them doing it).
describe("BudgetModel: what a second pulumi up rolls out, and waits for", () => {
  it("names the secret versions in the metadata, and rotates the signing key with the login", async () => {
    const { child } = await deploy("rotating", { username: "alice", password: "a-password-of-length" });
    const { metadata } = child("gcp:compute/instance:Instance", "instance").inputs;
    const password = child("gcp:secretmanager/secretVersion:SecretVersion", "password-version");
    expect(metadata["budget-password-secret"]).toMatch(
      /^projects\/proj\/secrets\/budgetml-rotating-.*-password\/versions\/1$/,
    );
    expect(metadata["budget-token-secret"]).toMatch(
      /^projects\/proj\/secrets\/budgetml-rotating-.*-signing-key\/versions\/1$/,
    );
    // A new username or password (a new password version) makes a new signing key: old tokens die.
    expect(child("random:index/randomPassword:RandomPassword", "signing-key").inputs.keepers).toEqual({
      username: "alice",
      passwordVersion: `${password.inputs.secret}/versions/1`,
    });
  }, 60_000);

  it("waits for the runtime's id (bundles and secret versions) and the front's (hostname and contact)", async () => {
    const { child } = await deploy("waiting", {
      domain: "example.com",
      subdomain: "api",
      acmeEmail: "ops@example.com",
    });
    const { environment } = child("command:local:Command", "wait-healthy").inputs;
    const { metadata } = child("gcp:compute/instance:Instance", "instance").inputs;
    expect(environment.BUDGET_EXPECTED_BUNDLE).toBe(
      runtimeIdOf({
        runtimeObject: metadata["budget-runtime-object"],
        predictorObject: metadata["budget-predictor-object"],
        passwordSecret: metadata["budget-password-secret"],
        tokenSecret: metadata["budget-token-secret"],
      }),
    );
    expect(environment.BUDGET_EXPECTED_BUNDLE).toMatch(/^runtime-[0-9a-f]{16}\+predictor-[0-9a-f]{16}\+secrets-1\.1$/);
    expect(environment.BUDGET_EXPECTED_FRONT).toBe(
      frontIdOf({ hostname: "api.example.com", acmeEmail: "ops@example.com" }),
    );
    // Without a domain: the sslip.io name of the address, no contact.
    const plain = await deploy("plainwait");
    expect(plain.child("command:local:Command", "wait-healthy").inputs.environment.BUDGET_EXPECTED_FRONT).toBe(
      frontIdOf({ hostname: "34-120-1-2.sslip.io", acmeEmail: "" }),
    );
  }, 180_000); // two models' bundles are built
});
