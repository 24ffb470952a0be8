import { execFile } from "node:child_process";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { listenOnLoopback, type LoopbackServer } from "../../local/standins/listen";

const run = promisify(execFile);

/** Where the stand-ins of NVIDIA's tools for machines without a GPU live. */
export const FAKE_GPU_FIXTURES = join(__dirname, "..", "fixtures", "gpu");

/** What "installing the driver" does on this machine (see tests/fixtures/gpu/fakeInstaller/__main__.py). */
export interface FakeInstallerConfig {
  /** The state file the fake nvidia-smi reads: the driver install writes "ok" there. */
  gpuState: string;
  /** The command the installer reboots with (`["reboot", "now"]` on a booted root). */
  reboot: string[];
  /** A fake nvidia-smi to copy to /usr/bin (a booted root). @default none: it is already on PATH */
  nvidiaSmi?: string;
  /** An apt source line standing in for NVIDIA's Debian 12 repository. @default none */
  aptSource?: string;
  /** The driver install fails, every time. @default false */
  failDriver?: boolean;
}

/** Builds the stand-in cuda_installer.pyz (a Python zip application, as Google's is) with `config` inside. */
export async function buildFakeInstaller(file: string, config: FakeInstallerConfig): Promise<void> {
  const source = mkdtempSync(join(tmpdir(), "budgetml-fake-installer-"));
  try {
    cpSync(join(FAKE_GPU_FIXTURES, "fakeInstaller", "__main__.py"), join(source, "__main__.py"));
    writeFileSync(join(source, "config.json"), JSON.stringify(config));
    await run("python3", ["-m", "zipapp", source, "-o", file]);
  } finally {
    rmSync(source, { recursive: true, force: true });
  }
}

/** A loopback stand-in for Google's installer bucket: serves files by path, and records what was asked. */
export interface DownloadLocation extends LoopbackServer {
  requested: string[];
  serve(path: string, body: Buffer): void;
}

export async function startDownloadLocation(): Promise<DownloadLocation> {
  const files = new Map<string, Buffer>();
  const requested: string[] = [];
  const server = await listenOnLoopback((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    requested.push(path);
    const body = files.get(path);
    res.writeHead(body ? 200 : 404, { "content-type": body ? "application/octet-stream" : "text/plain" });
    res.end(body ?? "not found");
  });
  return Object.assign(server, { requested, serve: (path: string, body: Buffer) => void files.set(path, body) });
}
