import { createTokenService } from "../../../runtime/auth/tokens";
import { SIGNING_KEY } from "../../support/runtimeServer";

describe("token service", () => {
  it("rejects a token once it has expired, also after it was verified and cached", async () => {
    let now = Date.now();
    const tokens = createTokenService(SIGNING_KEY, 60, () => now);
    const { token } = await tokens.issue("budget");
    expect(await tokens.verify(token)).toBe("budget");
    expect(await tokens.verify(token)).toBe("budget"); // from the cache
    now += 61_000;
    expect(await tokens.verify(token)).toBeUndefined();
  });

  it("rejects an expired token it has never seen", async () => {
    let now = Date.now();
    const tokens = createTokenService(SIGNING_KEY, 60, () => now);
    const { token } = await tokens.issue("budget");
    now += 120_000;
    expect(await tokens.verify(token)).toBeUndefined();
  });

  it("rejects a token whose payload was altered after signing", async () => {
    const tokens = createTokenService(SIGNING_KEY, 60);
    const { token } = await tokens.issue("budget");
    const [header, , signature] = token.split(".");
    const altered = `${header}.${Buffer.from(JSON.stringify({ sub: "admin", exp: 9999999999 })).toString("base64url")}.${signature}`;
    expect(await tokens.verify(altered)).toBeUndefined();
  });
});
