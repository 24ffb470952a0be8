import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { createServer, type AddressInfo } from "node:net";
import Module from "node:module";
import { delimiter, dirname, join } from "node:path";
import { packageRoot } from "../bundles/packageRoot";

/** A deployed Cloud Function (2nd gen) as the local deployment runs it. */
export interface HostedFunction {
  readonly name: string;
  /** Delivers a Pub/Sub message as Eventarc does (a CloudEvent over HTTP); resolves when the function returns. */
  deliver(topic: string, message: { data: string; attributes: Record<string, string> }): Promise<number>;
  stop(): Promise<void>;
}

/** What Cloud Functions is told at deployment, and what the local machine adds. */
export interface FunctionDeployment {
  name: string;
  /** The source folder as uploaded (the component's `FileArchive`). */
  sourceDir: string;
  entryPoint: string;
  /** The environment the function declared, plus the local endpoint overrides. */
  env: Record<string, string>;
  /** Where its output goes, one line at a time. */
  log: (line: string) => void;
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const probe = createServer().once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });

/**
 * Runs a function's uploaded source with the Functions Framework, as Cloud Run functions does:
 * the same `FUNCTION_TARGET`/`FUNCTION_SIGNATURE_TYPE`/`PORT` contract, its own process and
 * environment. The source's dependencies resolve from this package's node_modules, which hold the
 * versions its package.json names (Cloud Build would `npm install` them).
 */
export async function hostFunction(deployment: FunctionDeployment): Promise<HostedFunction> {
  const port = await freePort();
  const framework = join(
    dirname(require.resolve("@google-cloud/functions-framework", { paths: [packageRoot()] })),
    "main.js",
  );
  const child: ChildProcess = spawn(process.execPath, [framework, `--source=${deployment.sourceDir}`], {
    cwd: deployment.sourceDir,
    env: {
      ...deployment.env,
      PATH: process.env.PATH ?? "",
      // Every node_modules folder above the package: installed, its dependencies may be hoisted.
      NODE_PATH: (Module as unknown as { _nodeModulePaths(from: string): string[] })
        ._nodeModulePaths(packageRoot())
        .join(delimiter),
      PORT: String(port),
      FUNCTION_TARGET: deployment.entryPoint,
      FUNCTION_SIGNATURE_TYPE: "cloudevent",
      K_SERVICE: deployment.name,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk;
      for (const line of String(chunk).split("\n").filter(Boolean)) deployment.log(line);
      if (output.includes("Serving function...")) resolve();
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) =>
      reject(
        new Error(
          `function ${deployment.name} failed to load (exit ${code}): ${output.trim().split("\n").slice(-3).join(" ")}`,
        ),
      ),
    );
  });
  await ready;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    name: deployment.name,
    async deliver(topic, message) {
      // Eventarc's Pub/Sub event in binary content mode.
      const response = await fetch(`http://127.0.0.1:${port}/`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "ce-id": randomUUID(),
          "ce-specversion": "1.0",
          "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
          "ce-source": `//pubsub.googleapis.com/${topic}`,
          "ce-time": new Date().toISOString(),
        },
        body: JSON.stringify({
          message: {
            data: Buffer.from(message.data).toString("base64"),
            attributes: message.attributes,
            messageId: randomUUID(),
          },
          subscription: `${topic}-eventarc`,
        }),
      });
      await response.arrayBuffer();
      return response.status;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        await exited;
      }
    },
  };
}
