// `npm run docs:errors`: writes the errors table of docs/http-api.md from the error registry.
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { ERRORS_DOC, withErrorsTable } from "./errorsDoc";

const page = resolve(__dirname, "..", ERRORS_DOC);
writeFileSync(page, withErrorsTable(readFileSync(page, "utf8")));
process.stdout.write(`wrote the errors table of ${ERRORS_DOC}\n`);
