// The errors table of docs/http-api.md is generated from the error registry; these tests keep the
// page, the registry and the code that raises the errors in step.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ERRORS, type ErrorCode } from "../../runtime/http/errorCodes";
import { HttpError } from "../../runtime/http/errors";
import { ERRORS_DOC, renderErrorsTable, withErrorsTable } from "../../scripts/errorsDoc";

const root = join(__dirname, "..", "..");

/** Every TypeScript source under runtime/ but the registry itself, with its text. */
function runtimeSources(): Array<[string, string]> {
  return readdirSync(join(root, "runtime"), { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith(".ts") && !file.endsWith("errorCodes.ts"))
    .map((file) => [file, readFileSync(join(root, "runtime", file), "utf8")]);
}

test("the errors table of docs/http-api.md is what `npm run docs:errors` generates from the registry", () => {
  const checkedIn = readFileSync(join(root, ERRORS_DOC), "utf8");
  // On a difference, run `npm run docs:errors` and commit the page.
  expect(checkedIn).toBe(withErrorsTable(checkedIn));
  for (const code of Object.keys(ERRORS)) expect(renderErrorsTable()).toContain(`| \`${code}\` |`);
});

test("every code is named once, in the scheme, with a status that fits", () => {
  for (const [code, kind] of Object.entries(ERRORS)) {
    expect(code).toMatch(/^BUDGETML_[A-Z]+(_[A-Z]+)*$/);
    expect(kind.code).toBe(code);
    if (kind.status !== "4xx") expect(kind.status >= 400 && kind.status < 600).toBe(true);
  }
});

test("every code in the registry is raised somewhere in runtime/ (no dead codes)", () => {
  const raised = new Set<string>();
  for (const [, text] of runtimeSources())
    for (const [, code] of text.matchAll(/\bERRORS\.(BUDGETML_\w+)/g)) raised.add(code);
  // The scan finds the codes (a scan that finds nothing would fail below for every code).
  const dead = Object.keys(ERRORS).filter((code) => !raised.has(code));
  expect(dead).toEqual([]);
  // …and names none the registry lacks (tsc refuses those too).
  expect([...raised].filter((code) => !(code in ERRORS))).toEqual([]);
});

test("an HttpError carries a code from the registry, and the status the registry gives it", () => {
  const error = new HttpError(ERRORS.BUDGETML_NOT_FOUND, "No route GET /x");
  expect({ code: error.code, status: error.status }).toEqual({ code: "BUDGETML_NOT_FOUND", status: 404 });
  // Checked by tsc (`npm run typecheck`): each line below fails to compile, or the directive fails.
  const doesNotCompile = () => [
    // @ts-expect-error: a bare status, without a code
    new HttpError(404, "No route"),
    // @ts-expect-error: only the predictor's own refusal chooses its status
    new HttpError({ code: "BUDGETML_NOT_FOUND" satisfies ErrorCode, status: 410 }, "gone"),
  ];
  expect(typeof doesNotCompile).toBe("function");
});

test("every HttpError raised under runtime/ is built from the registry", () => {
  // tsc enforces it; the scan keeps a cast (`as never`) from slipping a bare status through.
  const bare = runtimeSources().flatMap(([file, text]) =>
    [...text.matchAll(/new HttpError\(\s*([^,\s]+)/g)]
      .map((match) => match[1])
      .filter((first) => !/^(ERRORS\.BUDGETML_\w+|kind|\{)$/.test(first))
      .map((first) => `${file}: new HttpError(${first}, …)`),
  );
  expect(bare).toEqual([]);
});
