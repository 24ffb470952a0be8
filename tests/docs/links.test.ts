// Every relative link and anchor in the user's and maintainer's docs resolves: a page moved or a
// heading renamed fails here, not in a reader's browser.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { headingAnchors, relativeLinks } from "./markdownLinks";

const root = join(__dirname, "..", "..");
const pages = [
  "README.md",
  "ARCHITECTURE.md",
  "DEVELOPMENT.md",
  ...readdirSync(join(root, "docs"))
    .filter((name) => name.endsWith(".md"))
    .map((name) => `docs/${name}`),
];

function brokenLinks(page: string): string[] {
  const markdown = readFileSync(join(root, page), "utf8");
  const broken: string[] = [];
  for (const target of relativeLinks(markdown)) {
    const [path, anchor] = target.split("#");
    const file = path === "" ? join(root, page) : join(root, dirname(page), decodeURIComponent(path));
    if (!existsSync(file)) {
      broken.push(`${target}: no ${relative(root, file)}`);
      continue;
    }
    if (anchor === undefined) continue;
    if (statSync(file).isDirectory() || !file.endsWith(".md")) {
      broken.push(`${target}: an anchor into something that is not a Markdown page`);
      continue;
    }
    if (!headingAnchors(readFileSync(file, "utf8")).has(anchor))
      broken.push(`${target}: no heading #${anchor} in ${relative(root, file)}`);
  }
  return broken;
}

test("the checker sees links and anchors (so a clean result means something)", () => {
  expect(relativeLinks("[a](docs/x.md#y) `[b](c.md)` [e](https://example.com)")).toEqual(["docs/x.md#y"]);
  expect(headingAnchors("# Arguments (`BudgetModelArgs`)\n## The restarter's environment\n## A\n## A")).toEqual(
    new Set(["arguments-budgetmodelargs", "the-restarters-environment", "a", "a-1"]),
  );
});

test.each(pages)("every relative link and anchor in %s resolves", (page) => {
  expect(brokenLinks(page)).toEqual([]);
});

test("README.md links every page under docs/", () => {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const linked = new Set(relativeLinks(readme).map((target) => target.split("#")[0]));
  const unlinked = pages.filter((page) => page.startsWith("docs/") && page !== "docs/README.md" && !linked.has(page));
  expect(unlinked).toEqual([]);
});
