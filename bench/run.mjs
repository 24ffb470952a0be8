// `npm run bench [name]`: runs every bench/*.bench.{mjs,ts} (or those whose name contains `name`) in turn.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const filter = process.argv[2] ?? "";
const benches = readdirSync(here)
  .filter((f) => /\.bench\.(mjs|ts)$/.test(f) && f.includes(filter))
  .sort();
if (benches.length === 0) {
  console.error(`no benchmark matches "${filter}"`);
  process.exit(2);
}
let failed = 0;
for (const bench of benches) {
  console.log(`\n=== ${bench}`);
  const { status } = spawnSync(
    process.execPath,
    bench.endsWith(".ts") ? [join(here, "..", "scripts", "runTs.cjs"), join(here, bench)] : [join(here, bench)],
    { stdio: "inherit" },
  );
  if (status !== 0) failed += 1;
}
process.exit(failed > 0 ? 1 : 0);
