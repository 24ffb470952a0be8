import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import {
  createReadStream,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { cp } from "node:fs/promises";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { listenOnLoopback, type LoopbackServer } from "../../local/standins/listen";

const run = promisify(execFile);

/** A loopback stand-in for nodejs.org/dist serving one release: `/<version>/…` and `/latest-v<major>.x/…`. */
export interface NodeMirror extends LoopbackServer {
  /** e.g. "v20.20.2". */
  version: string;
  major: string;
  /** Every path requested, in order. */
  requested: string[];
}

/**
 * Builds, once per Node.js version (cached under `cacheDir`), a release tarball laid out as the
 * official `node-vX.Y.Z-linux-x64.tar.xz` (bin/node, bin/npm, bin/npx, lib/node_modules/npm) from
 * the node running this process, and its SHASUMS256.txt.
 */
export async function buildNodeRelease(cacheDir: string): Promise<{ dir: string; version: string; tarball: string }> {
  const version = process.version;
  const arch = process.arch === "arm64" ? "arm64" : "x64";
  const name = `node-${version}-linux-${arch}`;
  const dir = join(cacheDir, "node-mirror", version);
  const tarball = `${name}.tar.xz`;
  if (existsSync(join(dir, "SHASUMS256.txt"))) return { dir, version, tarball };

  const staging = `${dir}.partial`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(join(staging, name, "bin"), { recursive: true });
  await cp(process.execPath, join(staging, name, "bin", "node"));
  const npm = join(dirname(process.execPath), "..", "lib", "node_modules", "npm");
  await cp(npm, join(staging, name, "lib", "node_modules", "npm"), { recursive: true, dereference: true });
  symlinkSync("../lib/node_modules/npm/bin/npm-cli.js", join(staging, name, "bin", "npm"));
  symlinkSync("../lib/node_modules/npm/bin/npx-cli.js", join(staging, name, "bin", "npx"));
  await run("bash", ["-c", `tar -C "$1" -cf - "$2" | xz -1 -T2 > "$1/$3"`, "tar", staging, name, tarball], {
    maxBuffer: 1 << 20,
  });
  rmSync(join(staging, name), { recursive: true });
  writeFileSync(join(staging, "SHASUMS256.txt"), `${await sha256(join(staging, tarball))}  ${tarball}\n`);
  rmSync(dir, { recursive: true, force: true });
  renameSync(staging, dir);
  return { dir, version, tarball };
}

function sha256(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash("sha256");
    createReadStream(file)
      .on("data", (chunk) => hash.update(chunk))
      .on("end", () => resolve(hash.digest("hex")))
      .on("error", reject);
  });
}

/**
 * Serves the release: as nodejs.org does under `/vX.Y.Z/` and `/latest-vN.x/`, and — under
 * `/tampered/` — the same tarball with a SHASUMS256.txt that does not match it.
 */
export async function startNodeMirror(cacheDir: string): Promise<NodeMirror> {
  const { dir, version, tarball } = await buildNodeRelease(cacheDir);
  const major = version.slice(1).split(".")[0];
  const sums = readFileSync(join(dir, "SHASUMS256.txt"), "utf8");
  const tampered = `${"0".repeat(64)}  ${tarball}\n`;
  const requested: string[] = [];
  const server = await listenOnLoopback((req, res) => {
    const path = new URL(req.url ?? "/", "http://mirror").pathname;
    requested.push(path);
    const match = /^(\/tampered)?\/(v[\d.]+|latest-v\d+\.x)\/([^/]+)$/.exec(path);
    const release = match && (match[2] === version || match[2] === `latest-v${major}.x`);
    if (release && match[3] === "SHASUMS256.txt") {
      res.writeHead(200, { "content-type": "text/plain" });
      return res.end(match[1] ? tampered : sums);
    }
    if (release && match[3] === tarball) {
      res.writeHead(200, { "content-type": "application/x-xz", "content-length": statSync(join(dir, tarball)).size });
      return void createReadStream(join(dir, tarball)).pipe(res);
    }
    res.writeHead(404).end("not found\n");
  });
  return { ...server, version, major, requested };
}
