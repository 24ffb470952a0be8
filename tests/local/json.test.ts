import { spawn } from "node:child_process";
import { join } from "node:path";
import { BUILT_CLI } from "../support/localDeployment";
import { json, login } from "../support/runtimeServer";
import { waitFor } from "../support/waitFor";

const ROOT = join(__dirname, "..", "..");

// `budgetml local --json`: machine-readable lines, the last one the environment a real VM (or a
// container) boots against the local cloud with — the variables the VM's boot reads.
describe("budgetml local --json", () => {
  it("prints one line for the model and one with the local cloud's endpoints, each answering as Google's does", async () => {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const child = spawn(
      process.execPath,
      [BUILT_CLI, "local", "tests/fixtures/allEndpoints.ts", "--port", String(port), "--json"],
      {
        cwd: ROOT,
        env: { PATH: process.env.PATH },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    // "close", not "exit": its output streams are then closed too (no pipe left open after the test).
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    try {
      await waitFor(
        () => {
          if (child.exitCode !== null) throw new Error(`budgetml local exited: ${stderr}`);
          return stdout.split("\n").filter(Boolean).length >= 2;
        },
        { timeoutMs: 110_000, intervalMs: 100, what: "the two JSON lines" },
      );
      const [modelLine, endpointsLine, ...rest] = stdout.trim().split("\n");
      expect(rest).toEqual([]);
      const model = JSON.parse(modelLine) as {
        model: string;
        url: string;
        docsUrl: string;
        username: string;
        password: string;
        parked: boolean;
      };
      expect(model).toEqual({
        model: "allEndpoints",
        url: `http://localhost:${port}`,
        docsUrl: `http://localhost:${port}/docs`,
        username: "budget",
        password: expect.any(String),
        parked: false,
      });
      const token = await login(`http://127.0.0.1:${port}`, model.username, model.password);
      expect((await fetch(`http://127.0.0.1:${port}/predict_dict`, json(token, { payload: { a: 1 } }))).status).toBe(
        200,
      );

      const { endpoints } = JSON.parse(endpointsLine) as { endpoints: Record<string, string> };
      expect(Object.keys(endpoints).sort()).toEqual([
        "GCE_METADATA_HOST",
        "GOOGLE_CLOUD_PROJECT",
        "PUBSUB_ENDPOINT",
        "SECRET_MANAGER_ENDPOINT",
        "STORAGE_EMULATOR_HOST",
      ]);
      expect(endpoints.GCE_METADATA_HOST).toMatch(/^127\.0\.0\.1:\d+$/); // host:port, as gcp-metadata takes it
      for (const name of ["STORAGE_EMULATOR_HOST", "SECRET_MANAGER_ENDPOINT", "PUBSUB_ENDPOINT"])
        expect(endpoints[name]).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      // What a VM's boot asks first: its metadata, with Google's header, and the bucket it names.
      const metadata = (path: string) =>
        fetch(`http://${endpoints.GCE_METADATA_HOST}/computeMetadata/v1/${path}`, {
          headers: { "Metadata-Flavor": "Google" },
        });
      // The project Google's clients read before asking gcloud: the one the machine is in.
      expect(await (await metadata("project/project-id")).text()).toBe(endpoints.GOOGLE_CLOUD_PROJECT);
      const bucket = await (await metadata("instance/attributes/budget-bucket")).text();
      // No domain declared: the key is left out, as the component declares it, and the VM derives its hostname.
      expect((await metadata("instance/attributes/budget-domain")).status).toBe(404);
      // The VM's own token: the storage stand-in serves the bundle to the account granted on the bucket.
      const { access_token: vmToken } = (await (await metadata("instance/service-accounts/default/token")).json()) as {
        access_token: string;
      };
      const runtimeObject = await (await metadata("instance/attributes/budget-runtime-object")).text();
      const bundle = await fetch(
        `${endpoints.STORAGE_EMULATOR_HOST}/storage/v1/b/${bucket}/o/${runtimeObject}?alt=media`,
        { headers: { authorization: `Bearer ${vmToken}` } },
      );
      expect(
        (
          await fetch(`${endpoints.STORAGE_EMULATOR_HOST}/storage/v1/b/${bucket}/o/${runtimeObject}?alt=media`, {
            headers: { authorization: "Bearer forged" },
          })
        ).status,
      ).toBe(401);
      expect(bundle.status).toBe(200);
      expect([...new Uint8Array(await bundle.arrayBuffer()).slice(0, 2)]).toEqual([0x1f, 0x8b]); // the gzipped tarball startup.sh fetches
      expect(stdout).not.toContain("Try it"); // the human text is not mixed in
    } finally {
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
    }
  }, 120_000);
});
