"""Trains the small neural network examples/digits serves, and writes it as model.onnx.

    /usr/bin/python3 examples/digits/train.py     # Debian: python3-sklearn, python3-onnx

A multi-layer perceptron (64 -> 32 ReLU -> 10 softmax) learns handwritten digits from the 8x8
images that ship inside scikit-learn; its weights are written as an ONNX graph built with onnx's
own helpers (Gemm, Relu, Gemm, Softmax). model.onnx and samples.json are committed: serving
downloads nothing and needs no Python. Deterministic: the same inputs give the same file.
"""

import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

HERE = os.path.dirname(os.path.abspath(__file__))

digits = load_digits()
# Pixels are 0..16; the network sees them scaled to 0..1 (the predictor does the same).
x = digits.data.astype(np.float32) / 16.0
x_train, x_test, y_train, y_test = train_test_split(x, digits.target, test_size=0.2, random_state=0, stratify=digits.target)
mlp = MLPClassifier(hidden_layer_sizes=(32,), activation="relu", max_iter=600, random_state=0)
mlp.fit(x_train, y_train)
print(f"test accuracy {mlp.score(x_test, y_test):.3f} on {len(y_test)} held-out digits")

(w1, w2), (b1, b2) = mlp.coefs_, mlp.intercepts_
initializers = [
    numpy_helper.from_array(w1.astype(np.float32), "w1"),
    numpy_helper.from_array(b1.astype(np.float32), "b1"),
    numpy_helper.from_array(w2.astype(np.float32), "w2"),
    numpy_helper.from_array(b2.astype(np.float32), "b2"),
]
graph = helper.make_graph(
    [
        helper.make_node("Gemm", ["pixels", "w1", "b1"], ["hidden_linear"]),
        helper.make_node("Relu", ["hidden_linear"], ["hidden"]),
        helper.make_node("Gemm", ["hidden", "w2", "b2"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ],
    "digits_mlp",
    [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["batch", 64])],
    [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 10])],
    initializers,
)
model = helper.make_model(graph, producer_name="budgetml examples/digits", opset_imports=[helper.make_opsetid("", 13)])
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(model, os.path.join(HERE, "model.onnx"))

# A few held-out digits with their labels and scikit-learn's own answer, for the README and the test.
samples = [
    {"label": int(y_test[i]), "sklearn": int(mlp.predict(x_test[i : i + 1])[0]), "pixels": [int(v) for v in (x_test[i] * 16).round()]}
    for i in range(10)
]
with open(os.path.join(HERE, "samples.json"), "w") as out:
    json.dump(samples, out, separators=(",", ":"))
    out.write("\n")
print(f"wrote model.onnx ({os.path.getsize(os.path.join(HERE, 'model.onnx'))} bytes) and samples.json")
