import { estimateMonthlyCost } from "../../components/pricing";
import { resourceSlug } from "../../components/validate";
import { outageRequestId } from "../../functions/restarter/keepRunning";
import { FALLBACK_LABEL, provisioningChange } from "../../functions/restarter/spotFallback";
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

describe("provisioningChange (the spot-capacity fallback)", () => {
  const policy = { fallbackAfterMs: 600_000, returnAfterMs: 6 * 3600_000 };
  const now = Date.parse("2026-11-25T12:00:00Z");
  const stoppedAgo = (ms: number) => new Date(now - ms).toISOString();

  it("switches a spot instance to standard only after a capacity failure and a long enough outage", () => {
    const view = { provisioningModel: "SPOT", labels: {}, lastStopTimestamp: stoppedAgo(700_000) };
    expect(provisioningChange(view, now, policy, true)).toBe("to_standard");
    expect(provisioningChange(view, now, policy, false)).toBeUndefined();
    expect(provisioningChange({ ...view, lastStopTimestamp: stoppedAgo(60_000) }, now, policy, true)).toBeUndefined();
    expect(provisioningChange(view, now, { ...policy, fallbackAfterMs: 0 }, true)).toBeUndefined();
  });

  it("returns a switched instance to spot at a stop after the return delay, never within the outage it ended", () => {
    const switchedAt = now - 7 * 3600_000;
    const labels = { [FALLBACK_LABEL]: String(switchedAt / 1000) };
    expect(
      provisioningChange(
        { provisioningModel: "STANDARD", labels, lastStopTimestamp: stoppedAgo(60_000) },
        now,
        policy,
        false,
      ),
    ).toBe("to_spot");
    expect(
      provisioningChange(
        { provisioningModel: "STANDARD", labels, lastStopTimestamp: new Date(switchedAt - 1000).toISOString() },
        now,
        policy,
        false,
      ),
    ).toBeUndefined();
  });
});

describe("outageRequestId", () => {
  it("is the same UUID for the same outage and attempt, and differs otherwise", () => {
    const id = outageRequestId("4242", "2026-11-25T12:00:00Z", 1);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(outageRequestId("4242", "2026-11-25T12:00:00Z", 1)).toBe(id);
    expect(outageRequestId("4242", "2026-11-25T12:00:00Z", 2)).not.toBe(id);
    expect(outageRequestId("4242", "2026-11-25T12:05:00Z", 1)).not.toBe(id);
  });
});
