import cluster, { type Worker } from "node:cluster";
import { ERRORS, HttpError } from "../http/errors";
import type { LoginGuard, LoginLimiter } from "./loginLimiter";

// One login limiter for the whole server: workers share a port, so a per-worker limiter would let
// an attacker multiply the limit by the number of workers. The cluster's primary owns the limiter;
// workers ask it over the cluster's IPC channel.

type Ask = { type: "budgetml:login"; id: number; op: "attempt" | "succeeded"; address: string };
type Answer = { type: "budgetml:login-answer"; id: number; retryAfter: number };

/** How long a worker waits for the primary before refusing the login (fail closed). */
const ANSWER_TIMEOUT_MS = 5000;

/** In the primary: answers every worker's questions from `limiter`. */
export function serveLoginLimiter(limiter: LoginLimiter): void {
  cluster.on("message", (worker: Worker, message: Ask) => {
    if (message?.type !== "budgetml:login") return;
    if (message.op === "succeeded") return limiter.succeeded(String(message.address));
    const answer: Answer = {
      type: "budgetml:login-answer",
      id: message.id,
      retryAfter: limiter.attempt(String(message.address)),
    };
    if (worker.isConnected()) worker.send(answer);
  });
}

/** In a worker: a {@link LoginGuard} that asks the primary. */
export function sharedLoginGuard(): LoginGuard {
  let nextId = 0;
  const pending = new Map<number, (retryAfter: number) => void>();
  process.on("message", (message: Answer) => {
    if (message?.type !== "budgetml:login-answer") return;
    pending.get(message.id)?.(message.retryAfter);
    pending.delete(message.id);
  });
  const ask = (message: Omit<Ask, "type" | "id">, id: number) =>
    process.send?.({ type: "budgetml:login", id, ...message } satisfies Ask);
  return {
    attempt: (address) =>
      new Promise<number>((resolve, reject) => {
        const id = (nextId += 1);
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(
            new HttpError(ERRORS.BUDGETML_LOGIN_UNAVAILABLE, "Logins are unavailable for a moment; retry shortly", {
              "Retry-After": "1",
            }),
          );
        }, ANSWER_TIMEOUT_MS);
        pending.set(id, (retryAfter) => {
          clearTimeout(timer);
          resolve(retryAfter);
        });
        ask({ op: "attempt", address }, id);
      }),
    succeeded: (address) => void ask({ op: "succeeded", address }, 0),
  };
}
