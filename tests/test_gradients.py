"""Sequential.compute_gradients / input_gradient and nncore.gradient_check."""
from __future__ import annotations

import numpy as np
import pytest

import nncore
from nncore.layers import BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from nncore.regularizers import L2

TOL = 1e-2  # float32 central differences


def _data(shape, classes, n=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, *shape)).astype(np.float32), rng.integers(0, classes, n)


def _check(model, x, y, epsilon=1e-2):
    # MaxPooling2D is piecewise linear: a step that large can move its argmax, so the CNN uses a smaller one.
    errors = nncore.gradient_check(model, x, y, epsilon=epsilon)
    trainable = [l.name for l in model.layers if l.trainable_weights]
    assert sorted(errors) == sorted(trainable)
    assert max(errors.values()) < TOL, errors


def test_mlp_softmax_crossentropy_fused():
    nncore.set_random_seed(1)
    x, y = _data((6,), 3)
    model = nncore.Sequential([Dense(8, activation="tanh", input_shape=(6,), kernel_regularizer=L2(0.01)),
                               Dropout(0.5), Dense(3, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    _check(model, x, y)


def test_mlp_mse():
    nncore.set_random_seed(2)
    x, _ = _data((5,), 1)
    y = np.random.default_rng(3).standard_normal((16, 2)).astype(np.float32)
    model = nncore.Sequential([Dense(7, activation="sigmoid", input_shape=(5,)), Dense(2)])
    model.compile("sgd", "mse")
    _check(model, x, y)


def test_small_cnn():
    nncore.set_random_seed(3)
    x, y = _data((6, 6, 2), 3, n=6)
    model = nncore.Sequential([Conv2D(3, 3, activation="tanh", input_shape=(6, 6, 2)), MaxPooling2D(2), Flatten(),
                               Dense(3, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    _check(model, x, y, epsilon=2e-3)


def test_mlp_batchnorm_inference_mode():
    nncore.set_random_seed(4)
    x, y = _data((5,), 2, n=32)
    model = nncore.Sequential([Dense(6, input_shape=(5,)), BatchNormalization(), Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)  # moving statistics away from their initial values
    _check(model, x[:8], y[:8])
    # Inference mode: computing gradients leaves the moving statistics alone.
    before = [w.copy() for w in model.layers[1].weights]
    model.compute_gradients(x, y)
    for a, b in zip(before, model.layers[1].weights):
        np.testing.assert_array_equal(a, b)


def test_compute_gradients_loss_matches_evaluate_and_does_not_update():
    nncore.set_random_seed(5)
    x, y = _data((4,), 3)
    model = nncore.Sequential([Dense(5, activation="relu", input_shape=(4,), kernel_regularizer=L2(0.1)),
                               Dense(3, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    weights = model.get_weights()
    loss = model.compute_gradients(x, y)
    assert loss == pytest.approx(model.evaluate(x, y, batch_size=16), rel=1e-5)
    for a, b in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    g1 = [g.copy() for g in model.layers[0].gradients]
    model.compute_gradients(x, y)  # zeroed first, not accumulated
    for a, b in zip(g1, model.layers[0].gradients):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_input_gradient_linear_closed_form():
    nncore.set_random_seed(6)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((5, 4)).astype(np.float32)
    y = rng.standard_normal((5, 3)).astype(np.float32)
    model = nncore.Sequential([Dense(3, input_shape=(4,))])
    model.compile("sgd", "mse")
    W, b = (w.astype(np.float64) for w in model.get_weights())
    g = model.input_gradient(x, y)
    # L = 1/(B*O) sum (x W + b - y)^2  =>  dL/dx = 2/(B*O) (x W + b - y) W^T
    want = 2.0 / (5 * 3) * (x.astype(np.float64) @ W + b - y) @ W.T
    assert g.shape == x.shape and g.dtype == np.float32
    np.testing.assert_allclose(g, want, rtol=1e-4, atol=1e-6)


def test_input_gradient_matches_finite_differences_cnn():
    nncore.set_random_seed(8)
    x, y = _data((5, 5, 1), 2, n=3)
    model = nncore.Sequential([Conv2D(2, 3, activation="tanh", input_shape=(5, 5, 1)), Flatten(),
                               Dense(2, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    g = model.input_gradient(x, y)
    assert g.shape == x.shape
    eps = 1e-2
    for idx in [(0, 0, 0, 0), (1, 2, 3, 0), (2, 4, 4, 0)]:
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        n = (model.evaluate(xp, y, batch_size=8) - model.evaluate(xm, y, batch_size=8)) / (2 * eps)
        assert abs(g[idx] - n) <= 1e-2 * max(abs(g[idx]) + abs(n), 1e-3)


def test_fgsm_sign_step_increases_loss():
    nncore.set_random_seed(9)
    x, y = _data((8,), 3, n=64)
    model = nncore.Sequential([Dense(16, activation="relu", input_shape=(8,)), Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=5, batch_size=16, verbose=0)
    g = model.input_gradient(x, y)
    x_adv = x + 0.1 * np.sign(g)
    assert model.evaluate(x_adv, y) > model.evaluate(x, y)


def test_errors():
    model = nncore.Sequential([Dense(2, input_shape=(3,))])
    x = np.zeros((4, 3), np.float32)
    y = np.zeros((4, 2), np.float32)
    with pytest.raises(RuntimeError, match="compiled"):
        model.compute_gradients(x, y)
    with pytest.raises(RuntimeError, match="compiled"):
        model.input_gradient(x, y)
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="input_gradient"):
        model.input_gradient(np.zeros((4, 5), np.float32), y)
    with pytest.raises(ValueError, match="same number of samples"):
        model.compute_gradients(x, y[:3])
    with pytest.raises(ValueError):
        nncore.gradient_check(model, x, y, max_checks_per_weight=0)


def test_gradient_check_restores_weights_and_prints(capsys):
    model = nncore.Sequential([Dense(2, input_shape=(3,))])
    model.compile("sgd", "mse")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((4, 3)).astype(np.float32), rng.standard_normal((4, 2)).astype(np.float32)
    before = model.get_weights()
    errors = nncore.gradient_check(model, x, y, verbose=True)
    assert list(errors) == [model.layers[0].name]
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert "worst error" in capsys.readouterr().out
