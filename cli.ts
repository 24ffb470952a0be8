#!/usr/bin/env node
// The `budgetml` command. Each subcommand is one entry in this table, loaded only when chosen:
// `local` pulls in the Google clients, which `serve` must not pay for at every start.
import { runCommand } from "./runtime/cli/runCommand";

const COMMANDS: Record<string, { summary: string; run: (argv: string[]) => Promise<number | undefined> }> = {
  local: {
    summary: "run the whole deployment on this machine (no cloud account)",
    run: async (argv) => (await import("./local/localCommand.js")).runLocal(argv),
  },
  serve: {
    summary: "serve a predictor over HTTP (the runtime, as on the VM)",
    run: async (argv) => (await import("./runtime/cli/serveCommand.js")).runServe(argv),
  },
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
