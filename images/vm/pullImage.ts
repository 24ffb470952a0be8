import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { retryWhileNotYetGranted } from "./retry";

const run = promisify(execFile);

/**
 * How docker reports a registry refusing the pull while the VM account's grant on the repository
 * propagates, or before a just-pushed tag is visible: Artifact Registry answers 403 with "denied:
 * Permission "artifactregistry.repositories.downloadArtifacts" denied on resource … (or it may not
 * exist)", a refused token is "unauthorized", a missing tag "manifest unknown" / "not found".
 */
const NOT_YET = [
  { pattern: /denied: |unauthorized/i, status: 403 },
  { pattern: /manifest unknown|not found/i, status: 404 },
];

/**
 * Pulls the custom image before its slot starts, through the docker config in `dockerConfig` (the
 * credential helper): a refusal that means "not yet" is retried as the boot retries bundles and
 * secrets (with backoff, for IAM's documented propagation time), anything else fails at once.
 */
export async function pullImage(image: string, dockerConfig: string, log: (message: string) => void): Promise<void> {
  await retryWhileNotYetGranted(
    `docker pull ${image}`,
    () =>
      run("docker", ["pull", image], { env: { ...process.env, DOCKER_CONFIG: dockerConfig } }).catch(
        (error: Error & { stderr?: string }) => {
          const output = (error.stderr || error.message).trim();
          const status = NOT_YET.find(({ pattern }) => pattern.test(output))?.status;
          throw Object.assign(new Error(`docker pull ${image} failed: ${output.split("\n").pop()}`), { status });
        },
      ),
    log,
  );
}
