"""Iris species from four flower measurements, with scikit-learn.

The model is trained in load() on the iris data set that ships inside scikit-learn, so nothing is
downloaded; each runtime worker trains its own copy once, in well under a second.
"""

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


class BadInput(Exception):
    """Shaped like FastAPI's HTTPException: the runtime answers with its status and detail."""

    status_code = 422

    def __init__(self, detail):
        super().__init__(detail)
        self.detail = detail


class Predictor:
    def load(self):
        iris = load_iris()
        self.species = [str(name) for name in iris.target_names]
        self.model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        self.model.fit(iris.data, iris.target)

    # A plain def: scikit-learn is CPU-bound, so the runtime runs it in a thread, off the event loop.
    def predict(self, request):
        payload = request.payload
        flowers = payload["flowers"] if "flowers" in payload else [payload]
        if not isinstance(flowers, list) or not 1 <= len(flowers) <= 1000:
            raise BadInput('"flowers" must be a list of 1 to 1000 flowers')
        rows = [measurements(flower, index) for index, flower in enumerate(flowers)]
        predictions = []
        for probabilities in self.model.predict_proba(rows):
            best = int(probabilities.argmax())
            predictions.append({
                "species": self.species[best],
                "probability": round(float(probabilities[best]), 4),
                "probabilities": {name: round(float(p), 4) for name, p in zip(self.species, probabilities)},
            })
        return {"predictions": predictions} if "flowers" in payload else predictions[0]


def measurements(flower, index):
    if not isinstance(flower, dict):
        raise BadInput(f"flower {index}: expected an object with {', '.join(FEATURES)} (cm)")
    missing = [name for name in FEATURES if name not in flower]
    if missing:
        raise BadInput(f"flower {index}: missing {', '.join(missing)}")
    row = []
    for name in FEATURES:
        value = flower[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 100:
            raise BadInput(f"flower {index}: {name} must be a number of centimetres between 0 and 100, got {value!r}")
        row.append(float(value))
    return row
