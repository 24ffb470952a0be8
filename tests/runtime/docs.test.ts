import { chromium, type Browser } from "playwright-core";
import { startInProcessRuntime, type InProcessRuntime } from "../support/inProcessRuntime";
import { USERNAME, PASSWORD } from "../support/runtimeServer";

// The docs page as a person uses it, in Debian's chromium: Swagger UI renders every endpoint
// from our OpenAPI document, Authorize logs in through POST /token (the OAuth2 password flow),
// and "Try it out" calls /predict_dict with the token it got.
describe("interactive docs in a real browser", () => {
  let server: InProcessRuntime;
  let browser: Browser;
  beforeAll(async () => {
    server = await startInProcessRuntime("runtime/passthrough.cjs");
    browser = await chromium.launch({
      executablePath: "/usr/bin/chromium",
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
    });
  }, 30_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it("renders every endpoint, logs in with Authorize and runs a prediction", async () => {
    const page = await browser.newPage();
    // The page must work under its own Content-Security-Policy: chromium reports each violation.
    const violations: string[] = [];
    page.on(
      "console",
      (message) => void (/Content Security Policy/i.test(message.text()) && violations.push(message.text())),
    );
    const docs = await page.goto(`${server.url}/docs`);
    expect(docs?.headers()["content-security-policy"]).toMatch(/default-src 'self'.*frame-ancestors 'none'/);
    expect(docs?.headers()["x-content-type-options"]).toBe("nosniff");
    await page.waitForSelector(".opblock-summary-path");
    const paths = await page.$$eval(".opblock-summary-path", (nodes) => nodes.map((n) => n.getAttribute("data-path")));
    expect(paths).toEqual(expect.arrayContaining(["/", "/token", "/predict", "/predict_dict", "/predict_image"]));

    await page.click("button.authorize");
    await page.fill("#oauth_username", USERNAME);
    await page.fill("#oauth_password", PASSWORD);
    await page.click(".auth-btn-wrapper button.authorize");
    await page.waitForSelector("text=Logout");
    await page.click(".btn-done");
    // The token lives in the page's memory only, never in the browser's storage.
    expect(await page.evaluate(() => JSON.stringify({ ...localStorage, ...sessionStorage }))).not.toMatch(
      /eyJ|access_token|authorized/,
    );

    await page.click("#operations-default-post_predict_dict .opblock-summary");
    await page.click("#operations-default-post_predict_dict .try-out__btn");
    await page.fill(
      "#operations-default-post_predict_dict textarea.body-param__text",
      '{"payload": {"from": "browser"}}',
    );
    await page.click("#operations-default-post_predict_dict .execute");
    const status = await page.waitForSelector(
      "#operations-default-post_predict_dict .live-responses-table tbody .response-col_status",
    );
    expect((await status.textContent())?.trim()).toBe("200");
    const body = await page.textContent(
      "#operations-default-post_predict_dict .live-responses-table .highlight-code pre",
    );
    expect(JSON.parse(body ?? "")).toEqual({ payload: { from: "browser" } });

    // The image endpoint offers a file picker for field "request".
    await page.click("#operations-default-post_predict_image .opblock-summary");
    await page.click("#operations-default-post_predict_image .try-out__btn");
    expect(await page.$$('#operations-default-post_predict_image input[type="file"]')).toHaveLength(1);
    expect(violations).toEqual([]);
  }, 60_000);
});
