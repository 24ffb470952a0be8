import { connect } from "node:net";
import { json, startTestRuntime, type TestRuntime } from "../support/runtimeServer";
import { waitFor } from "../support/waitFor";

describe("clients that go away leave nothing behind", () => {
  let server: TestRuntime;
  let token: string;
  beforeEach(async () => {
    server = await startTestRuntime("runtime/gated.cjs", {
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
    server.child.kill("SIGUSR2");
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

  it("a client that hangs up halfway through its body frees its slot", async () => {
    const { port } = new URL(server.url);
    const socket = connect(Number(port), "127.0.0.1");
    await new Promise((resolve) => socket.once("connect", resolve));
    socket.write(
      `POST /predict_dict HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"payload":`,
    );
    await waitFor(async () => (await server.metric("budgetml_predictions_in_flight")) === 1, {
      what: "the upload to hold a slot",
    });
    socket.destroy();
    await waitFor(async () => (await server.metric("budgetml_predictions_in_flight")) === 0, {
      what: "in-flight back to 0",
    });
    const fresh = await fetch(`${server.url}/predict_dict`, {
      ...json(token, { payload: {} }),
      signal: AbortSignal.timeout(2000),
    });
    expect(fresh.status).toBe(200);
  });
});
