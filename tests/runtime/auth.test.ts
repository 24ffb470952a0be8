import { SignJWT } from "jose";
import { startInProcessRuntime, type InProcessRuntime } from "../support/inProcessRuntime";
import { login, PASSWORD, SIGNING_KEY, USERNAME, json } from "../support/runtimeServer";
import { waitFor } from "../support/waitFor";

describe("POST /token and bearer auth", () => {
  let server: InProcessRuntime;
  beforeEach(async () => {
    server = await startInProcessRuntime("runtime/passthrough.cjs", { env: { BUDGET_MAX_FAILED_LOGINS: "3" } });
  });
  afterEach(() => server.close());

  it("answers the seed's form with a bearer JWT that expires", async () => {
    const response = await fetch(`${server.url}/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: `grant_type=&username=${USERNAME}&password=${encodeURIComponent(PASSWORD)}&scope=&client_id=&client_secret=`,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("no-store");
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toEqual({
      access_token: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/),
      token_type: "bearer",
      expires_in: 3600,
    });
    const claims = JSON.parse(Buffer.from((body.access_token as string).split(".")[1], "base64url").toString());
    expect(claims.sub).toBe(USERNAME);
    expect(claims.exp - claims.iat).toBe(3600);
  });

  it("accepts grant_type=password, as Swagger UI sends it", async () => {
    const response = await fetch(`${server.url}/token/`, {
      method: "POST",
      body: new URLSearchParams({ grant_type: "password", username: USERNAME, password: PASSWORD }),
    });
    expect(response.status).toBe(200);
  });

  it.each([
    [
      "a wrong password",
      { username: USERNAME, password: "nope" },
      401,
      /Incorrect username or password/,
      "BUDGETML_LOGIN_INCORRECT",
    ],
    [
      "a wrong username",
      { username: "root", password: PASSWORD },
      401,
      /Incorrect username or password/,
      "BUDGETML_LOGIN_INCORRECT",
    ],
    ["no password", { username: USERNAME }, 422, /Missing form field: password/, "BUDGETML_FORM_FIELD_MISSING"],
    ["nothing", {}, 422, /Missing form fields: username, password/, "BUDGETML_FORM_FIELD_MISSING"],
    [
      "another grant type",
      { grant_type: "client_credentials", username: USERNAME, password: PASSWORD },
      400,
      /Unsupported grant_type/,
      "BUDGETML_GRANT_TYPE_UNSUPPORTED",
    ],
  ])("refuses %s", async (_name, form, status, message, code) => {
    const response = await fetch(`${server.url}/token`, {
      method: "POST",
      body: new URLSearchParams(form as Record<string, string>),
    });
    expect(response.status).toBe(status);
    const body = (await response.json()) as { error: string; code: string };
    expect(body.error).toMatch(message);
    expect(body.code).toBe(code);
    if (status === 401) expect(response.headers.get("www-authenticate")).toBe("Bearer");
  });

  it("refuses JSON logins with 415", async () => {
    const response = await fetch(`${server.url}/token`, json("", { username: USERNAME, password: PASSWORD }));
    expect(response.status).toBe(415);
    expect(await response.json()).toMatchObject({ code: "BUDGETML_CONTENT_TYPE_UNSUPPORTED" });
  });

  it("rate-limits failed logins per address with 429 and Retry-After, even for the right password", async () => {
    for (let i = 0; i < 3; i += 1) await expect(login(server.url, USERNAME, "wrong")).rejects.toThrow(/401/);
    const response = await fetch(`${server.url}/token`, {
      method: "POST",
      body: new URLSearchParams({ username: USERNAME, password: PASSWORD }),
    });
    expect(response.status).toBe(429);
    expect(await response.json()).toMatchObject({ code: "BUDGETML_LOGIN_RATE_LIMITED" });
    expect(Number(response.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  it.each([
    ["no Authorization header", undefined],
    ["a malformed header", "Bearer"],
    ["another scheme", "Basic YnVkZ2V0OnB3"],
    ["garbage", "Bearer not-a-jwt"],
  ])("answers 401 with WWW-Authenticate: Bearer for %s", async (_name, authorization) => {
    const response = await fetch(`${server.url}/predict_dict`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(authorization ? { authorization } : {}) },
      body: "{}",
    });
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ code: "BUDGETML_NOT_AUTHENTICATED" });
    expect(response.headers.get("www-authenticate")).toBe("Bearer");
  });

  it("refuses a token signed with another key, and one with alg none", async () => {
    const now = Math.floor(Date.now() / 1000);
    const forged = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256" })
      .setSubject(USERNAME)
      .setIssuedAt(now)
      .setExpirationTime(now + 600)
      .sign(new TextEncoder().encode("some-other-key-of-enough-length!"));
    const unsigned = `${Buffer.from('{"alg":"none"}').toString("base64url")}.${Buffer.from(JSON.stringify({ sub: USERNAME, exp: now + 600 })).toString("base64url")}.`;
    for (const token of [forged, unsigned]) {
      const response = await fetch(`${server.url}/predict_dict`, json(token, { payload: {} }));
      expect(response.status).toBe(401);
      expect(await response.json()).toMatchObject({ code: "BUDGETML_NOT_AUTHENTICATED" });
    }
  });

  it("refuses a correctly signed token that has expired", async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256" })
      .setSubject(USERNAME)
      .setIssuedAt(now - 7200)
      .setExpirationTime(now - 3600)
      .sign(new TextEncoder().encode(SIGNING_KEY));
    const response = await fetch(`${server.url}/predict_dict`, json(expired, { payload: {} }));
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ code: "BUDGETML_NOT_AUTHENTICATED" });
    expect(response.headers.get("www-authenticate")).toBe("Bearer");
    expect((await fetch(`${server.url}/predict_dict`, json(await server.token(), { payload: {} }))).status).toBe(200);
  });

  it("lets a valid token through", async () => {
    const response = await fetch(`${server.url}/predict_dict`, json(await server.token(), { payload: { a: 1 } }));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ payload: { a: 1 } });
  });

  it("never logs the password or a token", async () => {
    const token = await server.token();
    await fetch(`${server.url}/predict_dict`, json(token, { payload: {} }));
    await login(server.url, USERNAME, "wrong-password-xyz").catch(() => undefined);
    await waitFor(
      () => server.logLines.some((line) => line.includes('"path":"/token"') && line.includes('"status":401')),
      { what: "the failed login's log line" },
    );
    const log = server.logLines.join("\n");
    expect(log).not.toContain(PASSWORD);
    expect(log).not.toContain("wrong-password-xyz");
    expect(log).not.toContain(token);
  });
});
