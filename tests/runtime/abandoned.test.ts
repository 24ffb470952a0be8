import { connect } from "node:net";
import { startInProcessRuntime, type InProcessRuntime } from "../support/inProcessRuntime";
import { json } from "../support/runtimeServer";
import { waitFor } from "../support/waitFor";

// The same module the runtime loads the predictor from (Jest's module registry, this file's).
const gated = require("../fixtures/runtime/gated.cjs") as { release(): void };

describe("clients that go away leave nothing behind", () => {
  let server: InProcessRuntime;
  let token: string;
  beforeEach(async () => {
    server = await startInProcessRuntime("runtime/gated.cjs", {
      env: { BUDGET_MAX_IN_FLIGHT: "2", BUDGET_MAX_QUEUED: "8", BUDGET_MAX_QUEUE_WAIT_MS: "60000" },
    });
    token = await server.token();
  });
  afterEach(() => server.close());

  it("queued and running requests whose clients give up free every slot; a fresh prediction is served at once", async () => {
    const clients = Array.from({ length: 6 }, () => new AbortController());
    const answers = clients.map((client) =>
      fetch(`${server.url}/predict_dict`, { ...json(token, { payload: { wait: true } }), signal: client.signal }).catch(
        (error: Error) => error,
      ),
    );
    await waitFor(
      async () =>
        (await server.metric("budgetml_predictions_in_flight")) === 2 &&
        (await server.metric("budgetml_predictions_queued")) === 4,
      { what: "2 running and 4 queued" },
    );

    for (const client of clients) client.abort();
    await Promise.all(answers);
    await waitFor(async () => (await server.metric("budgetml_predictions_queued")) === 0, {
      what: "the queue to empty",
    });
    // The two running predictions still hold their slots until predict() settles...
    expect(await server.metric("budgetml_predictions_in_flight")).toBe(2);
    gated.release();
    // ...and then nothing is left: no slot went to a client that had gone.
    await waitFor(async () => (await server.metric("budgetml_predictions_in_flight")) === 0, {
      what: "in-flight back to 0",
    });

    const fresh = await fetch(`${server.url}/predict_dict`, {
      ...json(token, { payload: {} }),
      signal: AbortSignal.timeout(2000),
    });
    expect(fresh.status).toBe(200);
    expect(await server.metric("budgetml_predictions_queued")).toBe(0);
  });

  it("a body still arriving holds no slot; a client that hangs up mid-body gives back its upload budget", async () => {
    // One slot; bodies and files up to 1 MiB, so the upload budget is 1 MiB and one client may hold
    // half of it; no minimum rate, so the stalled upload stays until it hangs up.
    await server.close();
    server = await startInProcessRuntime("runtime/gated.cjs", {
      env: {
        BUDGET_MAX_IN_FLIGHT: "1",
        BUDGET_MAX_BODY_BYTES: String(1 << 20),
        BUDGET_MAX_FILE_BYTES: String(1 << 20),
        BUDGET_BODY_MIN_BYTES_PER_SECOND: "0",
      },
    });
    token = await server.token();
    const { port } = new URL(server.url);
    const socket = connect(Number(port), "127.0.0.1");
    let received = "";
    socket.on("data", (chunk) => (received += chunk));
    // A connection is only the server's once it has answered on it (with workers, the primary hands
    // a new connection over first): a health check on it, then the stalled upload on the same one,
    // so the upload is in the server before the requests below, which ride an older connection.
    socket.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    await waitFor(() => /\r\n\r\n\{[^]*\}$/.test(received), { what: "the health answer on the raw connection" });
    received = "";
    const answered = new Promise<string>((resolve) => socket.once("close", () => resolve(received)));
    socket.write(
      `POST /predict_dict HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 400000\r\n\r\n{"payload":`,
    );
    // While that body trickles in, the only slot is free for a prediction whose body has arrived.
    const fresh = await fetch(`${server.url}/predict_dict`, {
      ...json(token, { payload: {} }),
      signal: AbortSignal.timeout(2000),
    });
    expect(fresh.status).toBe(200);
    // The same client may not reserve more than half of the upload budget at once...
    const big = () => fetch(`${server.url}/predict_dict`, json(token, { payload: { pad: "x".repeat(300_000) } }));
    const refused = await big();
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(await refused.json()).toMatchObject({
      error: expect.stringMatching(/from this client/),
      code: "BUDGETML_UPLOADS_OVERLOADED",
    });
    // ...and gets its share back when the stalled upload hangs up.
    socket.destroy();
    await answered;
    await waitFor(async () => (await big()).status === 200, { what: "the budget to come back" });
  });
});
