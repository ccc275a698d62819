"""Loss objects as Keras 3's: reductions (sum_over_batch_size, sum, mean_with_sample_weight, None) and sample
weights on arrays, label_smoothing, the focal cross-entropies, reduction='sum' in training, and outputs without a
loss whose targets may be left out."""
import numpy as np
import pytest

import nncore
from nncore import losses as L
from nncore.layers import Dense


def _probs(n=6, c=4, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(c), n).astype(np.float32)
    y = np.eye(c, dtype=np.float32)[rng.integers(0, c, n)]
    return y, p


def _cce(y, p):
    return -np.sum(y * np.log(np.clip(p, 1e-7, 1 - 1e-7)), -1)


def _bce(y, p):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


@pytest.mark.parametrize("loss", [L.CategoricalCrossentropy(), L.MeanSquaredError(), L.KLDivergence(), L.Huber()])
def test_reductions_and_sample_weights(loss):
    y, p = _probs()
    w = np.array([1, 0, 2, 0.5, 1, 3], np.float32)
    per = np.asarray(type(loss)(reduction=None)(y, p), np.float64)
    assert per.shape == (6,)
    if isinstance(loss, L.CategoricalCrossentropy):
        np.testing.assert_allclose(per, _cce(y, p), rtol=1e-5)
    if isinstance(loss, L.MeanSquaredError):
        np.testing.assert_allclose(per, np.mean((y - p) ** 2, -1), rtol=1e-5)
    assert loss(y, p) == pytest.approx(per.mean(), rel=1e-5)
    assert loss(y, p, sample_weight=w) == pytest.approx(np.sum(per * w) / 6, rel=1e-5)
    assert type(loss)(reduction="sum")(y, p, sample_weight=w) == pytest.approx(np.sum(per * w), rel=1e-5)
    assert type(loss)(reduction="mean_with_sample_weight")(y, p, sample_weight=w) == \
        pytest.approx(np.sum(per * w) / np.sum(w), rel=1e-5)
    np.testing.assert_allclose(type(loss)(reduction="none")(y, p, sample_weight=w), per * w, rtol=1e-5)


def test_keras_loss_functions_give_per_sample_values():
    y, p = _probs()
    np.testing.assert_allclose(L.categorical_crossentropy(y, p), _cce(y, p), rtol=1e-5)
    np.testing.assert_allclose(L.mean_squared_error(y, p), np.mean((y - p) ** 2, -1), rtol=1e-5)
    labels = np.argmax(y, -1)
    np.testing.assert_allclose(L.sparse_categorical_crossentropy(labels, p), _cce(y, p), rtol=1e-5)
    # Given to compile, a built-in function is its kernel, not a traced function.
    assert isinstance(L.get(L.categorical_crossentropy), L.CategoricalCrossentropy)


def test_label_smoothing_matches_keras_formula():
    y, p = _probs(8, 5, 1)
    ys = y * 0.8 + 0.2 / 5
    assert L.CategoricalCrossentropy(label_smoothing=0.2)(y, p) == pytest.approx(np.mean(_cce(ys, p)), rel=1e-5)
    yb = (np.random.default_rng(2).random((8, 3)) > 0.5).astype(np.float32)
    pb = np.random.default_rng(3).random((8, 3)).astype(np.float32)
    assert L.BinaryCrossentropy(label_smoothing=0.1)(yb, pb) == \
        pytest.approx(np.mean(_bce(yb * 0.9 + 0.05, pb)), rel=1e-5)
    z = np.log(pb / (1 - pb))  # the same probabilities as logits
    assert L.BinaryCrossentropy(from_logits=True, label_smoothing=0.1)(yb, z) == \
        pytest.approx(np.mean(_bce(yb * 0.9 + 0.05, pb)), rel=1e-4)
    with pytest.raises(ValueError, match=r"label_smoothing must be a number in \[0, 1\], got 1.5"):
        L.CategoricalCrossentropy(label_smoothing=1.5)


