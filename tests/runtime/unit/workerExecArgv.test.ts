import { WORKER_SEMI_SPACE_MIB, workerExecArgv } from "../../../runtime/server/workers";

describe("the flags a worker starts with", () => {
  it("adds the semi-space size to the primary's own flags", () => {
    expect(workerExecArgv(["--enable-source-maps"])).toEqual([
      "--enable-source-maps",
      `--max-semi-space-size=${WORKER_SEMI_SPACE_MIB}`,
    ]);
  });

  it("keeps a semi-space size the user chose, on the command line or in NODE_OPTIONS", () => {
    expect(workerExecArgv(["--max-semi-space-size=64"])).toEqual(["--max-semi-space-size=64"]);
    expect(workerExecArgv([], "--trace-warnings --max-semi-space-size=8")).toEqual([]);
  });
});
