// The tests run as on a machine without the Cloud SDK — CI's fresh Debian, a Cloud Run function's
// container. Google's auth library looks for a project with `gcloud config config-helper` before it
// asks the metadata server (google-auth-library, GoogleAuth.findAndCacheProjectId), so every
// boot, restarter and client under test would otherwise start this machine's gcloud, if it has one:
// about 0.7 s of CPU each, dozens a minute, and its configuration (a developer's own project)
// would reach code that must read the metadata stand-in. A `gcloud` first on PATH that is not there.
const { chmodSync, mkdtempSync, rmSync, writeFileSync } = require("node:fs");
const { tmpdir } = require("node:os");
const { delimiter, join } = require("node:path");

module.exports.setup = function hideCloudSdk() {
  const dir = mkdtempSync(join(tmpdir(), "budgetml-no-gcloud-"));
  const gcloud = join(dir, "gcloud");
  // Each call is recorded with where it came from (its working folder and BUDGET_ROOT), so a test
  // can check that what it started never looked for gcloud (tests/support/gcloudCalls.ts reads them).
  writeFileSync(
    gcloud,
    `#!/bin/sh\necho "$PWD $BUDGET_ROOT" >> ${JSON.stringify(join(dir, "calls"))}\n` +
      "echo 'gcloud: not installed on the machine the tests model' >&2\nexit 127\n",
  );
  chmodSync(gcloud, 0o755);
  process.env.PATH = `${dir}${delimiter}${process.env.PATH ?? ""}`;
  process.env.BUDGET_TEST_NO_GCLOUD_DIR = dir;
};

module.exports.teardown = function removeCloudSdkShadow() {
  if (process.env.BUDGET_TEST_NO_GCLOUD_DIR)
    rmSync(process.env.BUDGET_TEST_NO_GCLOUD_DIR, { recursive: true, force: true });
};
