import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { createApp, type AppOptions, type Runtime } from "../../runtime/app";
import { createLogger } from "../../runtime/logger";
import type { Predictor } from "../../runtime/predictor";

export const USERNAME = "budget";
export const PASSWORD = "correct horse battery staple";
export const SIGNING_KEY = "0123456789abcdef0123456789abcdef";

/** A runtime on 127.0.0.1:0 whose JSON log lines are kept for assertions. */
export interface TestRuntime {
  url: string;
  runtime: Runtime;
  logLines: string[];
  token(): Promise<string>;
  close(): Promise<void>;
}

export async function startTestRuntime(predictor: Predictor | (() => Promise<Predictor>), options: Partial<AppOptions> = {}): Promise<TestRuntime> {
  const logLines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      logLines.push(...String(chunk).split("\n").filter(Boolean));
      done();
    },
  });
  const runtime = createApp({
    credentials: { username: USERNAME, password: PASSWORD },
    tokenSigningKey: SIGNING_KEY,
    loadPredictor: async () => ({ instance: typeof predictor === "function" ? await predictor() : predictor, name: "test:Predictor" }),
    logger: createLogger({ destination }),
    ...options,
  });
  const server: Server = createServer(runtime.handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  await runtime.loaded;
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    runtime,
    logLines,
    token: () => login(url),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The seed's documented client flow: a form with every OAuth2 field, most of them empty. */
export async function login(url: string, username = USERNAME, password = PASSWORD): Promise<string> {
  const response = await fetch(`${url}/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "", username, password, scope: "", client_id: "", client_secret: "" }),
  });
  if (response.status !== 200) throw new Error(`login failed: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { access_token: string }).access_token;
}

export const json = (token: string, body: unknown): RequestInit => ({
  method: "POST",
  headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
  body: JSON.stringify(body),
});

/** Resolves after `ms`; for predictors that must be slow on purpose. */
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
