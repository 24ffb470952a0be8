import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { RequestHandler } from "express";
import { predictLane } from "../../../runtime/http/predictLane";

/** Serves `chain` on /predict through the lane, over real HTTP; other requests get 404. */
async function laneServer(chain: RequestHandler[]) {
  const errors: unknown[] = [];
  const lane = predictLane({ "/predict": chain }, (error, res) => {
    errors.push(error);
    res.statusCode = 500;
    res.end("failed");
  });
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (!lane(req, res)) res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, errors, close: () => new Promise((resolve) => server.close(resolve)) };
}

describe("the predict lane", () => {
  it("runs the chain in order and lets its last handler answer", async () => {
    const seen: string[] = [];
    const lane = await laneServer([
      (_req, _res, next) => {
        seen.push("first");
        next();
      },
      (_req, res) => {
        seen.push("last");
        res.end("answered");
      },
    ]);
    try {
      const response = await fetch(`${lane.url}/predict/`, { method: "POST" });
      expect({ status: response.status, body: await response.text(), seen }).toEqual({
        status: 200,
        body: "answered",
        seen: ["first", "last"],
      });
      expect((await fetch(`${lane.url}/predict`)).status).toBe(404); // not a POST: not the lane's
    } finally {
      await lane.close();
    }
  });

  it("answers a chain that runs out without answering as an error, never leaving the request hanging", async () => {
    const lane = await laneServer([(_req, _res, next) => next()]);
    try {
      const response = await fetch(`${lane.url}/predict`, { method: "POST", signal: AbortSignal.timeout(10_000) });
      expect(response.status).toBe(500);
      expect(lane.errors.map((error) => (error as Error).message)).toEqual([
        "the /predict chain ended without an answer",
      ]);
    } finally {
      await lane.close();
    }
  });

  it("hands a rejected async handler's error to the error handler", async () => {
    const lane = await laneServer([
      async () => {
        throw new Error("model exploded");
      },
    ]);
    try {
      expect((await fetch(`${lane.url}/predict`, { method: "POST" })).status).toBe(500);
      expect(lane.errors.map((error) => (error as Error).message)).toEqual(["model exploded"]);
    } finally {
      await lane.close();
    }
  });
});
