import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as ts from "typescript";
import * as pulumi from "@pulumi/pulumi";
import { ARG_DEFAULTS } from "../../components/args/defaults";
import { resolveArgs } from "../../components/args/resolveArgs";

// The defaults live in one object (components/args/defaults.ts); the TSDoc a user reads (and the API
// reference generated from it) states them. Held equal here, so neither drifts from the other.
const ARGS_FILE = join(__dirname, "..", "..", "components", "args", "budgetModelArgs.ts");
const PREDICTOR = join(__dirname, "..", "..", "examples", "sentiment", "predictor.ts");

/** Each field of BudgetModelArgs → the text of its `@default` tag (undefined when it has none). */
function documentedDefaults(): Map<string, string | undefined> {
  const source = ts.createSourceFile(ARGS_FILE, readFileSync(ARGS_FILE, "utf8"), ts.ScriptTarget.Latest, true);
  const fields = new Map<string, string | undefined>();
  source.forEachChild((node) => {
    if (!ts.isInterfaceDeclaration(node) || node.name.text !== "BudgetModelArgs") return;
    for (const member of node.members) {
      const tag = ts.getJSDocTags(member).find((t) => t.tagName.text === "default");
      const text = tag && ts.getTextOfJSDocComment(tag.comment);
      fields.set((member.name as ts.Identifier).text, text?.replace(/\s+/g, " ").trim());
    }
  });
  return fields;
}

describe("the defaults of BudgetModelArgs (components/args/defaults.ts)", () => {
  it("states in the TSDoc of every optional field exactly the default ARG_DEFAULTS holds", () => {
    const documented = documentedDefaults();
    expect(documented.size).toBeGreaterThan(25);
    expect(documented.get("predictor")).toBeUndefined(); // required: no default
    documented.delete("predictor");
    expect(Object.fromEntries(documented)).toEqual(
      Object.fromEntries(Object.entries(ARG_DEFAULTS).map(([key, fallback]) => [key, fallback.doc])),
    );
  });

  it("words each fixed default as the value the component uses", () => {
    for (const [key, fallback] of Object.entries(ARG_DEFAULTS))
      if ("value" in fallback)
        expect([key, fallback.doc]).toEqual([
          key,
          expect.stringMatching(new RegExp(`^${escape(JSON.stringify(fallback.value))}( |$)`)),
        ]);
  });

  it("applies every fixed default to the args a program leaves out, and keeps what it gives", () => {
    const stack = { project: "stack-proj", zone: "europe-west1-b" };
    const { args } = resolveArgs("m", { predictor: PREDICTOR }, stack, new Date("2026-11-25T12:00:00Z"));
    for (const [key, fallback] of Object.entries(ARG_DEFAULTS))
      if ("value" in fallback) expect([key, args[key as keyof typeof args]]).toEqual([key, fallback.value]);
    expect(args).toMatchObject({ project: "stack-proj", zone: "europe-west1-b", region: "europe-west1" });
    const given = resolveArgs("m", { predictor: PREDICTOR, machineType: "n2-standard-4", running: false }, stack).args;
    expect(given).toMatchObject({ machineType: "n2-standard-4", running: false, diskSizeGb: 20 });
  });

  it("gives a missing project and zone each its property path, with one sentence for both", () => {
    let thrown: unknown;
    try {
      resolveArgs("m", { predictor: PREDICTOR }, {});
    } catch (error) {
      thrown = error;
    }
    expect(pulumi.InputPropertiesError.isInstance(thrown)).toBe(true);
    const { errors, message } = thrown as pulumi.InputPropertiesError;
    expect(errors.map((e) => e.propertyPath)).toEqual(["project", "zone"]);
    expect(message).toBe('BudgetModel "m": set project and zone in args or as gcp:project / gcp:zone stack config');
  });
});

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
