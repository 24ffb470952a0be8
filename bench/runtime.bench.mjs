// Runtime throughput against a bare node:http baseline doing the same work, in the same run.
// Both get one process (the other core drives the load). Prints req/s, p50/p99 and the ratio.
import autocannon from "autocannon";
import { fork, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);

async function startRuntime() {
  const env = {
    ...process.env,
    BUDGET_USERNAME: "bench",
    BUDGET_PWD: randomBytes(9).toString("hex"),
    BUDGET_TOKEN: randomBytes(32).toString("hex"),
    BUDGET_LOG_LEVEL: "warn",
    BUDGET_MAX_IN_FLIGHT: "1000",
    BUDGET_MAX_QUEUED: "1000",
    BUDGET_MAX_FILE_BYTES: String(4 << 20),
  };
  const child = spawn(
    process.execPath,
    [
      join(root, "dist", "cli.js"),
      "serve",
      "--predictor",
      join(here, "fixtures", "echoPredictor.cjs"),
      "--port",
      "0",
      "--workers",
      "1",
    ],
    { env, stdio: ["ignore", "ignore", "pipe"] },
  );
  const url = await new Promise((resolve, reject) => {
    let err = "";
    child.stderr.on("data", (d) => {
      err += d;
      const m = /serving (http:\/\/localhost:\d+)/.exec(err);
      if (m) resolve(m[1].replace("localhost", "127.0.0.1"));
    });
    child.on("exit", (code) => reject(new Error(`runtime exited ${code}: ${err}`)));
  });
  for (;;) {
    if ((await fetch(`${url}/`)).status === 200) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const token = (
    await (
      await fetch(`${url}/token`, {
        method: "POST",
        body: new URLSearchParams({ username: env.BUDGET_USERNAME, password: env.BUDGET_PWD }),
      })
    ).json()
  ).access_token;
  return { url, token, stop: () => child.kill("SIGTERM") };
}

async function startBaseline() {
  const token = randomBytes(24).toString("hex");
  const child = fork(join(here, "baselineServer.mjs"), {
    env: { ...process.env, BASELINE_TOKEN: token },
    stdio: "ignore",
  });
  const { port } = await new Promise((resolve) => child.once("message", resolve));
  return { url: `http://127.0.0.1:${port}`, token, stop: () => child.kill("SIGTERM") };
}

function multipart(bytes) {
  const boundary = "----budgetmlbench";
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="request"; filename="x.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`,
  );
  return {
    body: Buffer.concat([head, bytes, Buffer.from(`\r\n--${boundary}--\r\n`)]),
    contentType: `multipart/form-data; boundary=${boundary}`,
  };
}

async function measure(target, path, body, contentType) {
  const result = await autocannon({
    url: `${target.url}${path}`,
    method: "POST",
    connections,
    duration: seconds,
    body,
    headers: { authorization: `Bearer ${target.token}`, "content-type": contentType },
  });
  const bad = result.non2xx + result.errors + result.timeouts;
  if (bad > 0) throw new Error(`${path}: ${bad} failed requests against ${target.url}`);
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99 };
}

const cases = [
  [
    "/predict_dict",
    Buffer.from(JSON.stringify({ payload: { text: "a short sentence to classify", n: 3 } })),
    "application/json",
    0.35,
  ],
  ["/predict_image (1 MB)", ...Object.values(multipart(randomBytes(1 << 20))), undefined],
];

const runtime = await startRuntime();
const baseline = await startBaseline();
const rows = [];
try {
  for (const [name, body, contentType, target] of cases) {
    const path = name.split(" ")[0];
    const base = await measure(baseline, path, body, contentType);
    const ours = await measure(runtime, path, body, contentType);
    rows.push({
      endpoint: name,
      "runtime req/s": Math.round(ours.rps),
      "baseline req/s": Math.round(base.rps),
      ratio: +(ours.rps / base.rps).toFixed(2),
      "runtime p50/p99 ms": `${ours.p50}/${ours.p99}`,
      "baseline p50/p99 ms": `${base.p50}/${base.p99}`,
      target: target ? `>= ${target}` : "-",
    });
  }
} finally {
  runtime.stop();
  baseline.stop();
}
console.log(`runtime vs bare node:http, 1 process each, ${connections} connections, ${seconds} s per run, auth on`);
console.table(rows);
const missed = rows.filter((r) => r.target !== "-" && r.ratio < Number(r.target.slice(3)));
if (missed.length > 0) {
  console.error(`below target: ${missed.map((r) => r.endpoint).join(", ")}`);
  process.exitCode = 1;
}
