"""SpatialDropout2D: one keep/drop draw per (sample, channel), inverted scaling, training only."""
from __future__ import annotations

import numpy as np
import pytest

import nncore
from nncore.layers import Conv2D, Dense, Flatten, SpatialDropout2D
from nncore.models import Sequential


def _x(shape=(4, 5, 6, 7), seed=0) -> np.ndarray:
    # strictly positive so a zero output means a dropped input
    return np.random.default_rng(seed).uniform(0.5, 1.5, shape).astype(np.float32)


@pytest.mark.parametrize("rate", [0.3, 0.6])
def test_drops_whole_channels_with_inverted_scaling(rate, threads):
    nncore.set_random_seed(0)
    x = _x((6, 5, 3, 40))
    layer = SpatialDropout2D(rate)
    y = layer.forward(x, training=True)
    ratio = y.astype(np.float64) / x
    mask = ratio[:, :1, :1, :]  # (B, 1, 1, C)
    np.testing.assert_allclose(ratio, np.broadcast_to(mask, ratio.shape), rtol=1e-6)  # constant over H, W
    vals = np.unique(np.round(mask, 5))
    assert set(vals) <= {0.0, round(1 / (1 - rate), 5)}
    dropped = (mask == 0).mean()
    assert abs(dropped - rate) < 0.15
    np.testing.assert_allclose(y, x * mask.astype(np.float32), rtol=1e-6)


def test_identity_at_inference_and_rate_zero():
    x = _x()
    np.testing.assert_array_equal(SpatialDropout2D(0.5).forward(x, training=False), x)
    np.testing.assert_array_equal(SpatialDropout2D(0.0).forward(x, training=True), x)
    nncore.set_random_seed(1)
    m = Sequential([SpatialDropout2D(0.5, input_shape=(5, 6, 7)), Flatten(), Dense(2)])
    m.compile(optimizer="sgd", loss="mse")
    p1, p2 = m.predict(x), m.predict(x)
    np.testing.assert_array_equal(p1, p2)


def test_backward_uses_the_forward_mask():
    nncore.set_random_seed(3)
    x = _x()
    layer = SpatialDropout2D(0.5)
    y = layer.forward(x, training=True)
    mask = (y.astype(np.float64) / x)[:, :1, :1, :]
    dy = np.random.default_rng(1).standard_normal(x.shape).astype(np.float32)
    dx = layer.backward(dy)
    np.testing.assert_allclose(dx, dy * mask.astype(np.float32), rtol=1e-6, atol=0)


def test_seed_reproducibility_and_fresh_masks():
    x = _x()
    nncore.set_random_seed(42)
    a = SpatialDropout2D(0.5)
    ya1, ya2 = a.forward(x, training=True).copy(), a.forward(x, training=True).copy()
    nncore.set_random_seed(42)
    b = SpatialDropout2D(0.5)
    yb1, yb2 = b.forward(x, training=True).copy(), b.forward(x, training=True).copy()
    np.testing.assert_array_equal(ya1, yb1)
    np.testing.assert_array_equal(ya2, yb2)
    assert not np.array_equal(ya1, ya2)  # a new mask each step


def test_errors():
    with pytest.raises(ValueError, match="SpatialDropout2D"):
        SpatialDropout2D(1.0)
    with pytest.raises(ValueError, match="SpatialDropout2D"):
        SpatialDropout2D(0.5).forward(np.ones((2, 3, 4), np.float32), training=True)
    with pytest.raises(ValueError, match="SpatialDropout2D"):
        Sequential([SpatialDropout2D(0.5, input_shape=(8,))])
    with pytest.raises(ValueError, match="channels_last"):
        SpatialDropout2D(0.5, data_format="channels_first")


def test_trains_in_a_cnn():
    nncore.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 6, 6, 2)).astype(np.float32)
    y = (x.mean(axis=(1, 2, 3)) > 0).astype(np.float32)
    m = Sequential([Conv2D(4, 3, activation="relu", input_shape=(6, 6, 2)), SpatialDropout2D(0.25), Flatten(),
                    Dense(1, activation="sigmoid")])
    m.compile(optimizer="adam", loss="binary_crossentropy")
    h = m.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert np.all(np.isfinite(h.history["loss"]))
    assert "SpatialDropout2D" in nncore.layers.__all__
