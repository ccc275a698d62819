"""Transfer learning: pre-train on Fashion-MNIST classes 0-4, freeze the feature layers, train a new head on
classes 5-9 from few samples; it must beat the same network trained from scratch on those samples. Also the
mechanics: frozen layers get no updates, a frozen BatchNormalization runs in inference mode, Sequential.pop,
get_layer, and new models (Sequential and functional) built from a trained model's layers."""
from __future__ import annotations

import numpy as np
import pytest

import nncore
from nncore.layers import BatchNormalization, Conv2D, Dense, Flatten, MaxPooling2D


@pytest.fixture(scope="module")
def fashion():
    import warnings
    from nncore.datasets import fashion_mnist
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # without the full files the shipped subset serves (with a warning)
        (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    return (x_train[..., None] / 255.0, y_train), (x_test[..., None] / 255.0, y_test)


def features():
    return [Conv2D(16, 3, activation="relu", input_shape=(28, 28, 1), name="conv_a"), BatchNormalization(name="bn"),
            MaxPooling2D(name="pool_a"), Conv2D(32, 3, activation="relu", name="conv_b"), MaxPooling2D(name="pool_b"),
            Flatten(name="flat")]


def few_per_class(x, y, classes, n, rng):
    idx = np.concatenate([rng.choice(np.flatnonzero(y == c), n, replace=False) for c in classes])
    return x[idx], y[idx] - classes[0]


def test_pretrained_frozen_features_beat_training_from_scratch(fashion):
    (x_train, y_train), (x_test, y_test) = fashion
    rng = np.random.default_rng(0)
    nncore.set_random_seed(1)
    first = y_train < 5
    base = nncore.Sequential(features() + [Dense(5, activation="softmax", name="head_a")])
    base.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    base.fit(x_train[first][:12000], y_train[first][:12000], epochs=2, batch_size=64, verbose=0)

    # New head on classes 5-9 from 10 images per class.
    xs, ys = few_per_class(x_train, y_train, [5, 6, 7, 8, 9], 10, rng)
    second = y_test >= 5
    xt, yt = x_test[second], y_test[second] - 5

    old_head = base.pop()
    assert old_head.name == "head_a" and len(base.layers) == 6
    frozen_before = [w.copy() for w in base.get_weights()]
    for layer in base.layers:
        layer.trainable = False
    transfer = nncore.Sequential(base.layers + [Dense(5, activation="softmax", name="head_b")])
    transfer.compile(nncore.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    transfer.fit(xs, ys, epochs=40, batch_size=10, verbose=0)
    transfer_acc = transfer.evaluate(xt, yt, verbose=0)[1]
    for a, b in zip(base.get_weights(), frozen_before):  # frozen: no updates, BN moving statistics included
        np.testing.assert_array_equal(a, b)

    nncore.set_random_seed(1)
    scratch = nncore.Sequential([*(l for l in features()), Dense(5, activation="softmax")])
    scratch.compile(nncore.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    scratch.fit(xs, ys, epochs=40, batch_size=10, verbose=0)
    scratch_acc = scratch.evaluate(xt, yt, verbose=0)[1]
    # Measured with seeds 1-3: transfer 0.852/0.877/0.880 vs scratch 0.800/0.842/0.787 (margins 0.035-0.093).
    assert transfer_acc > scratch_acc + 0.02, (transfer_acc, scratch_acc)
    assert transfer_acc > 0.6


def test_functional_model_from_trained_layers_and_get_layer():
    nncore.set_random_seed(3)
    rng = np.random.default_rng(3)
    base = nncore.Sequential([Dense(6, activation="relu", input_shape=(4,), name="f1"), BatchNormalization(name="bn"),
                              Dense(3, activation="softmax", name="old")])
    base.compile("adam", "sparse_categorical_crossentropy")
    x = rng.random((40, 4)).astype(np.float32)
    base.fit(x, rng.integers(0, 3, 40), epochs=2, verbose=0)
    f1, bn = base.get_layer("f1"), base.get_layer("bn")
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        base.get_layer("nope")
    f1.trainable = bn.trainable = False
    inp = nncore.Input((4,))
    out = Dense(1, activation="sigmoid", name="new")(bn(f1(inp)))
    model = nncore.Model(inp, out)
    assert [l.name for l in model.layers] == [inp.name, "f1", "bn", "new"]
    assert model.get_layer("f1") is f1
    before = base.get_weights()[:6]
    model.compile("sgd", "binary_crossentropy")
    model.fit(x, (x[:, 0] > 0.5).astype(np.float32), epochs=3, verbose=0)
    for a, b in zip(base.get_weights()[:6], before):
        np.testing.assert_array_equal(a, b)  # the shared, frozen layers did not move
    # A frozen BatchNormalization normalizes with its moving statistics, in training too (Keras).
    h = f1.forward(x)
    gamma, beta, mean, var = bn.get_weights()
    np.testing.assert_allclose(bn.forward(h, training=True), (h - mean) / np.sqrt(var + 1e-3) * gamma + beta,
                               rtol=1e-5, atol=1e-5)
    assert sum(w.size for w in model.trainable_weights) == 6 + 1
