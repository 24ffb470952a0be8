import { connect } from "node:net";
import { startInProcessRuntime } from "../support/inProcessRuntime";
import { json, login } from "../support/runtimeServer";

/** Opens a connection, writes `head`, and resolves with everything the server sent once it closes. */
async function sendAndStall(url: string, head: string): Promise<string> {
  const socket = connect(Number(new URL(url).port), "127.0.0.1");
  await new Promise((resolve) => socket.once("connect", resolve));
  let received = "";
  socket.on("data", (chunk) => (received += chunk));
  const closed = new Promise<string>((resolve) => socket.once("close", () => resolve(received)));
  socket.write(head);
  return closed;
}

describe("slow clients cannot hold the server", () => {
  it("a body that does not arrive in time gets 408, and its slot is free again", async () => {
    const server = await startInProcessRuntime("runtime/echo.cjs", {
      env: { BUDGET_BODY_TIMEOUT_MS: "300", BUDGET_MAX_IN_FLIGHT: "1", BUDGET_MAX_QUEUED: "4" },
    });
    try {
      const token = await server.token();
      const answer = await sendAndStall(
        server.url,
        `POST /predict_dict HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"payload":`,
      );
      expect(answer).toMatch(/^HTTP\/1\.1 408 /);
      expect(answer).toMatch(/"error":"The request body did not arrive within 300 ms","code":"BUDGETML_BODY_TIMEOUT"/);
      expect(await server.metric("budgetml_predictions_in_flight")).toBe(0);
      const fresh = await fetch(`${server.url}/predict_dict`, {
        ...json(token, { payload: { a: 1 } }),
        signal: AbortSignal.timeout(2000),
      });
      expect(await fresh.json()).toEqual({ got: { a: 1 } });
      expect(server.logLines.join("\n")).not.toMatch(/error after the response started/);
    } finally {
      await server.close();
    }
  });

  it("headers that do not arrive in time close the connection; the server keeps serving", async () => {
    const server = await startInProcessRuntime("runtime/echo.cjs", { env: { BUDGET_HEADERS_TIMEOUT_MS: "300" } });
    try {
      expect(
        await sendAndStall(server.url, "POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-w"),
      ).toMatch(/^HTTP\/1\.1 408 /);
      expect((await fetch(`${server.url}/predict_dict`, json(await login(server.url), { payload: {} }))).status).toBe(
        200,
      );
    } finally {
      await server.close();
    }
  });
});
