#!/usr/bin/env node
// The `budgetml` command. Each subcommand is one entry in this table.
import { runCommand } from "./runtime/runCommand";
import { runLocal } from "./local/localCommand";
import { runServe } from "./runtime/serveCommand";

const COMMANDS: Record<string, { summary: string; run: (argv: string[]) => Promise<number | undefined> }> = {
  local: { summary: "run the whole deployment on this machine (no cloud account)", run: runLocal },
  serve: { summary: "serve a predictor over HTTP (the runtime, as on the VM)", run: runServe },
};

const USAGE = `Usage: budgetml <command> [options]\n\nCommands:\n${Object.entries(COMMANDS)
  .map(([name, { summary }]) => `  ${name.padEnd(8)} ${summary}`)
  .join("\n")}\n\nRun "budgetml <command> --help" for a command's options.`;

void runCommand(
  "budgetml",
  async ([name, ...rest]) => {
    if (name === undefined || name === "--help" || name === "-h" || name === "help") {
      process.stdout.write(`${USAGE}\n`);
      return name === undefined ? 2 : 0;
    }
    const command = COMMANDS[name];
    if (!command) {
      process.stderr.write(`budgetml: unknown command "${name}"\n${USAGE}\n`);
      return 2;
    }
    return command.run(rest);
  },
  process.argv.slice(2),
);
