// The shape of an entry in the environment registries (the runtime's, runtime/cli/environment.ts,
// and the boot's, images/vm/bootEnvironment.ts), from which docs/configuration.md is generated.

/** One environment variable: what it means, its default, and who sets it in a deployment. */
export interface EnvironmentVariable {
  /** What it sets, for the reader of `docs/configuration.md` (Markdown). */
  readonly meaning: string;
  /** The value used when it is unset (Markdown). */
  readonly default: string;
  /** Who sets it: the user, the VM's boot, local mode, a replica's template (Markdown). */
  readonly setBy: string;
}
