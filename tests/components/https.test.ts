import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { WAIT_SCRIPT } from "../../components/healthWait";
import { renderCaddyfile } from "../../images/vm/renderConfig";
import { waitFor } from "../support/waitFor";

const run = promisify(execFile);
const caddyEnv = (dir: string) => ({ ...process.env, HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir });

/** Debian's caddy (the one the VM installs) turns the Caddyfile into its JSON config. */
async function adapt(caddyfile: string) {
  const dir = mkdtempSync(join(tmpdir(), "budgetml-caddy-"));
  try {
    writeFileSync(join(dir, "Caddyfile"), caddyfile);
    const { stdout } = await run("caddy", ["adapt", "--config", join(dir, "Caddyfile"), "--adapter", "caddyfile"], {
      env: caddyEnv(dir),
    });
    return JSON.parse(stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Runs the component's health wait exactly as `pulumi up` does: node -e, no shell. */
function healthWait(url: string, seconds: number) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn("node", ["-e", WAIT_SCRIPT], {
      env: { ...process.env, BUDGET_HEALTH_URL: url, BUDGET_WAIT_SECONDS: String(seconds) },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.on("close", (code) => resolve({ code, stdout, stderr })); // "close": all its output read
  });
}

describe("HTTPS on the VM: certificate authorities and the health check through the IP", () => {
  it("asks Let's Encrypt, then ZeroSSL, with the given email", async () => {
    const config = await adapt(
      renderCaddyfile({ hostname: "34-120-1-2.sslip.io", upstreamPorts: [8080], acmeEmail: "ops@example.com" }),
    );
    expect(config.apps.tls.automation.policies).toEqual([
      {
        issuers: [
          { module: "acme", email: "ops@example.com" },
          { module: "zerossl", email: "ops@example.com" },
        ],
      },
    ]);
    const anonymous = await adapt(renderCaddyfile({ hostname: "34-120-1-2.sslip.io", upstreamPorts: [8080] }));
    expect(anonymous.apps.tls.automation.policies[0].issuers.map((i: { module: string }) => i.module)).toEqual([
      "acme",
      "zerossl",
    ]);
  });

  it("serves only GET / on plain HTTP for the bare IP, and the health wait passes through it", async () => {
    // Stands in for the runtime: its health answer, and a route that must not leak over plain HTTP.
    const runtime: Server = createServer((req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        req.url === "/"
          ? JSON.stringify({ status: "ready", predictor: "Sentiment" })
          : JSON.stringify({ route: req.url }),
      );
    });
    await new Promise<void>((resolve) => runtime.listen(0, "127.0.0.1", resolve));
    const dir = mkdtempSync(join(tmpdir(), "budgetml-caddy-"));
    const [httpPort, httpsPort] = [await freePort(), await freePort()];
    // tls internal: no certificate authority is contacted from the test machine.
    const caddyfile = renderCaddyfile({
      hostname: "api.example.com",
      upstreamPorts: [(runtime.address() as AddressInfo).port],
      healthIp: "127.0.0.1",
      tlsInternal: true,
      httpPort,
      httpsPort,
      adminSocket: join(dir, "admin.sock"),
    });
    writeFileSync(join(dir, "Caddyfile"), caddyfile);
    let caddy: ChildProcess | undefined;
    try {
      caddy = spawn("caddy", ["run", "--config", join(dir, "Caddyfile"), "--adapter", "caddyfile"], {
        env: caddyEnv(dir),
        stdio: "ignore",
      });
      const health = `http://127.0.0.1:${httpPort}/`;
      await waitFor(() => fetch(health).then((r) => r.ok), { timeoutMs: 20_000, what: "caddy to answer on the IP" });
      expect(await (await fetch(health)).json()).toEqual({ status: "ready", predictor: "Sentiment" });
      const token = await fetch(`http://127.0.0.1:${httpPort}/token`, {
        method: "POST",
        body: "username=u&password=p",
      });
      expect(token.status).toBe(404);
      expect(await token.text()).toMatch(/Only the health check is served on the IP/);
      const waited = await healthWait(health, 30);
      expect(waited).toMatchObject({ code: 0, stdout: expect.stringContaining('healthy: {"status":"ready"') });
    } finally {
      caddy?.kill("SIGKILL");
      await new Promise((resolve) => runtime.close(resolve));
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it("keeps waiting past answers that are not the runtime's ready health", async () => {
    let calls = 0;
    const server = createServer((_req, res) => {
      calls += 1;
      // First a proxy's page with 200, then the runtime's own answer.
      if (calls === 1) return void res.writeHead(200, { "content-type": "text/html" }).end("<html>Caddy works</html>");
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ status: "ready" }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const waited = await healthWait(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, 30);
      expect(waited.code).toBe(0);
      expect(calls).toBe(2);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  }, 30_000);

  it("polls every second, and fails with the last answer when the runtime never becomes ready", async () => {
    let probes = 0;
    const server = createServer((_req, res) => {
      probes += 1;
      res.writeHead(503, { "content-type": "application/json" }).end(JSON.stringify({ status: "loading" }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const waited = await healthWait(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, 3);
      expect(waited.code).toBe(1);
      expect(waited.stderr).toMatch(/not healthy after 3 s; last: 503 \{"status":"loading"\}/);
      expect(probes).toBeGreaterThanOrEqual(3); // at 0, 1 and 2 s (and 3 s): not one probe per 5 s
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  }, 30_000);
});
