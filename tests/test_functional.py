"""The functional API: Input, layer calls on KerasTensors, Model(inputs, outputs), merge layers, residual
networks, several inputs and outputs."""
from __future__ import annotations

import numpy as np
import pytest

import nncore
from nncore.layers import (Activation, Add, Average, BatchNormalization, Concatenate, Conv2D, Dense, Dropout,
                           GlobalAveragePooling2D, Multiply, Subtract)

RNG = np.random.default_rng(0)


def rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


# ---- merge layers by themselves ---------------------------------------------------------------------------------

@pytest.mark.parametrize("cls,n,ref", [
    (Add, 3, lambda xs: xs[0] + xs[1] + xs[2]),
    (Subtract, 2, lambda xs: xs[0] - xs[1]),
    (Multiply, 3, lambda xs: xs[0] * xs[1] * xs[2]),
    (Average, 4, lambda xs: sum(xs) / 4),
])
def test_elementwise_merges_forward_backward(cls, n, ref):
    xs = [RNG.standard_normal((3, 5, 2)) for _ in range(n)]
    layer = cls()
    y = layer.forward([x.astype(np.float32) for x in xs])
    np.testing.assert_allclose(y, ref(xs), rtol=1e-6, atol=1e-6)
    dy = RNG.standard_normal(y.shape)
    dxs = layer.backward(dy.astype(np.float32))
    for k in range(n):  # numeric: d/dx_k sum(dy * f(xs))
        eps = 1e-6
        num = np.zeros_like(xs[k])
        for idx in np.ndindex(xs[k].shape):
            up = [x.copy() for x in xs]
            dn = [x.copy() for x in xs]
            up[k][idx] += eps
            dn[k][idx] -= eps
            num[idx] = (np.sum(dy * ref(up)) - np.sum(dy * ref(dn))) / (2 * eps)
        np.testing.assert_allclose(dxs[k], num, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("axis,shapes", [(-1, [(4, 3, 2), (4, 3, 5)]), (1, [(4, 1, 2), (4, 3, 2), (4, 2, 2)]),
                                         (2, [(2, 3, 1), (2, 3, 4)]), (-2, [(3, 2, 6), (3, 5, 6)])])
def test_concatenate_forward_backward(axis, shapes):
    xs = [rand(*s) for s in shapes]
    layer = Concatenate(axis=axis)
    y = layer.forward(xs)
    np.testing.assert_array_equal(y, np.concatenate(xs, axis=axis))
    dy = rand(*y.shape)
    dxs = layer.backward(dy)
    splits = np.cumsum([s[axis] for s in shapes])[:-1]
    for d, ref in zip(dxs, np.split(dy, splits, axis=axis)):
        np.testing.assert_array_equal(d, ref)


def test_merge_errors_name_the_layer():
    with pytest.raises(ValueError, match=r"Add 'a1': inputs must have the same shape, got \(None, 3\) and \(None, 4\)"):
        Add(name="a1").forward([rand(2, 3), rand(2, 4)])
    with pytest.raises(ValueError, match="Subtract .*: expected exactly 2 inputs, got 3"):
        Subtract().forward([rand(2, 3)] * 3)
    with pytest.raises(ValueError, match="Concatenate 'c1': inputs must match except along axis -1"):
        Concatenate(name="c1").forward([rand(2, 3, 1), rand(2, 4, 1)])
    with pytest.raises(ValueError, match="axis 0 is the batch axis"):
        Concatenate(axis=0)
    with pytest.raises(TypeError, match="merges several inputs: call it on a list"):
        Add().forward(rand(2, 3))
    with pytest.raises(ValueError, match="at least 2 inputs"):
        Add().forward([rand(2, 3)])
    with pytest.raises(ValueError, match="merges several inputs; build such models with the functional API"):
        nncore.Sequential([Dense(2, input_shape=(3,)), Add()])


# ---- models -------------------------------------------------------------------------------------------------------

def test_functional_chain_equals_sequential_bit_for_bit():
    x = rand(64, 6)
    y = RNG.integers(0, 3, 64).astype(np.float32)

    def train(functional):
        nncore.set_random_seed(7)
        layers = [Dense(8, activation="relu"), Dropout(0.2), Dense(3, activation="softmax")]
        if functional:
            inp = nncore.Input((6,))
            h = inp
            for l in layers:
                h = l(h)
            model = nncore.Model(inp, h)
        else:
            model = nncore.Sequential(layers)
            model.build((None, 6))
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        nncore.set_random_seed(3)
        hist = model.fit(x, y, epochs=3, batch_size=16, verbose=0, validation_split=0.25)
        return model, hist

    a, ha = train(False)
    b, hb = train(True)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert ha.history == hb.history
    np.testing.assert_array_equal(a.predict(x), b.predict(x))


def residual_cnn(act="relu"):
    """Two ResNet-style blocks (conv-BN-act-conv-BN + identity, act) and a softmax head."""
    inp = nncore.Input((8, 8, 1))
    h = Conv2D(4, 3, padding="same", activation=act)(inp)
    for _ in range(2):
        r = Conv2D(4, 3, padding="same")(h)
        r = BatchNormalization()(r)
        r = Activation(act)(r)
        r = Conv2D(4, 3, padding="same")(r)
        r = BatchNormalization()(r)
        h = Activation(act)(Add()([h, r]))
    h = GlobalAveragePooling2D()(h)
    return nncore.Model(inp, Dense(2, activation="softmax")(h))


def test_residual_cnn_gradients_agree_with_finite_differences():
    # tanh: smooth, so central differences are exact up to rounding (relu's kinks inside +-epsilon, frequent on
    # this many units, make single entries disagree without any error in the gradients).
    nncore.set_random_seed(2)
    model = residual_cnn("tanh")
    model.compile("sgd", "sparse_categorical_crossentropy")
    x = RNG.random((6, 8, 8, 1)).astype(np.float32)
    y = RNG.integers(0, 2, 6).astype(np.float32)
    model.fit(x, y, epochs=1, batch_size=3, verbose=0)  # non-trivial BN moving statistics
    errors = nncore.gradient_check(model, x, y, epsilon=1e-2, max_checks_per_weight=10)
    assert len(errors) == 10  # 5 Conv2D, 4 BatchNormalization, 1 Dense
    assert max(errors.values()) < 2e-3, errors
    dx = model.input_gradient(x, y)
    assert dx.shape == x.shape and np.any(dx != 0)


def test_residual_cnn_trains():
    nncore.set_random_seed(4)
    n = 256
    x = RNG.random((n, 8, 8, 1)).astype(np.float32)
    y = (x[:, :4].mean(axis=(1, 2, 3)) > x[:, 4:].mean(axis=(1, 2, 3))).astype(np.float32)  # top vs bottom half
    model = residual_cnn()
    model.compile(nncore.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    hist = model.fit(x, y, epochs=15, batch_size=32, verbose=0)
    assert hist.history["accuracy"][-1] > 0.9
    assert "add" in [l.name.split("_")[0] for l in model.layers]
    text = []
    model.summary(print_fn=text.append)
    assert "Connected to" in text[0] and "InputLayer" in text[0]


def test_several_inputs_and_outputs():
    nncore.set_random_seed(5)
    a = nncore.Input((4,), name="a")
    b = nncore.Input((3,), name="b")
    h = Concatenate()([Dense(8, activation="tanh", name="da")(a), Dense(8, activation="tanh", name="db")(b)])
    cls = Dense(3, activation="softmax", name="cls")(h)
    reg = Dense(1, name="reg")(h)
    model = nncore.Model([a, b], [cls, reg])
    assert model.input_names == ["a", "b"] and model.output_names == ["cls", "reg"]
    assert [t.name for t in model.inputs] == ["a", "b"]
    assert model.input_shape == [(None, 4), (None, 3)]
    # "accuracy" picks each output's variant; "mae" would compare the (N,) labels with the (N, 3) output and is
    # refused at compile (it read past the labels once: issue 11).
    model.compile(nncore.optimizers.Adam(0.01), ["sparse_categorical_crossentropy", "mse"], metrics=["accuracy"])
    assert model.metrics_names == ["loss", "cls_loss", "reg_loss", "cls_accuracy", "reg_accuracy"]
    xa, xb = rand(96, 4), rand(96, 3)
    yc = (xa[:, 0] > 0).astype(np.float32) + (xb[:, 0] > 0)
    yr = (xa.sum(axis=1) - xb.sum(axis=1))[:, None].astype(np.float32)
    hist = model.fit([xa, xb], [yc, yr], epochs=30, batch_size=16, verbose=0, validation_split=0.25)
    assert hist.history["loss"][-1] < hist.history["loss"][0] / 2
    assert "val_reg_loss" in hist.history
    pc, pr = model.predict({"a": xa, "b": xb})
    assert pc.shape == (96, 3) and pr.shape == (96, 1)
    total, lc, lr, *_ = model.evaluate([xa, xb], {"cls": yc, "reg": yr}, verbose=0)
    assert total == pytest.approx(lc + lr, rel=1e-6)
    ce = -np.mean(np.log(pc[np.arange(96), yc.astype(int)]))
    assert lc == pytest.approx(ce, rel=1e-4)
    assert lr == pytest.approx(np.mean((pr - yr) ** 2), rel=1e-4)
    ga, gb = model.input_gradient([xa[:5], xb[:5]], [yc[:5], yr[:5]])
    assert ga.shape == (5, 4) and gb.shape == (5, 3)
    errors = nncore.gradient_check(model, [xa[:8], xb[:8]], [yc[:8], yr[:8]], epsilon=1e-2)
    assert max(errors.values()) < 2e-2, errors
    with pytest.raises(ValueError, match="has 2 of them \\(a, b\\)"):
        model.predict(xa)
    with pytest.raises(ValueError, match="expected 1 loss or one per output \\(2\\), got 3"):
        model.compile("adam", ["mse"] * 3)


def test_several_outputs_save_and_load(tmp_path):
    a = nncore.Input((4,))
    h = Dense(5, activation="relu")(a)
    model = nncore.Model(a, [Dense(2, activation="softmax")(h), Dense(1)(h)])
    model.compile("rmsprop", {model.output_names[0]: "sparse_categorical_crossentropy", model.output_names[1]: "mae"})
    x = rand(20, 4)
    model.fit(x, [RNG.integers(0, 2, 20), rand(20, 1)], epochs=2, verbose=0)
    model.save(tmp_path / "two.nncore")
    loaded = nncore.load_model(tmp_path / "two.nncore")
    assert type(loaded) is nncore.Model
    for p, q in zip(model.predict(x), loaded.predict(x)):
        np.testing.assert_array_equal(p, q)
    assert [type(l).__name__ for l in loaded.loss] == ["SparseCategoricalCrossentropy", "MeanAbsoluteError"]
    assert loaded.get_config() == model.get_config()


def test_graph_errors():
    x = nncore.Input((3,))
    shared = Dense(3)
    with pytest.raises(ValueError, match="already built for input shape"):
        shared(nncore.Input((4,)))
        shared(nncore.Input((5,)))
    other = nncore.Input((3,))
    with pytest.raises(ValueError, match="is needed to compute the outputs but is not among the model's inputs"):
        nncore.Model(x, Add()([Dense(2)(x), Dense(2)(other)]))
    with pytest.raises(TypeError, match="KerasTensors"):
        nncore.Model(x, np.zeros(3))
    with pytest.raises(ValueError, match="model input itself"):
        nncore.Model(x, x)
    with pytest.raises(ValueError, match=r"Add 'bad_add' takes 2 input\(s\), got 3"):
        add = Add(name="bad_add")
        add([x, x])
        add([x, x, x])


def test_calling_a_model_on_arrays_in_training_mode():
    """model(x, training=True) runs the training forward as Keras's does (BatchNormalization on the batch's
    statistics, dropout on); model(x) and training=False are predict."""
    from nncore import layers as L
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((16, 4)) * 3 + 1).astype(np.float32)
    model = nncore.Sequential([nncore.Input((4,)), L.BatchNormalization()])
    np.testing.assert_array_equal(model(x), model.predict(x, verbose=0))
    np.testing.assert_array_equal(model(x, training=False), model.predict(x, verbose=0))
    trained = model(x, training=True)
    want = (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-3)
    np.testing.assert_allclose(trained, want, rtol=1e-4, atol=1e-4)
    a, b = nncore.Input((2,)), nncore.Input((2,))
    two = nncore.Model([a, b], L.add([a, b]))
    with pytest.raises(NotImplementedError, match="one input and one output"):
        two([x[:, :2], x[:, 2:]], training=True)
