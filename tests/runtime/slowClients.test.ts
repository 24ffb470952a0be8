import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { readServeConfig } from "../../runtime/config";
import { createLogger } from "../../runtime/logger";
import { startServer } from "../../runtime/server";
import { json, login, PASSWORD, SIGNING_KEY, startTestRuntime, USERNAME } from "../support/runtimeServer";

/** Opens a connection, writes `head`, and resolves with everything the server sent once it closes. */
async function sendAndStall(port: number, head: string): Promise<{ socket: Socket; closed: Promise<string> }> {
  const socket = connect(port, "127.0.0.1");
  await new Promise((resolve) => socket.once("connect", resolve));
  let received = "";
  socket.on("data", (chunk) => (received += chunk));
  const closed = new Promise<string>((resolve) => socket.once("close", () => resolve(received)));
  socket.write(head);
  return { socket, closed };
}

describe("slow clients cannot hold the server", () => {
  it("a body that does not arrive in time gets 408, and its slot is free again", async () => {
    const server = await startTestRuntime({ predict: async () => ({ ok: true }) }, { bodyTimeoutMs: 300, maxInFlight: 1, maxQueued: 4 });
    try {
      const token = await server.token();
      const { port } = new URL(server.url);
      const { closed } = await sendAndStall(
        Number(port),
        `POST /predict_dict HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"payload":`,
      );
      const answer = await closed;
      expect(answer).toMatch(/^HTTP\/1\.1 408 /);
      expect(answer).toMatch(/"error":"The request body did not arrive within 300 ms"/);
      expect(server.runtime.admission.inFlight).toBe(0);
      const fresh = await fetch(`${server.url}/predict_dict`, json(token, { payload: {} }));
      expect(fresh.status).toBe(200);
      expect(server.logLines.join("\n")).not.toMatch(/error after the response started/);
    } finally {
      await server.close();
    }
  });

  it("headers that do not arrive in time close the connection; the server keeps serving", async () => {
    const env = { BUDGET_USERNAME: USERNAME, BUDGET_PWD: PASSWORD, BUDGET_TOKEN: SIGNING_KEY, BUDGET_HEADERS_TIMEOUT_MS: "300" };
    const config = readServeConfig(env, { predictor: join(__dirname, "..", "fixtures", "slowPredictor.cjs"), entrypoint: "Slow", port: "0", host: "127.0.0.1", workers: "1" });
    const running = await startServer(config, createLogger({ level: "silent" }));
    try {
      await running.runtime.loaded;
      const { closed } = await sendAndStall(running.port, "POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-w");
      expect(await closed).toMatch(/^HTTP\/1\.1 408 /);
      const url = `http://127.0.0.1:${running.port}`;
      expect((await fetch(`${url}/predict_dict`, json(await login(url), { payload: { ms: 0 } }))).status).toBe(200);
    } finally {
      await running.drain();
    }
  });
});
