// Every relative link and anchor in the user's and maintainer's docs resolves: a page moved or a
// heading renamed fails here, not in a reader's browser.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";

const root = join(__dirname, "..", "..");
const pages = [
  "README.md",
  "ARCHITECTURE.md",
  "DEVELOPMENT.md",
  ...readdirSync(join(root, "docs"))
    .filter((name) => name.endsWith(".md"))
    .map((name) => `docs/${name}`),
];

/** The text a reader sees as Markdown, without code blocks and code spans (where `](` is code). */
function prose(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```/gm, "").replace(/`[^`\n]*`/g, "");
}

/** GitHub's anchors for a page's headings: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const [, heading] of markdown.replace(/^```[\s\S]*?^```/gm, "").matchAll(/^#{1,6} (.+)$/gm)) {
    const slug = heading
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, "")
      .replace(/\s/g, "-");
    const count = seen.get(slug) ?? 0;
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
    seen.set(slug, count + 1);
  }
  return anchors;
}

/** Every link target of a page that stays inside this repository. */
function relativeLinks(markdown: string): string[] {
  return [...prose(markdown).matchAll(/\]\(([^)\s]+)\)/g)]
    .map((match) => match[1])
    .filter((target) => !/^[a-z][a-z0-9+.-]*:/i.test(target));
}

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
