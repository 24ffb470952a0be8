// Lints source texts as if they were the given files, with the project's eslint.config.mjs, in a
// process of its own (ESLint loads its config as ES modules, which Jest's sandbox does not run).
// stdin: `{ cwd?, rules?, probes: [{ filePath, text }] }` (`rules`: run only these, without type
// information, which only other rules need); stdout: one `{ filePath, messages }` per probe.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ESLint } from "eslint";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const { cwd = root, rules, probes } = JSON.parse(readFileSync(0, "utf8"));
const eslint = new ESLint({
  cwd,
  overrideConfigFile: join(root, "eslint.config.mjs"),
  ...(rules
    ? {
        ruleFilter: ({ ruleId }) => rules.includes(ruleId),
        overrideConfig: { languageOptions: { parserOptions: { project: false, projectService: false } } },
      }
    : {}),
});
const results = [];
for (const { filePath, text } of probes) {
  const [result] = await eslint.lintText(text, { filePath: join(cwd, filePath) });
  const messages = result.messages.map(({ ruleId, line, message }) => ({ ruleId, line, message }));
  results.push({ filePath, messages });
}
process.stdout.write(JSON.stringify(results));
