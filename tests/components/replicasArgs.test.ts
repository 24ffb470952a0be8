import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { planReplicas, replicasProblems } from "../../components/replicas/replicasArgs";
import { validateArgs } from "../../components/args/validateArgs";

// The `replicas` argument's validation, a pure function, and as `pulumi preview` meets it.
describe("replicasProblems", () => {
  it("accepts the three forms, and plans a spot group and a standard one from each", () => {
    expect(replicasProblems(3)).toEqual([]);
    expect(replicasProblems({ min: 2, max: 8 })).toEqual([]);
    expect(replicasProblems({ min: 2, max: 8, standard: 1 })).toEqual([]);
    expect(replicasProblems({ min: 2, standard: 2 })).toEqual([]); // every replica on demand, fixed
    expect(planReplicas(3)).toEqual({ min: 3, max: 3, standard: 0, spot: { min: 3, max: 3 } });
    expect(planReplicas({ min: 2, max: 8 })).toEqual({ min: 2, max: 8, standard: 0, spot: { min: 2, max: 8 } });
    expect(planReplicas({ min: 2, max: 8, standard: 1 })).toEqual({
      min: 2,
      max: 8,
      standard: 1,
      spot: { min: 1, max: 7 },
    });
    expect(planReplicas({ min: 2 })).toEqual({ min: 2, max: 2, standard: 0, spot: { min: 2, max: 2 } });
  });

  it("names each bad field by its property path", () => {
    expect(replicasProblems(0)).toEqual([
      { propertyPath: "replicas", reason: "replicas: 0 must be a whole number from 1 to 2000" },
    ]);
    expect(replicasProblems(2.5)[0].propertyPath).toBe("replicas");
    expect(replicasProblems(2001)[0].reason).toBe("replicas: 2001 must be a whole number from 1 to 2000");
    expect(replicasProblems("3")).toEqual([
      { propertyPath: "replicas", reason: 'replicas: expected a number or { min, max?, standard? }, got "3"' },
    ]);
    expect(replicasProblems([2])[0].propertyPath).toBe("replicas");
    expect(replicasProblems({ min: 0, max: 3 })).toEqual([
      { propertyPath: "replicas.min", reason: "replicas.min: 0 must be a whole number from 1 to 2000" },
    ]);
    expect(replicasProblems({ max: 3 })[0].propertyPath).toBe("replicas.min");
    expect(replicasProblems({ min: 4, max: 2 })).toEqual([
      { propertyPath: "replicas.max", reason: "replicas.max: 2 is below replicas.min (4)" },
    ]);
    expect(replicasProblems({ min: 2, max: 9999 })[0].propertyPath).toBe("replicas.max");
    expect(replicasProblems({ min: 2, standard: 3 })).toEqual([
      {
        propertyPath: "replicas.standard",
        reason: "replicas.standard: 3 is above replicas.min (2): standard replicas are part of the minimum",
      },
    ]);
    expect(replicasProblems({ min: 2, standard: -1 })[0].propertyPath).toBe("replicas.standard");
    expect(replicasProblems({ min: 2, max: 5, standard: 2 })).toEqual([
      expect.objectContaining({
        propertyPath: "replicas.standard",
        reason: expect.stringMatching(/leaves no spot replica in replicas\.min/),
      }),
    ]);
    expect(replicasProblems({ min: 2, maximum: 5 })).toEqual([
      { propertyPath: "replicas.maximum", reason: "replicas.maximum: not an option (min, max, standard)" },
    ]);
  });

  it("refuses the single VM's args that a replicated model has no use for", () => {
    const paths = replicasProblems(2, {
      provisioning: "standard",
      staticIp: "34.1.2.3",
      schedule: "*/5 * * * *",
      spotFallbackMinutes: 5,
      spotReturnWindow: "02:00-06:00",
      functionRuntime: "nodejs22",
      running: false,
      image: "europe-docker.pkg.dev/p/r/m:1",
      acmeEmail: pulumi.output("ops@example.com"),
    }).map((p) => p.propertyPath);
    expect(paths).toEqual([
      "provisioning",
      "staticIp",
      "schedule",
      "spotFallbackMinutes",
      "spotReturnWindow",
      "functionRuntime",
      "running",
      "image",
      "acmeEmail",
    ]);
    expect(replicasProblems(2, { provisioning: "spot", running: true })).toEqual([]);
    // Without replicas, these args are the single VM's, and fine.
    expect(replicasProblems(undefined, { provisioning: "standard", staticIp: "34.1.2.3" })).toEqual([]);
  });
});

describe("validateArgs with replicas", () => {
  const predictor = join(__dirname, "..", "..", "examples", "sentiment", "predictor.ts");

  it("points pulumi preview at replicas.min and at every other bad field at once", () => {
    let thrown: unknown;
    try {
      validateArgs("m", { predictor, diskSizeGb: 5, replicas: { min: 0, max: 3 }, staticIp: "34.1.2.3" });
    } catch (error) {
      thrown = error;
    }
    expect(pulumi.InputPropertiesError.isInstance(thrown)).toBe(true);
    const { errors, message } = thrown as pulumi.InputPropertiesError;
    expect(errors.map((e) => e.propertyPath)).toEqual(["diskSizeGb", "replicas.min", "staticIp"]);
    expect(message).toMatch(/^BudgetModel "m": diskSizeGb: 5 .*; replicas\.min: 0 must be .*; staticIp does not apply/);
  });

  it("does not check a restarter's function runtime for a model that has no restarter", () => {
    const day = new Date("2028-11-01T12:00:00Z"); // after nodejs24's decommission
    expect(() => validateArgs("m", { predictor }, day)).toThrow(/functionRuntime/);
    expect(validateArgs("m", { predictor, replicas: 2 }, day)).toEqual([]);
  });
});
