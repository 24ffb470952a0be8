import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { validateArgs } from "../../components/validate";

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

  it("passes valid args and returns no warnings", () => {
    expect(validateArgs("m", { predictor, zone: "us-central1-a", region: "us-central1", provisioning: "standard" }, new Date("2026-11-25T12:00:00Z"))).toEqual([]);
  });
});
