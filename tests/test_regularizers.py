"""kernel_regularizer / bias_regularizer: the penalty joins the reported loss and its gradient the update."""
import numpy as np
import pytest

import nncore
from nncore import regularizers
from nncore.layers import Conv2D, Dense, Flatten


def _pair(make_layer, shape, seed=0):
    """Two identical models (same initial weights), one with the regularizers given to make_layer."""
    models = []
    for reg in (True, False):
        nncore.set_random_seed(seed)
        model = nncore.Sequential([make_layer(reg), Flatten(), Dense(2)])
        model.build((None, *shape))
        model.compile(nncore.optimizers.SGD(learning_rate=0.5), "mse")
        models.append(model)
    models[1].set_weights(models[0].get_weights())
    return models


def _penalty(w, l1, l2):
    w = w.astype(np.float64)
    return l1 * np.abs(w).sum() + l2 * (w * w).sum()


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_penalty_is_added_to_loss_and_gradient(kind):
    l1, l2, bl1 = 0.01, 0.05, 0.02
    if kind == "dense":
        shape = (6,)
        make = lambda reg: Dense(4, kernel_regularizer=regularizers.l1_l2(l1, l2) if reg else None,
                                 bias_regularizer=regularizers.l1(bl1) if reg else None)
    else:
        shape = (5, 5, 2)
        make = lambda reg: Conv2D(3, 3, kernel_regularizer=regularizers.l1_l2(l1, l2) if reg else None,
                                  bias_regularizer=regularizers.l1(bl1) if reg else None)
    reg_model, plain = _pair(make, shape)
    w = reg_model.layers[0].get_weights()
    w[1][:] = np.linspace(-0.3, 0.3, w[1].size)  # non-zero bias so its L1 term shows
    reg_model.layers[0].set_weights(w)
    plain.layers[0].set_weights(w)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(7, *shape)).astype(np.float32)
    y = rng.normal(size=(7, 2)).astype(np.float32)
    penalty = _penalty(w[0], l1, l2) + _penalty(w[1], bl1, 0.0)

    assert reg_model.evaluate(x, y, verbose=0) == pytest.approx(plain.evaluate(x, y, verbose=0) + penalty, rel=1e-6)
    loss_reg = reg_model.train_on_batch(x, y)
    loss_plain = plain.train_on_batch(x, y)
    assert loss_reg == pytest.approx(loss_plain + penalty, rel=1e-6)
    # One SGD step (lr 0.5): the weights differ by exactly -lr * d(penalty)/dw.
    k_reg, b_reg = reg_model.layers[0].get_weights()
    k_plain, b_plain = plain.layers[0].get_weights()
    np.testing.assert_allclose(k_reg - k_plain, -0.5 * (l1 * np.sign(w[0]) + 2 * l2 * w[0]), atol=2e-6)
    np.testing.assert_allclose(b_reg - b_plain, -0.5 * bl1 * np.sign(w[1]), atol=2e-6)
    # Layers below are untouched by the penalty.
    for a, b in zip(reg_model.layers[2].get_weights(), plain.layers[2].get_weights()):
        np.testing.assert_array_equal(a, b)


def test_regularizer_objects_and_names():
    assert regularizers.get("l2").l2 == 0.01 and regularizers.get("l2").l1 == 0.0
    assert regularizers.get("l1_l2").l1 == 0.01
    assert regularizers.get(None) is None
    r = regularizers.L1L2(l1=0.5, l2=2.0)
    assert r(np.array([1.0, -2.0])) == pytest.approx(0.5 * 3 + 2.0 * 5)
    with pytest.raises(ValueError, match="unknown regularizer 'l3'"):
        regularizers.get("l3")
    with pytest.raises(ValueError, match="l2 must be a finite number >= 0, got -0.1"):
        regularizers.l2(-0.1)
    layer = Dense(3, kernel_regularizer="l2", input_shape=(2,))
    layer.build((None, 2))


def test_regularizer_on_a_layer_without_that_weight():
    with pytest.raises(TypeError, match="Flatten: unexpected keyword argument"):
        Flatten(kernel_regularizer=regularizers.l2())
    flat = Flatten(name="flat_reg")
    flat._impl.set_regularizer("kernel", 0.0, 0.1)  # the C++ API: checked when the layer is built
    with pytest.raises(ValueError, match=r"Layer 'flat_reg' \(Flatten\): cannot regularize 'kernel': .*\[\]"):
        flat.build((None, 4, 4))
    dense = Dense(2, use_bias=False, name="dense_nobias_reg")
    dense.build((None, 3))
    with pytest.raises(ValueError, match=r"cannot regularize 'bias': the layer's weights are \[kernel\]"):
        dense._impl.set_regularizer("bias", 0.1, 0.0)


def test_regularized_fit_reports_the_penalty_in_history():
    nncore.set_random_seed(3)
    model = nncore.Sequential([Dense(8, activation="relu", input_shape=(4,), kernel_regularizer=regularizers.l2(1.0)),
                               Dense(1)])
    model.compile(nncore.optimizers.SGD(0.0), "mse")  # lr 0: weights fixed, so the penalty is constant
    x = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    y = np.zeros((64, 1), np.float32)
    hist = model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    data = float(np.mean(model.predict(x) ** 2))
    penalty = float((model.layers[0].get_weights()[0].astype(np.float64) ** 2).sum())
    assert hist.history["loss"][0] == pytest.approx(data + penalty, rel=1e-5)
