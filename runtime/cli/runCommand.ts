import { UsageError } from "./config";

/**
 * Runs a command and turns its outcome into the process's exit: a usage error or a bad flag is
 * one line and exit 2; an unexpected failure is one line and exit 1, at once; a command that keeps
 * serving returns `undefined` and leaves the process running.
 */
export async function runCommand(
  program: string,
  command: (argv: string[]) => Promise<number | undefined>,
  argv: string[],
): Promise<void> {
  try {
    const code = await command(argv);
    if (code !== undefined) process.exitCode = code;
  } catch (error) {
    const usage = error instanceof UsageError || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
    process.stderr.write(`${program}: ${(error as Error).message}\n`);
    // Exit now: what is still in flight belongs to what failed (a failed Pulumi program's pending
    // registrations, say) and could only add noise to the one line above.
    process.exit(usage ? 2 : 1);
  }
}
