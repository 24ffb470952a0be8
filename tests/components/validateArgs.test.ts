import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { acmeEmailProblem, domainProblem, subdomainProblem } from "../../components/args/endpointArgs";
import { validateArgs } from "../../components/args/validateArgs";

// The validator as `pulumi preview` meets it: no mocks, one InputPropertiesError entry per bad field.
describe("validateArgs", () => {
  const predictor = join(__dirname, "..", "..", "examples", "sentiment", "predictor.ts");

  it("throws Pulumi's InputPropertiesError with one entry per bad property, all at once", () => {
    let thrown: unknown;
    try {
      validateArgs("m", { predictor, zone: "mars", diskSizeGb: 5, schedule: "often", subdomain: "api" });
    } catch (error) {
      thrown = error;
    }
    expect(pulumi.InputPropertiesError.isInstance(thrown)).toBe(true);
    const { errors, message } = thrown as pulumi.InputPropertiesError;
    expect(errors.map((e) => e.propertyPath)).toEqual(["zone", "diskSizeGb", "subdomain", "schedule"]);
    expect(errors[1].reason).toBe("diskSizeGb: 5 must be a whole number of GB from 10 to 65536");
    expect(message).toMatch(/^BudgetModel "m": zone: "mars" is not a zone .*; diskSizeGb: 5 must be/);
  });

  it("checks the spot return window as a daily UTC window", () => {
    expect(validateArgs("m", { predictor, spotReturnWindow: "22:00-01:30" })).toEqual([]);
    expect(() => validateArgs("m", { predictor, spotReturnWindow: "3am" })).toThrow(
      'spotReturnWindow: "3am" is not a UTC window like "03:00-05:00" (HH:MM-HH:MM, 24-hour clock)',
    );
    expect(() => validateArgs("m", { predictor, spotReturnWindow: "04:00-04:00" })).toThrow(
      'spotReturnWindow: "04:00-04:00" is an empty window: start and end are equal',
    );
    expect(() => validateArgs("m", { predictor, spotReturnWindow: 3 as unknown as string })).toThrow(
      'spotReturnWindow: 3 is not a UTC window like "03:00-05:00"',
    );
  });

  it("checks a domain, subdomain or ACME email with one rule, whether a plain value (now) or an output (once known)", () => {
    expect(domainProblem("models.example.com.")).toBeUndefined(); // Cloud DNS's dnsName, trailing dot and all
    expect(domainProblem("not a domain")).toBe('domain: "not a domain" is not a domain name');
    expect(subdomainProblem("api")).toBeUndefined();
    expect(subdomainProblem("a.b")).toBe('subdomain: "a.b" is not a DNS label');
    expect(acmeEmailProblem("ops")).toBe('acmeEmail: "ops" is not an email address');
    expect(() => validateArgs("m", { predictor, domain: "not a domain" })).toThrow(
      /domain: "not a domain" is not a domain name/,
    );
    // An output is not checked at construction (tests/local runs a program whose bad output fails the run).
    expect(() => validateArgs("m", { predictor, domain: pulumi.output("not a domain") })).not.toThrow();
  });

  it("names a malformed npm requirement itself, not the allowScripts entry it makes unmatchable", () => {
    let thrown: unknown;
    try {
      validateArgs("m", { predictor, requirements: ["sentiment@^5", "Bad Name!"], allowScripts: ["sentiment"] });
    } catch (error) {
      thrown = error;
    }
    expect((thrown as pulumi.InputPropertiesError).errors).toEqual([
      {
        propertyPath: "requirements",
        reason: 'requirements: "Bad Name!" is not an npm package name (like "sharp" or "sharp@0.33")',
      },
    ]);
  });

  it("checks the batching args with the runtime's ranges, and a wait only with batching on", () => {
    const problem = (args: Record<string, unknown>) => {
      try {
        validateArgs("m", { predictor, ...args });
      } catch (error) {
        return (error as pulumi.InputPropertiesError).errors.map((e) => [e.propertyPath, e.reason]);
      }
      return [];
    };
    expect(problem({ maxBatchSize: 32, maxBatchWaitMs: 0 })).toEqual([]);
    expect(problem({ maxBatchSize: 0 })).toEqual([
      ["maxBatchSize", "maxBatchSize: 0 must be a whole number from 1 (no batching) to 4096"],
    ]);
    expect(problem({ maxBatchSize: "32" })).toEqual([
      ["maxBatchSize", 'maxBatchSize: "32" must be a whole number from 1 (no batching) to 4096'],
    ]);
    expect(problem({ maxBatchSize: 8, maxBatchWaitMs: 1.5 })).toEqual([
      ["maxBatchWaitMs", "maxBatchWaitMs: 1.5 must be a whole number of ms from 0 to 60000"],
    ]);
    expect(problem({ maxBatchWaitMs: 5 })).toEqual([
      ["maxBatchWaitMs", "maxBatchWaitMs needs maxBatchSize above 1: batching is off"],
    ]);
  });

  it("gives each problem the property path its check names, not one read out of the message", () => {
    const paths = (args: Record<string, unknown>) => {
      try {
        validateArgs("m", { predictor, ...args });
      } catch (error) {
        return (error as pulumi.InputPropertiesError).errors.map((e) => e.propertyPath);
      }
      return [];
    };
    expect(paths({ replicas: { min: 0 } })).toEqual(["replicas.min"]);
    expect(paths({ domain: "not a domain" })).toEqual(["domain"]);
    // Messages that start with another word than the property they concern.
    expect(paths({ zone: "europe-west1-b", region: "us-central1" })).toEqual(["zone"]);
    expect(paths({ requirements: ["sentiment"], requirementsFile: "package.json" })).toEqual(["requirementsFile"]);
    expect(paths({ labels: { Team: "ml", team: "ML" } })).toEqual(['labels["Team"]', 'labels["team"]']);
    expect(paths({ maxBatchWaitMs: 5 })).toEqual(["maxBatchWaitMs"]);
  });

  it("passes valid args and returns no warnings", () => {
    expect(
      validateArgs(
        "m",
        { predictor, zone: "us-central1-a", region: "us-central1", provisioning: "standard" },
        new Date("2026-11-25T12:00:00Z"),
      ),
    ).toEqual([]);
  });
});
