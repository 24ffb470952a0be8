import { json } from "./runtimeServer";

/** The login the clients use: `generation` counts the logins a test rolled out (0 first). */
export interface Credentials {
  username: string;
  password: string;
  generation: number;
}

/** One answer a client got: to its login or to a prediction, with the generation of the login it used. */
export interface LoadAnswer {
  /** Which client (0, 1, …) got it. */
  client: number;
  /** When the request was sent, and when it was answered. */
  sent: number;
  at: number;
  kind: "login" | "predict";
  status: number;
  generation: number;
  body: Record<string, unknown>;
}

/** Options of {@link startLoad}. */
export interface LoadOptions {
  /** What each prediction sends. @default { text: "excellent", ms: 20 } */
  payload?: Record<string, unknown>;
  /** How requests are sent. @default fetch */
  request?: (url: string, init: RequestInit) => Promise<Response>;
  /**
   * A pause after each prediction, per client. 0 is a tight loop: it finds the shortest window in
   * which requests fail, and takes every core it can get for as long as it runs. @default 0
   */
  pauseMs?: number;
}

/**
 * Clients predicting in a loop until told to stop, as a user's clients do: each logs in with the
 * credentials `credentials()` names at that moment, predicts with its token until it gets a 401,
 * then logs in again; a refused login is not retried until the credentials change (a client does
 * not hammer the login limiter with a password it knows is wrong). Every answer is kept (a
 * connection error as status 0).
 */
export function startLoad(url: string, credentials: () => Credentials, clients: number, options: LoadOptions = {}) {
  const { payload = { text: "excellent", ms: 20 }, request = fetch, pauseMs = 0 } = options;
  const answers: LoadAnswer[] = [];
  let running = true;
  const loops = Array.from({ length: clients }, async (_, client) => {
    const answer = async (kind: LoadAnswer["kind"], generation: number, call: () => Promise<Response>) => {
      const sent = Date.now();
      const response = await call().catch((error: Error) => ({
        status: 0,
        json: async () => ({ error: `${error.message}: ${String((error.cause as Error)?.message ?? "")}` }),
      }));
      const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
      answers.push({ client, sent, at: Date.now(), kind, status: response.status, generation, body });
      return { status: response.status, body };
    };
    let token: { value: string; generation: number } | undefined;
    let refused: number | undefined;
    while (running) {
      if (!token) {
        const login = credentials();
        if (login.generation === refused) {
          await new Promise((resolve) => setTimeout(resolve, 20));
          continue;
        }
        const { status, body } = await answer("login", login.generation, () =>
          request(`${url}/token`, {
            method: "POST",
            body: new URLSearchParams({ username: login.username, password: login.password }),
          }),
        );
        if (status === 200) token = { value: String(body.access_token), generation: login.generation };
        else if (status === 401 || status === 429) refused = login.generation;
        continue;
      }
      const { status } = await answer("predict", token.generation, () =>
        request(`${url}/predict_dict`, json(token!.value, { payload })),
      );
      if (status === 401) token = undefined;
      if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  });
  return {
    answers,
    /** The predictions answered so far. */
    predictions: () => answers.filter((answer) => answer.kind === "predict"),
    async stop() {
      running = false;
      await Promise.all(loops);
      return answers;
    },
  };
}

/**
 * The answers that failed beyond what a reload of Caddy's configuration may cause. Caddy applies a
 * new configuration by starting new servers and shutting the old ones down gracefully — requests
 * under way finish — but it closes the old servers' kept-alive HTTP/1.1 connections once idle, so
 * a request sent on one at that very instant gets a connection reset. Allowed: connection errors
 * (status 0) sent between `from` and `to`, all within one second (one reload), at most two per
 * client (each may hold more than one kept-alive connection). Never an HTTP error.
 */
export function failuresBeyondReload(answers: LoadAnswer[], from: number, to: number, clients: number): LoadAnswer[] {
  const failed = answers.filter((answer) => answer.status !== 200);
  const resets = failed.filter((answer) => answer.status === 0 && answer.sent >= from && answer.sent <= to);
  const oneInstant =
    resets.length === 0 || Math.max(...resets.map((a) => a.at)) - Math.min(...resets.map((a) => a.sent)) < 1000;
  return oneInstant && resets.length <= 2 * clients ? failed.filter((answer) => !resets.includes(answer)) : failed;
}
