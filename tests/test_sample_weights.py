"""fit/evaluate sample_weight and class_weight (Keras "sum_over_batch_size"), and the top-k metrics."""
from __future__ import annotations

import numpy as np
import pytest

import nncore
from nncore.layers import Dense
from nncore.models import Sequential
from nncore.optimizers import SGD


def _softmax_model(d: int = 4, c: int = 3, seed: int = 0, loss: str = "sparse_categorical_crossentropy",
                   metrics=None, lr: float = 0.1) -> Sequential:
    nncore.set_random_seed(seed)
    m = Sequential([Dense(c, activation="softmax", input_shape=(d,))])
    m.compile(optimizer=SGD(learning_rate=lr), loss=loss, metrics=metrics or [])
    return m


def _data(n: int = 12, d: int = 4, c: int = 3, seed: int = 1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = rng.integers(0, c, n).astype(np.float32)
    w = rng.uniform(0.0, 2.0, n).astype(np.float32)
    return x, y, w


def _np_scce(model: Sequential, x, y) -> np.ndarray:
    W, b = [a.astype(np.float64) for a in model.get_weights()]
    z = x.astype(np.float64) @ W + b
    z -= z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -logp[np.arange(len(y)), y.astype(int)]


def test_evaluate_weighted_loss_matches_numpy():
    x, y, w = _data()
    m = _softmax_model(metrics=["accuracy"])
    per = _np_scce(m, x, y)
    loss, acc = m.evaluate(x, y, batch_size=5, verbose=0, sample_weight=w)
    assert loss == pytest.approx(float((w * per).sum() / len(y)), rel=1e-5)
    # metrics stay unweighted
    _, acc0 = m.evaluate(x, y, batch_size=5, verbose=0)
    assert acc == pytest.approx(acc0)
    assert m.evaluate(x, y, verbose=0, sample_weight=np.ones(len(y)))[0] == pytest.approx(m.evaluate(x, y, verbose=0)[0])


@pytest.mark.parametrize("loss", ["mse", "binary_crossentropy"])
def test_evaluate_weighted_elementwise_losses(loss):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((9, 4)).astype(np.float32)
    y = rng.integers(0, 2, (9, 2)).astype(np.float32)
    w = rng.uniform(0, 3, 9).astype(np.float32)
    nncore.set_random_seed(0)
    m = Sequential([Dense(2, activation="sigmoid", input_shape=(4,))])
    m.compile(optimizer="sgd", loss=loss)
    p = m.predict(x).astype(np.float64)
    if loss == "mse":
        per = ((p - y) ** 2).mean(axis=1)
    else:
        pc = np.clip(p, 1e-7, 1 - 1e-7)
        per = -(y * np.log(pc) + (1 - y) * np.log(1 - pc)).mean(axis=1)
    assert m.evaluate(x, y, verbose=0, sample_weight=w) == pytest.approx(float((w * per).sum() / 9), rel=1e-4)


def test_fit_one_sgd_step_matches_numpy():
    x, y, w = _data(n=10)
    m = _softmax_model(lr=0.5)
    W0, b0 = [a.astype(np.float64) for a in m.get_weights()]
    z = x.astype(np.float64) @ W0 + b0
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    dz = p.copy()
    dz[np.arange(10), y.astype(int)] -= 1.0
    dz *= w[:, None] / 10.0  # sum_over_batch_size: divide by B, not by sum(w)
    W1, b1 = W0 - 0.5 * x.T.astype(np.float64) @ dz, b0 - 0.5 * dz.sum(axis=0)
    m.fit(x, y, batch_size=10, epochs=1, shuffle=False, verbose=0, sample_weight=w)
    Wn, bn = m.get_weights()
    np.testing.assert_allclose(Wn, W1, atol=1e-5)
    np.testing.assert_allclose(bn, b1, atol=1e-5)


def test_zero_weights_equal_training_on_the_rest():
    x, y, _ = _data(n=16)
    w = np.zeros(16, np.float32)
    w[:8] = 1.0
    a = _softmax_model(seed=5)
    ha = a.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0, sample_weight=w)
    b = _softmax_model(seed=5)
    # Half the batch size and twice the weights: the same sum(w * loss) / B per step.
    hb = b.fit(x[:8], y[:8], batch_size=8, epochs=3, shuffle=False, verbose=0,
               sample_weight=np.full(8, 0.5, np.float32))
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, atol=1e-6)
    # epoch loss: sum(w * loss) / N, so the 16-sample run reports half of the unweighted 8-sample loss
    c = _softmax_model(seed=5)
    hc = c.fit(x[:8], y[:8], batch_size=8, epochs=1, shuffle=False, verbose=0)
    assert ha.history["loss"][0] == pytest.approx(hc.history["loss"][0] / 2, rel=1e-5)
    assert hb.history["loss"][0] == pytest.approx(hc.history["loss"][0] / 2, rel=1e-5)


