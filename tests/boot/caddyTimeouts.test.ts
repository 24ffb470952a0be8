import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect as connectTcp, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as connectTls } from "node:tls";
import { renderCaddyfile } from "../../images/vm/renderConfig";
import { freePort } from "../support/freePort";
import { waitFor } from "../support/waitFor";

// Caddy as the VM configures it, against clients that send their headers a byte a second
// (slowloris): each must be cut off once the header deadline passes, on HTTPS and on the plain
// HTTP port that redirects, instead of holding a connection for as long as it likes.
describe("Caddy's read deadlines", () => {
  const CLIENTS = 25; // per port
  const HEADER_DEADLINE_MS = 10_000; // CLIENT_TIMEOUTS.readHeader
  const GIVE_UP_MS = 25_000;

  it("closes connections trickling their headers once the header deadline has passed", async () => {
    const dir = mkdtempSync(join(tmpdir(), "budgetml-caddy-timeouts-"));
    const [httpPort, httpsPort] = [await freePort(), await freePort()];
    writeFileSync(
      join(dir, "Caddyfile"),
      renderCaddyfile({
        hostname: "localhost",
        upstreamPorts: [await freePort()],
        tlsInternal: true,
        httpPort,
        httpsPort,
        adminSocket: join(dir, "admin.sock"),
      }),
    );
    const caddy = spawn("caddy", ["run", "--config", join(dir, "Caddyfile"), "--adapter", "caddyfile"], {
      env: { ...process.env, HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let log = "";
    const sockets: Socket[] = [];
    try {
      await new Promise<void>((resolve, reject) => {
        caddy.stderr.on(
          "data",
          (chunk) => ((log += chunk), log.includes("serving initial configuration") && resolve()),
        );
        caddy.once("exit", (code) => reject(new Error(`caddy exited ${code}: ${log}`)));
      });
      // Caddy issues its internal certificate after it starts serving; a handshake before then fails
      // at once, which would be an error, not the deadline this test is about.
      await waitFor(
        () =>
          new Promise<boolean>((resolve) => {
            const probe = connectTls({
              port: httpsPort,
              host: "127.0.0.1",
              servername: "localhost",
              rejectUnauthorized: false,
            });
            probe.once("secureConnect", () => (probe.destroy(), resolve(true)));
            probe.once("error", () => (probe.destroy(), resolve(false)));
          }),
        { timeoutMs: 30_000, intervalMs: 100, what: "Caddy's internal certificate" },
      );
      /** Opens a connection, then sends a request's headers one byte a second; resolves with how long the server kept it open. */
      const trickle = (open: () => Socket) =>
        new Promise<number>((resolve) => {
          const socket = open();
          sockets.push(socket);
          const started = Date.now();
          const request = "GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + "a".repeat(100);
          let sent = 0;
          const timer = setInterval(() => {
            if (Date.now() - started > GIVE_UP_MS) return socket.destroy();
            if (sent < request.length) socket.write(request[sent++]);
          }, 1000);
          socket.on("error", () => undefined);
          socket.once("close", () => (clearInterval(timer), resolve(Date.now() - started)));
        });
      const held = await Promise.all([
        ...Array.from({ length: CLIENTS }, () => trickle(() => connectTcp(httpPort, "127.0.0.1"))),
        ...Array.from({ length: CLIENTS }, () =>
          trickle(() =>
            connectTls({ port: httpsPort, host: "127.0.0.1", servername: "localhost", rejectUnauthorized: false }),
          ),
        ),
      ]);
      expect(Math.max(...held)).toBeLessThan(HEADER_DEADLINE_MS + 5000);
      expect(Math.min(...held)).toBeGreaterThanOrEqual(HEADER_DEADLINE_MS - 1000); // the deadline, not an error
    } finally {
      for (const socket of sockets) socket.destroy();
      caddy.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
