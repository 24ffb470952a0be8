// examples/iris over HTTP: a scikit-learn model trained in load(), served by the runtime.
// Debian's python3-sklearn is installed for /usr/bin/python3 (.ci/run, scripts/ensure-deps.mjs).
import { join } from "node:path";
import { json, startTestRuntime, type TestRuntime } from "../support/runtimeServer";

const IRIS = join(__dirname, "..", "..", "examples", "iris", "predictor.py");
const SETOSA = { sepal_length: 5.1, sepal_width: 3.5, petal_length: 1.4, petal_width: 0.2 };
const VERSICOLOR = { sepal_length: 5.9, sepal_width: 3.0, petal_length: 4.2, petal_width: 1.5 };
const VIRGINICA = { sepal_length: 6.9, sepal_width: 3.1, petal_length: 5.4, petal_width: 2.1 };

describe("examples/iris", () => {
  let runtime: TestRuntime;
  let token: string;
  beforeAll(async () => {
    runtime = await startTestRuntime(IRIS, { env: { BUDGET_PYTHON: "/usr/bin/python3" } });
    token = await runtime.token();
  }, 60_000);
  afterAll(() => runtime?.close());

  const predict = (payload: unknown) => fetch(`${runtime.url}/predict_dict`, json(token, { payload }));

  it("loads: trains on scikit-learn's bundled iris data", async () => {
    expect(await (await fetch(`${runtime.url}/`)).json()).toMatchObject({
      status: "ready",
      predictor: "predictor.py:Predictor",
    });
  });

  it("names the species of one flower, with probabilities that sum to 1", async () => {
    const response = await predict(SETOSA);
    expect(response.status).toBe(200);
    const answer = (await response.json()) as {
      species: string;
      probability: number;
      probabilities: Record<string, number>;
    };
    expect(answer.species).toBe("setosa");
    expect(answer.probability).toBeGreaterThan(0.9);
    expect(Object.keys(answer.probabilities)).toEqual(["setosa", "versicolor", "virginica"]);
    expect(Object.values(answer.probabilities).reduce((a, b) => a + b)).toBeCloseTo(1, 2);
  });

  it("classifies a batch of flowers", async () => {
    const response = await predict({ flowers: [SETOSA, VERSICOLOR, VIRGINICA] });
    const { predictions } = (await response.json()) as { predictions: Array<{ species: string }> };
    expect(predictions.map((p) => p.species)).toEqual(["setosa", "versicolor", "virginica"]);
  });

  it.each([
    [{ sepal_length: 5.1 }, "flower 0: missing sepal_width, petal_length, petal_width"],
    [
      { ...SETOSA, petal_width: "wide" },
      "flower 0: petal_width must be a number of centimetres between 0 and 100, got 'wide'",
    ],
    [{ flowers: [] }, '"flowers" must be a list of 1 to 1000 flowers'],
    [
      { flowers: [SETOSA, 3] },
      "flower 1: expected an object with sepal_length, sepal_width, petal_length, petal_width (cm)",
    ],
  ])("answers 422 with a precise message for %j", async (payload, message) => {
    const response = await predict(payload);
    expect(response.status).toBe(422);
    expect(((await response.json()) as { error: string }).error).toBe(message);
  });
});
