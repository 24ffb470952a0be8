// The VM's runtime entry (bundled into server.cjs): `node server.cjs [serve] --predictor FILE ...`.
import { runCommand } from "./runCommand";
import { runServe } from "./serveCommand";

void runCommand(
  "budgetml-runtime",
  (argv) => runServe(argv[0] === "serve" ? argv.slice(1) : argv),
  process.argv.slice(2),
);
