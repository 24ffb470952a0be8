import { once } from "node:events";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { BodyPace } from "../../../runtime/http/bodyPace";

describe("the body pace", () => {
  let server: Server;
  let pace: BodyPace;
  let watchedOnArrival: number[];
  let watchedWhenAnswered: number[];

  beforeEach(async () => {
    // The runtime's defaults: the sweep runs every 250 ms, far later than the answers below.
    pace = new BodyPace({ timeoutMs: 15_000, minBytesPerSecond: 1024 });
    const watch = pace.watch();
    watchedOnArrival = [];
    watchedWhenAnswered = [];
    server = createServer((req, res) =>
      watch(req as never, res as never, () => {
        watchedOnArrival.push(pace.watched);
        req.resume();
        req.on("end", () => {
          setImmediate(() => {
            watchedWhenAnswered.push(pace.watched);
            res.end("ok");
          });
        });
      }),
    );
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
  });
  afterEach(() => new Promise((resolve) => server.close(resolve)));

  it("stops watching a request as soon as its body is in, not at the next sweep", async () => {
    const { port } = server.address() as AddressInfo;
    for (let i = 0; i < 5; i += 1) {
      const req = request({ port, host: "127.0.0.1", method: "POST", path: "/" });
      req.write("part of the body");
      await new Promise((resolve) => setTimeout(resolve, 5)); // the body arrives after the headers
      req.end("and the rest");
      const [res] = (await once(req, "response")) as [NodeJS.ReadableStream];
      res.resume();
      await once(res, "end");
    }
    // Each request was watched while its body arrived, and released with it: a request kept until
    // the sweep would keep its request, response and buffers alive meanwhile.
    expect(watchedOnArrival).toEqual([1, 1, 1, 1, 1]);
    expect(watchedWhenAnswered).toEqual([0, 0, 0, 0, 0]);
  });
});
