import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";

// The import directions ARCHITECTURE.md draws are what `npm run lint` enforces: an import from each
// part into every other is linted with the project's own eslint.config.mjs, and refused exactly
// where the table says it is not allowed. No import cycle gets through either.

const ROOT = join(__dirname, "..", "..");
const BOUNDARIES = "import-x/no-restricted-paths";
const CYCLES = "import-x/no-cycle";

/** A real file of each part: the probe lints as this file, importing the others' files. */
const FILE_OF: Record<string, string> = {
  "contracts/": "contracts/settings.ts",
  "runtime/": "runtime/health.ts",
  "functions/": "functions/restarter/clock.ts",
  "images/": "images/vm/bootLog.ts",
  "bundles/": "bundles/archive.ts",
  "components/": "components/pricing.ts",
  "local/": "local/programFile.ts",
  "index.ts": "index.ts",
  "cli.ts": "cli.ts",
  "tests/": "tests/support/waitFor.ts",
  "bench/": "bench/support.ts",
  "scripts/": "scripts/build.mjs",
  "examples/": "examples/sentiment/predictor.ts",
};

interface Direction {
  parts: string[];
  /** The parts it may import, or "anything". */
  mayImport: string[] | "anything";
}

/** The rows of ARCHITECTURE.md's "Import directions" table. */
function documentedDirections(): Direction[] {
  const text = readFileSync(join(ROOT, "ARCHITECTURE.md"), "utf8");
  const section = text.slice(text.indexOf("## Import directions"));
  const table = section.slice(0, section.indexOf("\n\n", section.indexOf("| part |")));
  const names = (cell: string) => [...cell.replace(/\([^)]*\)/g, "").matchAll(/`([^`]+)`/g)].map((match) => match[1]);
  return table
    .split("\n")
    .filter((line) => line.startsWith("| `"))
    .map((line) => {
      const [, parts, mayImport] = line.split("|").map((cell) => cell.trim());
      return { parts: names(parts), mayImport: mayImport.startsWith("anything") ? "anything" : names(mayImport) };
    });
}

interface LintMessage {
  ruleId: string | null;
  line: number;
  message: string;
}

/** Lints each probe with the project's config, running only `rules`. */
function lint(rules: string[], probes: Array<{ filePath: string; text: string }>, cwd = ROOT): LintMessage[][] {
  const output = execFileSync(process.execPath, [join(ROOT, "tests", "support", "lintProbes.mjs")], {
    input: JSON.stringify({ cwd, rules, probes }),
    encoding: "utf8",
  });
  return (JSON.parse(output) as Array<{ messages: LintMessage[] }>).map((result) => result.messages);
}

/** The specifier `from` uses to import `to` (both relative to the root). */
function specifier(from: string, to: string): string {
  const path = relative(dirname(from), to).replace(/\.ts$/, "");
  return path.startsWith(".") ? path : `./${path}`;
}

describe("import directions", () => {
  const directions = documentedDirections();
  const parts = directions.flatMap((direction) => direction.parts);

  it("the table names every part of the tree once", () => {
    const topLevel = readdirSync(ROOT).filter(
      (name) =>
        !name.startsWith(".") &&
        !["node_modules", "dist", "coverage"].includes(name) &&
        (statSync(join(ROOT, name)).isDirectory() ? hasSource(join(ROOT, name)) : /\.ts$/.test(name)),
    );
    expect([...parts].sort()).toEqual(
      topLevel.map((name) => (statSync(join(ROOT, name)).isDirectory() ? `${name}/` : name)).sort(),
    );
    expect(new Set(parts).size).toBe(parts.length);
    expect(Object.keys(FILE_OF).sort()).toEqual([...parts].sort());
  });

  it("each part may import exactly what the table allows", () => {
    const probes = parts.map((part) => {
      const others = parts.filter((other) => other !== part);
      const text = others.map((other) => `import "${specifier(FILE_OF[part], FILE_OF[other])}";`).join("\n");
      return { part, others, probe: { filePath: FILE_OF[part], text: `${text}\n` } };
    });
    const results = lint(
      [BOUNDARIES],
      probes.map(({ probe }) => probe),
    );
    const refused = Object.fromEntries(
      probes.map(({ part, others }, i) => [
        part,
        results[i]
          .filter((message) => message.ruleId === BOUNDARIES)
          .map((message) => others[message.line - 1])
          .sort(),
      ]),
    );
    const expected = Object.fromEntries(
      directions.flatMap(({ parts: rowParts, mayImport }) =>
        rowParts.map((part) => [
          part,
          mayImport === "anything" ? [] : parts.filter((other) => other !== part && !mayImport.includes(other)).sort(),
        ]),
      ),
    );
    expect(refused).toEqual(expected);
    // Not a vacuous pass: the deployables are each refused most of the tree.
    expect(refused["images/"]).toContain("runtime/");
    expect(refused["components/"]).toEqual(expect.arrayContaining(["images/", "functions/", "runtime/"]));
  });

  it("a refusal names the rule's reason", () => {
    const [messages] = lint(
      [BOUNDARIES],
      [{ filePath: "images/vm/bootLog.ts", text: 'import "../../runtime/health";\n' }],
    );
    expect(messages).toEqual([
      expect.objectContaining({
        ruleId: BOUNDARIES,
        message: expect.stringContaining("images/ may import only contracts/"),
      }),
    ]);
  });
});

describe("import cycles", () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), "budgetml-cycle-"))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("are refused, unless only types go one way (type imports vanish when compiled)", () => {
    writeFileSync(join(dir, "a.ts"), 'import { b } from "./b";\nexport const a = () => b;\n');
    writeFileSync(join(dir, "b.ts"), 'import { a } from "./a";\nexport const b = 1;\nexport const c = () => a;\n');
    writeFileSync(
      join(dir, "typeA.ts"),
      'import type { B } from "./typeB";\nexport type A = B;\nexport const a = 1;\n',
    );
    writeFileSync(
      join(dir, "typeB.ts"),
      'import { a } from "./typeA";\nexport type B = number;\nexport const b = a;\n',
    );
    const [cycle, typeOnly] = lint(
      [CYCLES],
      ["a.ts", "typeA.ts"].map((file) => ({ filePath: file, text: readFileSync(join(dir, file), "utf8") })),
      dir,
    );
    expect(cycle).toEqual([expect.objectContaining({ ruleId: CYCLES })]);
    expect(typeOnly.filter((message) => message.ruleId === CYCLES)).toEqual([]);
  });
});

function hasSource(dir: string): boolean {
  return readdirSync(dir, { withFileTypes: true }).some((entry) =>
    entry.isDirectory()
      ? entry.name !== "node_modules" && hasSource(join(dir, entry.name))
      : /\.(ts|mjs|cjs)$/.test(entry.name),
  );
}