def test_label_smoothing_trains_and_is_saved(tmp_path):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((96, 6)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[(x[:, 0] > 0).astype(int) + (x[:, 1] > 1).astype(int)]
    nncore.utils.set_random_seed(0)
    model = nncore.Sequential([nncore.Input((6,)), Dense(3, activation="softmax")])
    model.compile("adam", L.CategoricalCrossentropy(label_smoothing=0.1), metrics=["accuracy"])
    model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    p = model.predict(x, verbose=0)
    loss = model.evaluate(x, y, verbose=0)[0]  # [loss, accuracy]
    assert loss == pytest.approx(np.mean(_cce(y * 0.9 + 0.1 / 3, p)), rel=1e-5)
    model.save(tmp_path / "m.nncore")
    loaded = nncore.load_model(tmp_path / "m.nncore")
    assert loaded.evaluate(x, y, verbose=0)[0] == pytest.approx(loss, rel=1e-6)
    # Its gradient: finite differences of the smoothed loss.
    errors = nncore.gradient_check(model, x[:8], y[:8])
    assert max(errors.values()) < 1e-2


@pytest.mark.parametrize("balance", [False, True])
@pytest.mark.parametrize("from_logits", [False, True])
def test_binary_focal_crossentropy(balance, from_logits):
    rng = np.random.default_rng(5)
    y = (rng.random((10, 3)) > 0.6).astype(np.float32)
    p = rng.uniform(0.02, 0.98, (10, 3)).astype(np.float32)
    given = np.log(p / (1 - p)) if from_logits else p
    pt = y * p + (1 - y) * (1 - p)
    ref = (1 - pt) ** 2.0 * _bce(y, p)
    if balance:
        ref = (y * 0.25 + (1 - y) * 0.75) * ref
    loss = L.BinaryFocalCrossentropy(apply_class_balancing=balance, from_logits=from_logits)
    assert loss(y, given) == pytest.approx(np.mean(ref), rel=1e-4)


def test_categorical_focal_crossentropy_and_training():
    y, p = _probs(10, 4, 6)
    q = np.clip(p / p.sum(-1, keepdims=True), 1e-7, 1 - 1e-7)
    ref = np.sum(0.25 * (1 - q) ** 2 * -(y * np.log(q)), -1)
    assert L.CategoricalFocalCrossentropy()(y, p) == pytest.approx(np.mean(ref), rel=1e-5)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((64, 5)).astype(np.float32)
    yb = (x[:, :1] > 0).astype(np.float32)
    nncore.utils.set_random_seed(1)
    model = nncore.Sequential([nncore.Input((5,)), Dense(1, activation="sigmoid")])
    model.compile("adam", L.BinaryFocalCrossentropy(gamma=2.0), metrics=["accuracy"])
    h = model.fit(x, yb, epochs=15, batch_size=16, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]
    pb = model.predict(x, verbose=0)
    pt = yb * pb + (1 - yb) * (1 - pb)
    assert model.evaluate(x, yb, verbose=0)[0] == pytest.approx(np.mean((1 - pt) ** 2 * _bce(yb, pb)), rel=1e-4)


def test_reduction_sum_in_training_and_none_refused():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((40, 4)).astype(np.float32)
    y = rng.standard_normal((40, 2)).astype(np.float32)
    nncore.utils.set_random_seed(2)
    model = nncore.Sequential([nncore.Input((4,)), Dense(2)])
    model.compile("sgd", L.MeanSquaredError(reduction="sum"))
    p = model.predict(x, verbose=0)
    # evaluate in batches of 10: the mean over batches of each batch's summed loss
    per = np.mean((p - y) ** 2, -1)
    assert model.evaluate(x, y, batch_size=10, verbose=0) == pytest.approx(np.mean(per.reshape(4, 10).sum(1)),
                                                                            rel=1e-5)
    # Its gradient is the batch size times the mean's: one SGD step moves B times as far.
    twin = nncore.models.clone_model(model)
    twin.set_weights(model.get_weights())
    twin.compile(nncore.optimizers.SGD(learning_rate=0.01 * 40), "mse")
    model.compile(nncore.optimizers.SGD(learning_rate=0.01), L.MeanSquaredError(reduction="sum"))
    model.train_on_batch(x, y)
    twin.train_on_batch(x, y)
    for a, b in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"reduction='none'; a model trains on one number per batch"):
        model.compile("sgd", L.MeanSquaredError(reduction=None))


def test_outputs_without_a_loss_may_leave_out_their_targets():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((32, 4)).astype(np.float32)
    y = rng.standard_normal((32, 1)).astype(np.float32)
    inp = nncore.Input((4,))
    h = Dense(6, activation="relu", name="h")(inp)
    main = Dense(1, name="main")(h)
    aux = Dense(3, name="aux")(h)
    model = nncore.Model(inp, [main, aux])
    model.compile("adam", {"main": "mse"})
    hist = model.fit(x, {"main": y}, epochs=2, verbose=0)
    assert set(hist.history) == {"loss"}  # one output with a loss: no per-output losses in the logs (Keras 3)
    logs = model.evaluate(x, [y, None], verbose=0, return_dict=True)
    p = model.predict(x, verbose=0)[0]
    assert logs == {"loss": pytest.approx(float(np.mean((p - y) ** 2)), rel=1e-5)}
    model.compile("adam", ["mse", None], metrics={"aux": ["mae"]})
    with pytest.raises(ValueError, match=r"no targets for output 'aux', which has metrics"):
        model.fit(x, {"main": y}, verbose=0)
    with pytest.raises(ValueError, match=r"loss dict keys must be output names"):
        model.compile("adam", {"other": "mse"})
