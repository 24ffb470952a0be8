import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, isAbsolute, join } from "node:path";
import { promisify } from "node:util";
import { bootPaths, endpointOverrides } from "../../images/vm/boot";
import { renderSystemdFiles, type SystemdSpec } from "../../images/vm/services";

const run = promisify(execFile);

// On a VM the boot runs with no BUDGET_ROOT. Every path it derives — the files it writes and the
// paths written into them — must be absolute: systemd ignores a relative EnvironmentFile= (the
// runtime then starts with no environment) and a relative predictor path resolves against the
// unit's working directory ("predictor file not found"); either way the service crash-loops.

/** Every path-valued setting in a unit or env file: systemd's own keys, and env values that are paths. */
function pathsIn(content: string): Array<{ line: string; path: string }> {
  const found: Array<{ line: string; path: string }> = [];
  for (const line of content.split("\n")) {
    const unitPath = /^(EnvironmentFile|WorkingDirectory|StandardInput)=-?(?:file:)?(.+)$/.exec(line);
    if (unitPath) found.push({ line, path: unitPath[2] });
    const exec = /^Exec(Start|StartPre|Stop)=-?(\S+)(?:\s+(\S+))?/.exec(line);
    if (exec) {
      found.push({ line, path: exec[2] });
      if (exec[3] && /\.c?js$/.test(exec[3])) found.push({ line, path: exec[3] });
    }
    const envPath = /^(BUDGET_PREDICTOR_PATH)="(.*)"$/.exec(line);
    if (envPath) found.push({ line, path: envPath[2] });
  }
  return found;
}

