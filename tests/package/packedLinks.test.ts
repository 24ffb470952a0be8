// Every relative link in the Markdown the npm package carries resolves inside the package: a reader
// of node_modules/budgetml (or of a registry's file browser) meets no dead link. The file list is
// npm's own (`npm pack --dry-run`), so it follows package.json's "files" without installing anything.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { posix } from "node:path";
import { join } from "node:path";
import { headingAnchors, relativeLinks } from "../docs/markdownLinks";

const root = join(__dirname, "..", "..");

/** The files `npm pack` would put in the tarball, relative to its root. */
function packedFiles(): string[] {
  // --ignore-scripts: prepack's build only changes what is under dist/, where no page links.
  const output = execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts", "--loglevel", "error"], {
    cwd: root,
    encoding: "utf8",
  });
  return (JSON.parse(output) as Array<{ files: Array<{ path: string }> }>)[0].files.map((file) => file.path);
}

/** The links of a packed page that lead nowhere inside the package, each with why. */
function deadLinks(page: string, packed: Set<string>): string[] {
  const markdown = readFileSync(join(root, page), "utf8");
  const dead: string[] = [];
  for (const target of relativeLinks(markdown)) {
    const [path, anchor] = target.split("#");
    const file = path === "" ? page : posix.normalize(posix.join(posix.dirname(page), decodeURIComponent(path)));
    const isFile = packed.has(file);
    const isDirectory = [...packed].some((packedFile) => packedFile.startsWith(`${file.replace(/\/$/, "")}/`));
    if (!isFile && !isDirectory) dead.push(`${target}: ${file} is not in the package`);
    else if (
      anchor !== undefined &&
      isFile &&
      file.endsWith(".md") &&
      !headingAnchors(readFileSync(join(root, file), "utf8")).has(anchor)
    )
      dead.push(`${target}: no heading #${anchor} in ${file}`);
  }
  return dead;
}

const packed = packedFiles();
const pages = packed.filter((file) => file.endsWith(".md"));

test("the package carries the README and the docs pages, so the check below means something", () => {
  expect(pages).toEqual(expect.arrayContaining(["README.md", "docs/README.md", "docs/http-api.md"]));
  expect(relativeLinks(readFileSync(join(root, "README.md"), "utf8")).length).toBeGreaterThan(5);
});

test.each(pages)("every relative link in the packed %s resolves inside the package", (page) => {
  expect(deadLinks(page, new Set(packed))).toEqual([]);
});
