import { estimateMonthlyCost } from "../../components/pricing";
import { resourceSlug } from "../../components/resourceSlug";
import { FALLBACK_LABEL, parseUtcWindow, PROVISIONING_LABEL } from "../../contracts/scheduling";
import { labelsAfter, provisioningMove, type ProvisioningView } from "../../functions/restarter/provisioningPolicy";
import { outageRequestId, switchRequestId } from "../../functions/restarter/requestIds";
import { renderEnvFile } from "../../images/vm/renderConfig";

// The pure helpers the parts are built from, tested directly: no mocks, no servers.
describe("resourceSlug", () => {
  it.each([
    ["Sentiment Model", 20, "sentiment-model"],
    ["42-answers", 20, "answers"],
    ["a--b__c", 20, "a-b-c"],
    ["a-very-long-model-name-indeed", 10, "a-very-lon"],
    ["trailing-dash-cut-", 14, "trailing-dash"],
    ["日本", 20, "model"],
  ])("%j (max %d) → %j", (name, max, slug) => expect(resourceSlug(name, max)).toBe(slug));
});

describe("estimateMonthlyCost", () => {
  it("prices spot below on demand, standard at on demand, a parked model at its disk and address only", () => {
    const spot = estimateMonthlyCost("e2-small", "spot", 20);
    const standard = estimateMonthlyCost("e2-small", "standard", 20);
    expect(spot.monthlyUsd).toBeLessThan(standard.monthlyUsd as number);
    expect(standard.monthlyUsd).toBe(standard.onDemandMonthlyUsd);
    expect(spot.onDemandMonthlyUsd).toBe(standard.onDemandMonthlyUsd);
    const parked = estimateMonthlyCost("e2-small", "spot", 20, false);
    expect(parked.monthlyUsd).toBeLessThan(spot.monthlyUsd as number);
    expect(parked.note).toMatch(/^parked/);
    expect(estimateMonthlyCost("e2-small", "spot", 40).monthlyUsd).toBeGreaterThan(spot.monthlyUsd as number);
  });

  it("says what a day on demand costs on top while spot capacity is out, for a spot model only", () => {
    // e2-small: (0.01675 - 0.00503) USD/h × 24 h
    expect(estimateMonthlyCost("e2-small", "spot", 20).fallbackExtraUsdPerDay).toBe(0.28);
    expect(estimateMonthlyCost("e2-small", "standard", 20).fallbackExtraUsdPerDay).toBe(0);
    expect(estimateMonthlyCost("e2-small", "spot", 20, false).fallbackExtraUsdPerDay).toBe(0);
  });

  it("says so for a machine type it has no price for", () => {
    expect(estimateMonthlyCost("z9-huge", "spot", 20)).toMatchObject({
      monthlyUsd: undefined,
      note: expect.stringMatching(/^z9-huge is not in budgetml's price table/),
    });
  });
});

describe("renderEnvFile", () => {
  it("double-quotes every value and escapes what systemd would otherwise interpret", () => {
    expect(renderEnvFile({ A: "plain", B: 'say "hi"', C: "back\\slash", D: "two\nlines", E: "$HOME" })).toBe(
      'A="plain"\nB="say \\"hi\\""\nC="back\\\\slash"\nD="two\\nlines"\nE="\\$HOME"\n',
    );
  });
});

describe("provisioningMove (the restarter's provisioning policy)", () => {
  const policy = {
    declared: "spot" as const,
    fallbackAfterMs: 600_000,
    returnAfterMs: 6 * 3600_000,
    returnWindow: parseUtcWindow("03:00-05:00"),
  };
  const now = Date.parse("2026-11-25T12:00:00Z");
  const ago = (ms: number) => new Date(now - ms).toISOString();
  const spotDown = (ms: number): ProvisioningView => ({
    status: "stopped",
    live: "spot",
    labels: { [PROVISIONING_LABEL]: "spot" },
    lastStopTimestamp: ago(ms),
  });

  it("switches a spot instance to standard only after a capacity failure and a long enough outage", () => {
    expect(provisioningMove(spotDown(700_000), now, policy, true)).toEqual({ to: "standard", why: "no_spot_capacity" });
    expect(provisioningMove(spotDown(700_000), now, policy, false)).toBeUndefined();
    expect(provisioningMove(spotDown(60_000), now, policy, true)).toBeUndefined();
    expect(provisioningMove(spotDown(700_000), now, { ...policy, fallbackAfterMs: 0 }, true)).toBeUndefined();
  });

  it("goes back to standard at once when its own switch to spot finds no capacity (a bounded try)", () => {
    expect(provisioningMove({ ...spotDown(5_000), ownSwitchTo: "spot" }, now, policy, true)).toEqual({
      to: "standard",
      why: "no_spot_capacity",
    });
    // With the fallback off, spot means spot: it waits for capacity like any spot outage.
    expect(
      provisioningMove({ ...spotDown(5_000), ownSwitchTo: "spot" }, now, { ...policy, fallbackAfterMs: 0 }, true),
    ).toBeUndefined();
  });

  describe("the return of a fallback instance to spot", () => {
    const switchedAt = now - 7 * 3600_000;
    const fellBack = (status: "running" | "stopped", lastStop: string | undefined): ProvisioningView => ({
      status,
      live: "standard",
      labels: { [PROVISIONING_LABEL]: "standard", [FALLBACK_LABEL]: String(switchedAt / 1000) },
      lastStopTimestamp: lastStop,
    });
    const at = (iso: string) => Date.parse(iso);

    it("while running: only inside the return window, and only after the return delay", () => {
      const running = fellBack("running", new Date(switchedAt - 60_000).toISOString());
      expect(provisioningMove(running, now, policy, false)).toBeUndefined(); // 12:00 is outside 03:00-05:00
      expect(provisioningMove(running, at("2026-11-26T03:30:00Z"), policy, false)).toEqual({
        to: "spot",
        why: "return",
      });
      expect(provisioningMove(running, at("2026-11-26T05:00:00Z"), policy, false)).toBeUndefined(); // end excluded
      const recent = {
        ...running,
        labels: { ...running.labels, [FALLBACK_LABEL]: String(at("2026-11-26T01:00:00Z") / 1000) },
      };
      expect(provisioningMove(recent, at("2026-11-26T03:30:00Z"), policy, false)).toBeUndefined();
    });

    it("while stopped: at a stop after the switch, never within the outage it ended", () => {
      expect(provisioningMove(fellBack("stopped", ago(60_000)), now, policy, false)).toEqual({
        to: "spot",
        why: "return",
      });
      expect(
        provisioningMove(fellBack("stopped", new Date(switchedAt - 1000).toISOString()), now, policy, false),
      ).toBeUndefined();
    });

    it("never when the deployment now declares standard: the fallback label goes, the scheduling stays", () => {
      expect(
        provisioningMove(
          fellBack("running", undefined),
          at("2026-11-26T03:30:00Z"),
          { ...policy, declared: "standard" },
          false,
        ),
      ).toEqual({ to: "standard", why: "declared" });
    });
  });

  it("switches to the declared model, running or stopped; a spot VM serves a declared legacy preemptible", () => {
    const standard: ProvisioningView = {
      status: "running",
      live: "standard",
      labels: { [PROVISIONING_LABEL]: "standard" },
      lastStopTimestamp: undefined,
    };
    expect(provisioningMove(standard, now, policy, false)).toEqual({ to: "spot", why: "declared" });
    expect(provisioningMove({ ...standard, status: "stopped" }, now, policy, false)).toEqual({
      to: "spot",
      why: "declared",
    });
    expect(provisioningMove(standard, now, { ...policy, declared: "standard" }, false)).toBeUndefined();
    expect(provisioningMove(standard, now, { ...policy, declared: "preemptible" }, false)).toEqual({
      to: "spot",
      why: "declared",
    });
    expect(provisioningMove(spotDown(0), now, { ...policy, declared: "preemptible" }, false)).toBeUndefined();
    expect(
      provisioningMove({ ...spotDown(0), status: "running" }, now, { ...policy, declared: "standard" }, false),
    ).toEqual({ to: "standard", why: "declared" });
    // A restarter deployed without a declaration keeps what it finds.
    expect(provisioningMove(standard, now, { ...policy, declared: undefined }, false)).toBeUndefined();
  });

  it("labels a move: what the instance runs as, and since when it is on standard for lack of spot", () => {
    const labels = { "budgetml-model": "m", [PROVISIONING_LABEL]: "spot" };
    expect(labelsAfter({ to: "standard", why: "no_spot_capacity" }, labels, now)).toEqual({
      "budgetml-model": "m",
      [PROVISIONING_LABEL]: "standard",
      [FALLBACK_LABEL]: String(now / 1000),
    });
    const fallen = { ...labels, [PROVISIONING_LABEL]: "standard", [FALLBACK_LABEL]: "1700000000" };
    expect(labelsAfter({ to: "spot", why: "return" }, fallen, now)).toEqual({
      "budgetml-model": "m",
      [PROVISIONING_LABEL]: "spot",
    });
  });
});

describe("request ids", () => {
  it("is the same UUID for the same outage and attempt, and differs otherwise", () => {
    const id = outageRequestId("4242", "2026-11-25T12:00:00Z", 1);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(outageRequestId("4242", "2026-11-25T12:00:00Z", 1)).toBe(id);
    expect(outageRequestId("4242", "2026-11-25T12:00:00Z", 2)).not.toBe(id);
    expect(outageRequestId("4242", "2026-11-25T12:05:00Z", 1)).not.toBe(id);
  });

  it("gives a switch's stop one id per instance start and target, unlike any outage's", () => {
    const id = switchRequestId("4242", "2026-11-25T12:00:00Z", "spot");
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(switchRequestId("4242", "2026-11-25T12:00:00Z", "spot")).toBe(id);
    expect(switchRequestId("4242", "2026-11-25T12:00:00Z", "standard")).not.toBe(id);
    expect(switchRequestId("4242", "2026-11-25T13:00:00Z", "spot")).not.toBe(id);
    expect(outageRequestId("4242", "2026-11-25T12:00:00Z", 1)).not.toBe(id);
  });
});