describe("the VM's files have absolute paths whatever the root", () => {
  const vmEnv = {} as NodeJS.ProcessEnv; // a VM: no BUDGET_ROOT, no endpoint overrides

  it("the boot's root on a VM is /", () => {
    expect(bootPaths(vmEnv)).toEqual({ root: "/", home: "/opt/budgetml" });
    expect(bootPaths({ BUDGET_ROOT: "" } as NodeJS.ProcessEnv)).toEqual({ root: "/", home: "/opt/budgetml" });
    expect(bootPaths({ BUDGET_ROOT: "/tmp/vm" } as NodeJS.ProcessEnv)).toEqual({
      root: "/tmp/vm",
      home: "/tmp/vm/opt/budgetml",
    });
    expect(isAbsolute(bootPaths({ BUDGET_ROOT: "relative/vm" } as NodeJS.ProcessEnv).home)).toBe(true);
    expect(endpointOverrides(vmEnv)).toEqual({});
  });

  function vmSpec(overrides: Partial<SystemdSpec> = {}): SystemdSpec {
    const { root, home } = bootPaths(vmEnv);
    const runtime = join(home, "runtime", "runtime-0123abcd");
    return {
      root,
      home,
      slot: "a",
      port: 8081,
      server: join(runtime, "server.cjs"),
      boot: join(runtime, "boot.cjs"),
      hostname: "34-1-2-3.sslip.io",
      image: "",
      env: {
        BUDGET_USERNAME: "budget",
        BUDGET_PWD: "pw",
        BUDGET_TOKEN: "k",
        BUDGET_PREDICTOR_PATH: join(home, "predictors", "predictor-0123", "predictor.cjs"),
        PORT: "8080",
      },
      ...overrides,
    };
  }

  it.each([
    ["the runtime bundle", vmSpec()],
    ["a custom image", vmSpec({ image: "europe-docker.pkg.dev/p/r/model:1" })],
    ["a root given as an empty string", vmSpec({ root: "" })],
  ])("renders every unit and env file for %s with absolute paths only", (_case, spec) => {
    const files = renderSystemdFiles(spec, "/usr/local/lib/nodejs/node-v26.1.0-linux-x64/bin/node");
    expect(
      Object.values(files)
        .map((file) => file.path)
        .sort(),
    ).toEqual([
      "/etc/budgetml/runtime-a.credentials",
      "/etc/budgetml/runtime-a.env",
      "/etc/caddy/Caddyfile",
      "/etc/systemd/system/budgetml-a.service",
      "/etc/systemd/system/budgetml-preemption.service",
      "/etc/systemd/system/budgetml-rollout.service",
    ]);
    let checked = 0;
    for (const file of Object.values(files)) {
      for (const { line, path } of pathsIn(file.content)) {
        checked += 1;
        expect({ file: file.path, line, absolute: isAbsolute(path) }).toEqual({
          file: file.path,
          line,
          absolute: true,
        });
      }
    }
    expect(checked).toBeGreaterThanOrEqual(spec.image ? 3 : 6);
    expect(files.runtime.content).toContain(
      spec.image ? "--env-file /etc/budgetml/runtime-a.env" : "\nEnvironmentFile=/etc/budgetml/runtime-a.env\n",
    );
    // The password and the signing key: in a root-only file systemd hands the runtime as its
    // standard input, never in its environment (where /proc/<pid>/environ would show them).
    expect(files.credentials.mode).toBe(0o600);
    expect(JSON.parse(files.credentials.content)).toEqual({
      BUDGET_USERNAME: "budget",
      BUDGET_PWD: "pw",
      BUDGET_TOKEN: "k",
    });
    expect(files.runtime.content).toContain("\nStandardInput=file:/etc/budgetml/runtime-a.credentials\n");
    expect(files.env.content).not.toMatch(/BUDGET_(PWD|TOKEN|USERNAME)=/);
    expect(files.env.content).toMatch(/^BUDGET_CREDENTIALS="?stdin"?$/m);
    expect(files.env.mode).toBe(0o600);
  });

  it("sandboxes every unit: systemd-analyze security (offline) rates each within its ceiling", async () => {
    // tests/vm holds the same on a booted system; this catches a loosened unit in `npm test`.
    // Before the sandbox: runtime 9.0, watcher 9.6, roll-out 9.6 (0 = confined, 10 = not at all).
    const files = renderSystemdFiles(vmSpec(), "/usr/local/lib/nodejs/node-v26.1.0-linux-x64/bin/node");
    const dir = mkdtempSync(join(tmpdir(), "budgetml-units-"));
    try {
      const ceilings = { runtime: 1.5, watcher: 2.2, rollout: 3.2 } as const;
      for (const [role, ceiling] of Object.entries(ceilings) as Array<[keyof typeof ceilings, number]>) {
        const unit = join(dir, basename(files[role].path));
        writeFileSync(unit, files[role].content);
        const { stdout } = await run("systemd-analyze", ["security", "--offline=yes", "--no-pager", unit]);
        const exposure = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(stdout)?.[1]);
        expect({ role, exposure, withinCeiling: exposure <= ceiling }).toEqual({ role, exposure, withinCeiling: true });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("denies the runtime's unit the metadata server, and a stand-in's address too unless it is the runtime's own", () => {
    const deny = (endpoints?: Record<string, string>) =>
      /^IPAddressDeny=(.*)$/m.exec(renderSystemdFiles(vmSpec({ endpoints }), "/usr/bin/node").runtime.content)?.[1];
    expect(deny()).toBe("169.254.169.254 fd20:ce::254");
    expect(deny({ GCE_METADATA_HOST: "127.0.0.2:4242" })).toBe("169.254.169.254 fd20:ce::254 127.0.0.2");
    expect(deny({ GCE_METADATA_HOST: "127.0.0.1:4242" })).toBe("169.254.169.254 fd20:ce::254"); // Caddy reaches the runtime there
    expect(deny({ GCE_METADATA_HOST: "metadata.internal.example:80" })).toBe("169.254.169.254 fd20:ce::254");
  });

  it("passes the boot's endpoint overrides to the watcher unit, quoted for systemd", () => {
    const files = renderSystemdFiles(
      vmSpec({ endpoints: { GCE_METADATA_HOST: "127.0.0.1:4242", PUBSUB_ENDPOINT: 'http://127.0.0.1:1/"%' } }),
      "/usr/bin/node",
    );
    expect(files.watcher.content).toMatch(/^Environment="GCE_METADATA_HOST=127\.0\.0\.1:4242"$/m);
    expect(files.watcher.content).toContain('Environment="PUBSUB_ENDPOINT=http://127.0.0.1:1/\\"%%"');
    // The roll-out the watcher starts runs against the same endpoints.
    expect(files.rollout.content).toMatch(/^Environment="GCE_METADATA_HOST=127\.0\.0\.1:4242"$/m);
    expect(renderSystemdFiles(vmSpec(), "/usr/bin/node").watcher.content).not.toMatch(/^Environment=/m);
  });
});
