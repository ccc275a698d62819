"""layer.kernel, layer.bias, layer.recurrent_kernel, layer.embeddings, layer.gamma/beta/moving_mean/moving_variance,
layer.alpha (python/nncore/layers/base.py WeightAttribute): Keras's names for a built layer's weights, as the Variable
class custom layers use (python/nncore/_custom.py)."""
import os

import numpy as np
import pytest

import nncore
from nncore import layers as L
from nncore._custom import Variable

CASES = [
    (lambda: L.Dense(3), (None, 4), ["kernel", "bias"]),
    (lambda: L.Conv2D(2, 3), (None, 5, 5, 2), ["kernel", "bias"]),
    (lambda: L.Conv1D(2, 3), (None, 6, 2), ["kernel", "bias"]),
    (lambda: L.Conv2DTranspose(2, 3), (None, 4, 4, 3), ["kernel", "bias"]),
    (lambda: L.Conv1DTranspose(2, 3), (None, 4, 3), ["kernel", "bias"]),
    (lambda: L.Embedding(10, 4), (None, 5), ["embeddings"]),
    (lambda: L.SimpleRNN(3), (None, 4, 2), ["kernel", "recurrent_kernel", "bias"]),
    (lambda: L.LSTM(3), (None, 4, 2), ["kernel", "recurrent_kernel", "bias"]),
    (lambda: L.GRU(3), (None, 4, 2), ["kernel", "recurrent_kernel", "bias"]),
    (lambda: L.BatchNormalization(), (None, 3), ["gamma", "beta", "moving_mean", "moving_variance"]),
    (lambda: L.LayerNormalization(), (None, 3), ["gamma", "beta"]),
    (lambda: L.PReLU(), (None, 3), ["alpha"]),
]
IDS = ["Dense", "Conv2D", "Conv1D", "Conv2DTranspose", "Conv1DTranspose", "Embedding", "SimpleRNN", "LSTM", "GRU",
       "BatchNormalization", "LayerNormalization", "PReLU"]


@pytest.mark.parametrize("make,shape,names", CASES, ids=IDS)
def test_attributes_are_the_layers_weights(make, shape, names):
    layer = make()
    layer.build(shape)
    assert list(layer._impl.weight_names) == names
    for i, (name, view) in enumerate(zip(names, layer.weights)):
        v = getattr(layer, name)
        assert isinstance(v, Variable)
        assert getattr(layer, name) is v  # the same object at each access
        assert v.name == name and v.path == f"{layer.name}/{name}"
        assert v.shape == view.shape and v.dtype == "float32" and v.ndim == view.ndim
        assert v.trainable == bool(layer._impl.weight_trainable[i])
        np.testing.assert_array_equal(v.numpy(), view)
        np.testing.assert_array_equal(np.asarray(v), view)
        assert np.shares_memory(v.value, view)
        assert not np.shares_memory(v.numpy(), view)  # numpy() is a copy
        new = np.full(v.shape, 0.5 + i, np.float32)
        assert v.assign(new) is v
        np.testing.assert_array_equal(layer.get_weights()[i], new)


@pytest.mark.parametrize("make,shape,names", CASES, ids=IDS)
def test_unbuilt_layer_raises_attribute_error_naming_it(make, shape, names):
    layer = make()
    for name in names:
        with pytest.raises(AttributeError, match=rf"Layer '{layer.name}' \({type(layer).__name__}\) is not built "
                                                 rf"yet, so it has no '{name}'"):
            getattr(layer, name)
        assert not hasattr(layer, name)


def test_moving_statistics_are_not_trainable():
    bn = L.BatchNormalization()
    bn.build((None, 3))
    assert bn.gamma.trainable and bn.beta.trainable
    assert not bn.moving_mean.trainable and not bn.moving_variance.trainable


def test_weights_absent_by_configuration_are_none():
    dense = L.Dense(2, use_bias=False)
    dense.build((None, 3))
    assert dense.bias is None and dense.kernel.shape == (3, 2)
    ln = L.LayerNormalization(center=False)
    ln.build((None, 4))
    assert ln.beta is None and ln.gamma.shape == (4,)


def test_layers_without_weights_have_no_such_attributes():
    flat = L.Flatten()
    with pytest.raises(AttributeError):
        flat.kernel  # noqa: B018


def test_assign_changes_the_output_and_checks_the_shape():
    dense = L.Dense(2, name="assign_dense")
    x = np.ones((1, 3), np.float32)
    dense.forward(x)
    dense.kernel.assign(np.ones((3, 2)))
    dense.bias.assign([1.0, -1.0])
    np.testing.assert_array_equal(dense.forward(x), [[4.0, 2.0]])
    with pytest.raises(ValueError, match=r"Variable 'assign_dense/kernel': assign expects a value of shape \(3, 2\) "
                                         r"\(the variable's\), got shape \(2, 3\)"):
        dense.kernel.assign(np.ones((2, 3)))
    with pytest.raises(TypeError, match=r"Variable 'assign_dense/bias': assign expects an array of numbers"):
        dense.bias.assign(object())


def test_attributes_follow_training_and_loading(tmp_path):
    nncore.set_random_seed(0)
    model = nncore.Sequential([L.Dense(4, activation="relu", input_shape=(3,)), L.Dense(1)])
    model.compile(nncore.optimizers.SGD(0.1), "mse")
    kernel = model.layers[0].kernel
    before = kernel.numpy()
    x = np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32)
    model.fit(x, x[:, :1], epochs=1, batch_size=8, verbose=0)
    assert not np.array_equal(kernel.numpy(), before)  # a view: it shows the trained values
    np.testing.assert_array_equal(kernel.numpy(), model.layers[0].get_weights()[0])
    path = os.fspath(tmp_path / "attrs.nncore")
    model.save(path)
    loaded = nncore.load_model(path)
    np.testing.assert_array_equal(loaded.layers[0].kernel.numpy(), kernel.numpy())
    assert loaded.layers[1].bias.shape == (1,)


def test_wrapped_layers_expose_theirs():
    bi = L.Bidirectional(L.LSTM(3))
    bi.build((None, 5, 2))
    assert bi.forward_layer.recurrent_kernel.shape == (3, 12)
    assert bi.backward_layer.kernel.shape == (2, 12)
    td = L.TimeDistributed(L.Dense(4))
    td.build((None, 5, 3))
    assert td.layer.kernel.shape == (3, 4)
