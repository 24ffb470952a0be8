import { execFile, spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { renderCaddyfile } from "../../images/vm/renderConfig";
import { freePort } from "../support/freePort";

const run = promisify(execFile);

// Debian's caddy, configured as the VM configures it: its admin API must not be a TCP port any
// local user can reach (a compromised predictor could rewrite the public front or read TLS keys).
describe("Caddy's admin API", () => {
  it("listens only on a unix socket other users cannot connect to, and `caddy reload` still works", async () => {
    const dir = mkdtempSync(join(tmpdir(), "budgetml-caddy-admin-"));
    chmodSync(dir, 0o755); // so the only thing keeping another user out is the socket itself
    const socket = join(dir, "admin.sock");
    const config = join(dir, "Caddyfile");
    const httpsPort = await freePort();
    writeFileSync(
      config,
      renderCaddyfile({
        hostname: "localhost",
        upstreamPorts: [await freePort()],
        tlsInternal: true,
        httpPort: await freePort(),
        httpsPort,
        adminSocket: socket,
      }),
    );
    const env = { ...process.env, HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir };
    // systemd's default UMask=0022, as caddy.service runs under it.
    const caddy = spawn("sh", ["-c", `umask 022; exec caddy run --config ${config} --adapter caddyfile`], {
      env,
      stdio: ["ignore", "ignore", "pipe"],
    });
    let log = "";
    caddy.stderr.on("data", (chunk) => (log += chunk));
    try {
      await new Promise<void>((resolve, reject) => {
        caddy.stderr.on("data", () => log.includes("serving initial configuration") && resolve());
        caddy.once("exit", (code) => reject(new Error(`caddy exited ${code}: ${log}`)));
      });
      expect(log).toMatch(new RegExp(`"admin endpoint started","address":"unix/${socket}"`));
      expect(statSync(socket).isSocket()).toBe(true);
      const listening = (await run("ss", ["-ltnpH"])).stdout
        .split("\n")
        .filter((line) => line.includes(`pid=${caddy.pid},`));
      expect(listening.some((line) => line.includes(`:${httpsPort} `))).toBe(true); // ss shows Caddy's own sockets
      expect(listening.filter((line) => /:2019\b/.test(line))).toEqual([]);

      // On a unix socket, Caddy's admin API accepts only an empty Host (as `caddy reload` sends).
      const config200 = await run("curl", [
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--unix-socket",
        socket,
        "-H",
        "Host: ",
        "http://admin/config/",
      ]);
      expect(config200.stdout).toBe("200");
      // Another local user (the runtime runs as one) cannot connect: sockets need write permission.
      const asNobody = await run("runuser", [
        "-u",
        "nobody",
        "--",
        "curl",
        "-sS",
        "--unix-socket",
        socket,
        "-H",
        "Host: ",
        "http://admin/config/",
      ]).then(
        () => "connected",
        (error: { stderr: string }) => error.stderr,
      );
      expect(asNobody).toMatch(/Permission denied|Couldn't connect/);
      expect(statSync(socket).mode & 0o002).toBe(0); // because of the socket's own mode, not the folder's

      // What `systemctl reload caddy` runs on Debian: the address comes from the Caddyfile.
      await expect(run("caddy", ["reload", "--config", config, "--force"], { env })).resolves.toBeDefined();
    } finally {
      caddy.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
    expect(existsSync(dir)).toBe(false);
  }, 30_000);
});