def test_fit_shuffled_weights_follow_their_samples():
    # Weight 0 on every sample of class 2: the bias of class 2 only ever falls (its softmax gradient is p > 0).
    x, y, _ = _data(n=30)
    w = (y != 2).astype(np.float32)
    m = _softmax_model(seed=2)
    b0 = m.get_weights()[1].copy()
    m.fit(x, y, batch_size=7, epochs=2, shuffle=True, verbose=0, sample_weight=w)
    assert m.get_weights()[1][2] < b0[2]
    # Shuffling must gather weights with their rows: same result as shuffling by hand.
    ref = _softmax_model(seed=2)
    ref.fit(x, y, batch_size=30, epochs=1, shuffle=False, verbose=0, sample_weight=w)
    perm = np.random.default_rng(0).permutation(30)
    sh = _softmax_model(seed=2)
    sh.fit(x[perm], y[perm], batch_size=30, epochs=1, shuffle=True, verbose=0, sample_weight=w[perm])
    for a, b in zip(ref.get_weights(), sh.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy", "categorical_crossentropy"])
def test_class_weight_equals_sample_weight(loss):
    x, y, w = _data(n=20)
    cw = {0: 0.5, 1: 2.0, 2: 1.5}
    yt = y if loss.startswith("sparse") else np.eye(3, dtype=np.float32)[y.astype(int)]
    a = _softmax_model(seed=4, loss=loss)
    ha = a.fit(x, yt, batch_size=6, epochs=2, shuffle=False, verbose=0, class_weight=cw)
    b = _softmax_model(seed=4, loss=loss)
    hb = b.fit(x, yt, batch_size=6, epochs=2, shuffle=False, verbose=0,
               sample_weight=np.array([cw[int(c)] for c in y], np.float32))
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, atol=1e-6)
    assert ha.history["loss"] == pytest.approx(hb.history["loss"])
    # both given: they multiply
    c = _softmax_model(seed=4, loss=loss)
    c.fit(x, yt, batch_size=6, epochs=1, shuffle=False, verbose=0, class_weight=cw, sample_weight=w)
    d = _softmax_model(seed=4, loss=loss)
    d.fit(x, yt, batch_size=6, epochs=1, shuffle=False, verbose=0,
          sample_weight=w * np.array([cw[int(c)] for c in y], np.float32))
    for wc, wd in zip(c.get_weights(), d.get_weights()):
        np.testing.assert_allclose(wc, wd, atol=1e-6)


def test_validation_split_splits_weights():
    x, y, w = _data(n=20)
    m = _softmax_model(seed=1)
    h = m.fit(x, y, batch_size=4, epochs=1, verbose=0, validation_split=0.25, sample_weight=w)
    assert h.history["val_loss"][0] == pytest.approx(
        m.evaluate(x[15:], y[15:], verbose=0, sample_weight=w[15:]), rel=1e-5)


def test_weight_errors():
    x, y, w = _data()
    m = _softmax_model()
    with pytest.raises(ValueError, match="sample_weight"):
        m.fit(x, y, verbose=0, sample_weight=w[:-1])
    with pytest.raises(ValueError, match="sample_weight"):
        m.evaluate(x, y, verbose=0, sample_weight=np.ones((len(y), 2)))
    bad = w.copy()
    bad[3] = -1.0
    with pytest.raises(ValueError, match="sample_weight"):
        m.fit(x, y, verbose=0, sample_weight=bad)
    bad[3] = np.nan
    with pytest.raises(ValueError, match="sample_weight"):
        m.evaluate(x, y, verbose=0, sample_weight=bad)
    with pytest.raises(ValueError, match="class_weight"):
        m.fit(x, y, verbose=0, class_weight={0: 1.0, 3: 2.0})
    with pytest.raises(ValueError, match="class_weight"):
        m.fit(x, y, verbose=0, class_weight={-1: 1.0})
    with pytest.raises(ValueError, match="class_weight"):
        m.fit(x, y, verbose=0, class_weight={0: -1.0})
    with pytest.raises(ValueError, match="class_weight"):
        m.fit(x, y, verbose=0, class_weight=[1.0, 2.0, 3.0])


# ---- top-k metrics ---------------------------------------------------------------------------------------------
def _np_in_top_k(p: np.ndarray, t: np.ndarray, k: int) -> np.ndarray:
    return (p > p[np.arange(len(t)), t][:, None]).sum(axis=1) < k


@pytest.mark.parametrize("sparse", [True, False])
def test_top_k_metrics_match_numpy(sparse):
    rng = np.random.default_rng(7)
    n, d, c = 50, 6, 8
    x = rng.standard_normal((n, d)).astype(np.float32)
    t = rng.integers(0, c, n)
    loss = "sparse_categorical_crossentropy" if sparse else "categorical_crossentropy"
    name = "sparse_top_k_categorical_accuracy" if sparse else "top_k_categorical_accuracy"
    y = t.astype(np.float32) if sparse else np.eye(c, dtype=np.float32)[t]
    m = _softmax_model(d=d, c=c, loss=loss, metrics=[name, "accuracy"])
    assert m.metrics_names == ["loss", name, "accuracy"]
    p = m.predict(x)
    _, top5, top1 = m.evaluate(x, y, batch_size=7, verbose=0)
    assert top5 == pytest.approx(_np_in_top_k(p, t, 5).mean())
    assert top1 == pytest.approx(_np_in_top_k(p, t, 1).mean())
    assert top5 >= top1


def test_top_k_small_class_count_and_wrong_targets():
    m = _softmax_model(c=3, metrics=["sparse_top_k_categorical_accuracy"])
    x, y, _ = _data(c=3)
    assert m.evaluate(x, y, verbose=0)[1] == 1.0  # 3 classes <= k = 5: always in the top k
    with pytest.raises(ValueError, match="one-hot"):
        _softmax_model(metrics=["top_k_categorical_accuracy"])
    with pytest.raises(ValueError, match="integer labels"):
        _softmax_model(loss="categorical_crossentropy", metrics=["sparse_top_k_categorical_accuracy"])
