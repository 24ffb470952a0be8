import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * The `gcloud` calls recorded by the stand-in `gcloud` of tests/support/withoutCloudSdk.cjs (one
 * line each: the caller's working folder and its BUDGET_ROOT) that came from under `folder`.
 */
export function gcloudCallsFrom(folder: string): string[] {
  const calls = join(process.env.BUDGET_TEST_NO_GCLOUD_DIR ?? "", "calls");
  if (!existsSync(calls)) return [];
  return readFileSync(calls, "utf8")
    .split("\n")
    .filter((line) => line.includes(folder));
}
