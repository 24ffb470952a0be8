// The baseline: a bare node:http server doing the runtime's essential work per request —
// a constant-time bearer check, reading and parsing the body, echoing an answer — and nothing else.
import { createServer } from "node:http";
import { timingSafeEqual } from "node:crypto";

const expected = Buffer.from(`Bearer ${process.env.BASELINE_TOKEN}`);
const server = createServer((req, res) => {
  const given = Buffer.from(req.headers.authorization ?? "");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    res.writeHead(401, { "www-authenticate": "Bearer" }).end();
    return;
  }
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks);
    const answer = req.url.startsWith("/predict_dict")
      ? JSON.stringify(JSON.parse(body.toString()).payload)
      : JSON.stringify({ size: body.length });
    res.writeHead(200, { "content-type": "application/json" }).end(answer);
  });
});
server.listen(Number(process.env.BASELINE_PORT ?? 0), "127.0.0.1", () =>
  process.send?.({ port: server.address().port }),
);
process.on("SIGTERM", () => process.exit(0));
