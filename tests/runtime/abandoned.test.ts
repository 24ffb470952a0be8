import { connect } from "node:net";
import { json, startTestRuntime, type TestRuntime } from "../support/runtimeServer";

/** A predictor whose predictions wait until the test opens the gate. */
class GatedPredictor {
  started = 0;
  private open!: () => void;
  private gate = new Promise<void>((resolve) => (this.open = resolve));
  async predict(request: { payload: Record<string, unknown> }) {
    this.started += 1;
    if (!request.payload.fresh) await this.gate;
    return { ok: true };
  }
  release() {
    this.open();
  }
}

/** Reads one of the runtime's gauges through GET /metrics, as an operator would. */
async function gauge(server: TestRuntime, token: string, name: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
  const match = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  if (!match) throw new Error(`no ${name} in /metrics`);
  return Number(match[1]);
}

/** Waits for a condition the server reaches on its own; fails with `what` if it never does. */
async function until(what: string, condition: () => Promise<boolean> | boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("clients that go away leave nothing behind", () => {
  let server: TestRuntime;
  let predictor: GatedPredictor;
  let token: string;
  beforeEach(async () => {
    predictor = new GatedPredictor();
    server = await startTestRuntime(predictor, { maxInFlight: 2, maxQueued: 8, maxQueueWaitMs: 60_000 });
    token = await server.token();
  });
  afterEach(() => server.close());

  it("queued and running requests whose clients give up free every slot; a fresh prediction is served at once", async () => {
    const clients = Array.from({ length: 6 }, () => new AbortController());
    const answers = clients.map((client) => fetch(`${server.url}/predict_dict`, { ...json(token, { payload: {} }), signal: client.signal }).catch((error: Error) => error));
    await until("2 running and 4 queued", async () => predictor.started === 2 && (await gauge(server, token, "budgetml_predictions_queued")) === 4);

    for (const client of clients) client.abort();
    await Promise.all(answers);
    await until("the queue to empty", async () => (await gauge(server, token, "budgetml_predictions_queued")) === 0);
    // The two running predictions still hold their slots until predict() settles...
    expect(await gauge(server, token, "budgetml_predictions_in_flight")).toBe(2);
    predictor.release();
    // ...and then nothing is left: no slot went to a client that had gone.
    await until("in-flight back to 0", async () => (await gauge(server, token, "budgetml_predictions_in_flight")) === 0);
    expect(predictor.started).toBe(2);

    const fresh = await fetch(`${server.url}/predict_dict`, json(token, { payload: { fresh: true } }));
    expect(fresh.status).toBe(200);
    expect(server.runtime.admission.inFlight).toBe(0);
  });

  it("a client that hangs up halfway through its body frees its slot", async () => {
    const { port } = new URL(server.url);
    const socket = connect(Number(port), "127.0.0.1");
    await new Promise((resolve) => socket.once("connect", resolve));
    socket.write(`POST /predict_dict HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"payload":`);
    await until("the upload to hold a slot", async () => (await gauge(server, token, "budgetml_predictions_in_flight")) === 1);
    socket.destroy();
    await until("in-flight back to 0", async () => (await gauge(server, token, "budgetml_predictions_in_flight")) === 0);
    const fresh = await fetch(`${server.url}/predict_dict`, json(token, { payload: { fresh: true } }));
    expect(fresh.status).toBe(200);
  });
});
