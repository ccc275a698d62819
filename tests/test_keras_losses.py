"""Keras's other losses (Huber, LogCosh, KLDivergence, Poisson, CosineSimilarity, the hinges, MSLE, MAPE): written
with ops and traced into C++ ops at compile; values against NumPy float64, gradients by finite differences."""
import numpy as np
import pytest

import nncore
from nncore import layers, losses

from graph_helpers import gradient_errors, seeded  # noqa: F401  (autouse fixture)

RNG = np.random.default_rng(0)


def _np_unit(v):
    return v / np.sqrt(np.maximum((v * v).sum(-1, keepdims=True), 1e-12))


REF = {
    "huber": lambda t, p: np.where(np.abs(p - t) <= 1, 0.5 * (p - t) ** 2, np.abs(p - t) - 0.5).mean(-1),
    "log_cosh": lambda t, p: np.log(np.cosh(p - t)).mean(-1),
    "kl_divergence": lambda t, p: (np.clip(t, 1e-7, 1) * np.log(np.clip(t, 1e-7, 1) / np.clip(p, 1e-7, 1))).sum(-1),
    "poisson": lambda t, p: (p - t * np.log(p + 1e-7)).mean(-1),
    "cosine_similarity": lambda t, p: -(_np_unit(t) * _np_unit(p)).sum(-1),
    "hinge": lambda t, p: np.maximum(1 - (2 * t - 1) * p, 0).mean(-1),
    "squared_hinge": lambda t, p: (np.maximum(1 - (2 * t - 1) * p, 0) ** 2).mean(-1),
    "categorical_hinge": lambda t, p: np.maximum(((1 - t) * p).max(-1) - (t * p).sum(-1) + 1, 0),
    "msle": lambda t, p: ((np.log(np.maximum(p, 1e-7) + 1) - np.log(np.maximum(t, 1e-7) + 1)) ** 2).mean(-1),
    "mape": lambda t, p: 100 * np.abs((t - p) / np.maximum(np.abs(t), 1e-7)).mean(-1),
}
# Targets and an output activation that keep each loss in its domain.
SETUP = {
    "kl_divergence": ("softmax", lambda n: np.eye(4)[RNG.integers(0, 4, n)] * 0.9 + 0.025),
    "poisson": ("softplus", lambda n: RNG.poisson(2.0, size=(n, 4)).astype(float)),
    "hinge": ("linear", lambda n: RNG.integers(0, 2, size=(n, 4)).astype(float)),
    "squared_hinge": ("linear", lambda n: RNG.integers(0, 2, size=(n, 4)).astype(float)),
    "categorical_hinge": ("linear", lambda n: np.eye(4)[RNG.integers(0, 4, n)]),
    "msle": ("softplus", lambda n: RNG.uniform(0, 3, size=(n, 4))),
    "mape": ("linear", lambda n: RNG.uniform(1, 3, size=(n, 4))),
}


def setup(name, n=24):
    act, targets = SETUP.get(name, ("linear", lambda k: RNG.normal(size=(k, 4))))
    inp = nncore.Input((3,))
    h = layers.Dense(4)(inp)
    out = nncore.activations.get(act)(h)
    m = nncore.Model(inp, out)
    x = RNG.normal(size=(n, 3)).astype(np.float32)
    return m, x, targets(n).astype(np.float32)


@pytest.mark.parametrize("name", sorted(REF))
def test_loss_value_and_gradient(name):
    m, x, y = setup(name)
    m.compile("sgd", loss=name)
    p = m.predict(x, verbose=0).astype(np.float64)
    np.testing.assert_allclose(m.evaluate(x, y, batch_size=len(x), verbose=0), REF[name](y, p).mean(), rtol=2e-5,
                               atol=1e-6)
    assert max(gradient_errors(m, x[:6], y[:6]).values()) < 1e-2
    # the function form on arrays gives the per-sample values
    fn = getattr(losses, {"msle": "msle", "mape": "mape"}.get(name, name))
    np.testing.assert_allclose(fn(y, p.astype(np.float32)), REF[name](y, p), rtol=1e-4, atol=1e-5)


def test_loss_objects_options_and_reduction_sum():
    m, x, y = setup("huber")
    m.compile("sgd", loss=losses.Huber(delta=0.3))
    p = m.predict(x, verbose=0).astype(np.float64)
    e = np.abs(p - y)
    ref = np.where(e <= 0.3, 0.5 * e ** 2, 0.3 * (e - 0.15)).mean(-1)
    np.testing.assert_allclose(m.evaluate(x, y, batch_size=len(x), verbose=0), ref.mean(), rtol=1e-5)
    m.compile("sgd", loss=losses.LogCosh(reduction="sum"))
    ref = np.log(np.cosh(p - y)).mean(-1).sum()
    np.testing.assert_allclose(m.evaluate(x, y, batch_size=len(x), verbose=0), ref, rtol=1e-5)
    with pytest.raises(ValueError, match="reduction must be one of"):
        losses.Huber(reduction="batch")
    with pytest.raises(ValueError, match=r"reduction='none'; a model trains on one number per batch"):
        m.compile("sgd", loss=losses.Huber(reduction="none"))
    with pytest.raises(ValueError, match="delta must be > 0"):
        losses.Huber(delta=0)


def test_trains_and_saves(tmp_path):
    m, x, y = setup("huber", n=64)
    m.compile(nncore.optimizers.Adam(0.05), loss="huber")
    before = m.evaluate(x, y, verbose=0)
    m.fit(x, y, epochs=20, verbose=0)
    assert m.evaluate(x, y, verbose=0) < before
    path = str(tmp_path / "h.nncore")
    m.save(path)
    loaded = nncore.load_model(path)
    np.testing.assert_allclose(loaded.evaluate(x, y, verbose=0), m.evaluate(x, y, verbose=0), rtol=1e-6)
