// How the runtime receives its credentials on a VM (written by images/vm/, read by runtime/): not
// through its environment — a process's environment stays readable in /proc/<pid>/environ by
// every process of the same account for as long as it runs, deleting a variable from
// `process.env` changes nothing there, and children inherit it — but as one JSON object on its
// standard input, which it reads once at start. systemd opens a root-only file as the unit's
// standard input; the runtime's primary process hands the same object to each cluster worker
// through the worker's standard input.

/** The variables that hold the runtime's credentials: the login and the token signing key. */
export const CREDENTIAL_VARIABLES = ["BUDGET_USERNAME", "BUDGET_PWD", "BUDGET_TOKEN"] as const;

export type CredentialVariable = (typeof CREDENTIAL_VARIABLES)[number];

/** Set in the runtime's environment: read the credentials from standard input. */
export const CREDENTIALS_SOURCE = { name: "BUDGET_CREDENTIALS", stdin: "stdin" } as const;

/** What goes on the runtime's standard input. */
export function encodeCredentials(values: Record<CredentialVariable, string>): string {
  return `${JSON.stringify(Object.fromEntries(CREDENTIAL_VARIABLES.map((name) => [name, values[name]])))}\n`;
}

/** The credentials from what arrived on standard input; throws a precise error for anything else. */
export function decodeCredentials(text: string): Record<CredentialVariable, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(
      `${CREDENTIALS_SOURCE.name}=${CREDENTIALS_SOURCE.stdin}: standard input is not a JSON object of ${CREDENTIAL_VARIABLES.join(", ")}`,
    );
  }
  const object = (parsed ?? {}) as Record<string, unknown>;
  const bad = CREDENTIAL_VARIABLES.filter((name) => typeof object[name] !== "string" || object[name] === "");
  if (typeof parsed !== "object" || Array.isArray(parsed) || bad.length > 0)
    throw new Error(
      `${CREDENTIALS_SOURCE.name}=${CREDENTIALS_SOURCE.stdin}: standard input lacks ${bad.join(", ") || CREDENTIAL_VARIABLES.join(", ")}`,
    );
  return Object.fromEntries(CREDENTIAL_VARIABLES.map((name) => [name, object[name] as string])) as Record<
    CredentialVariable,
    string
  >;
}

/**
 * A runtime environment split in two: what may be in its environment (plus the switch that
 * says where the credentials come from), and the credentials, encoded for its standard input.
 */
export function splitCredentials(env: Record<string, string>): { env: Record<string, string>; stdin: string } {
  const rest = Object.fromEntries(
    Object.entries(env).filter(([name]) => !(CREDENTIAL_VARIABLES as readonly string[]).includes(name)),
  );
  return {
    env: { ...rest, [CREDENTIALS_SOURCE.name]: CREDENTIALS_SOURCE.stdin },
    stdin: encodeCredentials(env as Record<CredentialVariable, string>),
  };
}
