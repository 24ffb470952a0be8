import { createApp } from "../../../runtime/app";
import { createLogger } from "../../../contracts/cloudLogging";
import { waitFor } from "../../support/waitFor";

describe("health while the predictor loads", () => {
  it("reports starting while load() runs, then ready", async () => {
    let finishLoad: (() => void) | undefined;
    const runtime = createApp({
      credentials: { username: "u", password: "p" },
      tokenSigningKey: "k".repeat(32),
      loadPredictor: async () => ({
        instance: { load: () => new Promise<void>((resolve) => (finishLoad = resolve)), predict: async () => "ok" },
        name: "slow",
      }),
      logger: createLogger({ level: "silent" }),
    });
    await waitFor(() => finishLoad, { what: "load() to be called" });
    expect(runtime.health.state).toBe("starting");
    finishLoad!();
    await runtime.loaded;
    expect(runtime.health.state).toBe("ready");
  });
});
