import { retryWhileNotYetGranted } from "../../images/vm/retry";

const notFound = () => Object.assign(new Error("No such object"), { code: 404 });

describe("retryWhileNotYetGranted (a grant or object not visible yet)", () => {
  it("counts its window from the first refusal: a slow first attempt still gets its retry", async () => {
    const log: string[] = [];
    let attempts = 0;
    const slowThenNotFound = async () => {
      attempts += 1;
      if (attempts === 1) await new Promise((resolve) => setTimeout(resolve, 1500)); // longer than the window
      throw notFound();
    };
    await expect(retryWhileNotYetGranted("bundle", slowThenNotFound, (line) => log.push(line), 1200)).rejects.toThrow(
      "No such object",
    );
    // Retried after 1 s (inside the 1.2 s from the first 404), not again after 2 s more.
    expect(attempts).toBe(2);
    expect(log).toEqual(["bundle: 404 not found; retrying in 1 s (grants and new objects can take minutes to appear)"]);
  });

  it("fails at once on anything but a 403 or 404", async () => {
    let attempts = 0;
    const broken = async () => {
      attempts += 1;
      throw Object.assign(new Error("boom"), { code: 500 });
    };
    await expect(retryWhileNotYetGranted("bundle", broken, () => {}, 60_000)).rejects.toThrow("boom");
    expect(attempts).toBe(1);
  });
});
