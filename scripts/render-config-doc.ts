// `npm run docs:config`: writes docs/configuration.md from the environment registries.
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { CONFIGURATION_DOC, renderConfigurationDoc } from "./configurationDoc";

writeFileSync(resolve(__dirname, "..", CONFIGURATION_DOC), renderConfigurationDoc());
process.stdout.write(`wrote ${CONFIGURATION_DOC}\n`);
