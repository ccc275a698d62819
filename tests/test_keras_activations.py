"""nncore.activations (Keras's keras.activations): the same functions on arrays and in models."""
import math

import numpy as np
import pytest

import nncore
from nncore import activations as A

from graph_helpers import seeded  # noqa: F401  (autouse fixture)

X = np.linspace(-4, 4, 17, dtype=np.float32).reshape(1, 17)
X64 = X.astype(np.float64)
_erf = np.vectorize(math.erf)
REF = {
    "relu": np.maximum(X64, 0),
    "relu6": np.clip(X64, 0, 6),
    "sigmoid": 1 / (1 + np.exp(-X64)),
    "tanh": np.tanh(X64),
    "gelu": 0.5 * X64 * (1 + _erf(X64 / np.sqrt(2))),
    "elu": np.where(X64 > 0, X64, np.exp(X64) - 1),
    "selu": 1.0507009873554805 * np.where(X64 > 0, X64, 1.6732632423543772 * (np.exp(X64) - 1)),
    "leaky_relu": np.where(X64 > 0, X64, 0.2 * X64),
    "silu": X64 / (1 + np.exp(-X64)),
    "softplus": np.log1p(np.exp(X64)),
    "softsign": X64 / (1 + np.abs(X64)),
    "exponential": np.exp(X64),
    "hard_sigmoid": np.clip(X64 + 3, 0, 6) / 6,
    "mish": X64 * np.tanh(np.log1p(np.exp(X64))),
    "linear": X64,
}


@pytest.mark.parametrize("name", sorted(REF))
def test_activation_on_arrays_and_in_a_model(name):
    fn = A.get(name)
    np.testing.assert_allclose(fn(X), REF[name], rtol=1e-5, atol=1e-6)
    inp = nncore.Input((17,))
    out = fn(inp)
    if out is inp:  # linear: the identity adds no node
        return
    m = nncore.Model(inp, out)
    np.testing.assert_allclose(m.predict(X, verbose=0), REF[name], rtol=1e-5, atol=1e-6)


def test_relu_options_and_softmax():
    np.testing.assert_allclose(A.relu(X, negative_slope=0.1, max_value=2.0),
                               np.minimum(np.where(X64 > 0, X64, 0.1 * X64), 2.0), rtol=1e-6)
    np.testing.assert_allclose(A.relu(X, threshold=1.0), np.where(X64 >= 1, X64, 0.0), rtol=1e-6)
    with pytest.raises(NotImplementedError, match="threshold"):
        A.relu(nncore.Input((3,)), threshold=1.0)
    p = A.softmax(X)
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-6)


def test_functions_as_layer_activations_and_lookup():
    d = nncore.layers.Dense(3, activation=A.relu)
    assert d.get_config()["activation"] == "relu"
    assert A.serialize(A.gelu) == "gelu" and A.deserialize("elu") is A.elu
    with pytest.raises(ValueError, match="unknown activation"):
        A.get("nope")
