"""The model-construction idioms of Keras programs: Input as the first entry of a Sequential, InputLayer, model
inputs/outputs as KerasTensors, layer.input/output for feature extraction, summary of an unbuilt model."""
import numpy as np
import pytest

import nncore
from nncore import layers

from graph_helpers import seeded  # noqa: F401  (autouse fixture)


def test_input_first_in_sequential_builds_it():
    m = nncore.Sequential()
    m.add(nncore.Input(shape=(4,)))
    m.add(layers.Dense(2, activation="relu"))
    assert m.built and m.input_shape == (None, 4) and m.output_shape == (None, 2)
    assert len(m.layers) == 1  # the Input is not a layer
    m2 = nncore.Sequential([layers.InputLayer(shape=(6,)), layers.Dense(3)])
    assert m2.input_shape == (None, 6)
    m3 = nncore.Sequential([layers.Input((None, 5)), layers.LSTM(3)])
    assert m3.input_shape == (None, None, 5)
    x = np.ones((2, 7, 5), np.float32)
    assert m3.predict(x, verbose=0).shape == (2, 3)


def test_input_must_come_first():
    m = nncore.Sequential([layers.Dense(2, input_shape=(3,))])
    with pytest.raises(ValueError, match="only be the first entry"):
        m.add(nncore.Input((2,)))
    with pytest.raises(TypeError, match="must be an input"):
        nncore.Sequential([layers.Dense(2)(nncore.Input((3,)))])


def test_feature_extraction_from_a_sequential():
    base = nncore.Sequential([nncore.Input((8, 8, 3)), layers.Conv2D(4, 3, activation="relu", name="c1"),
                              layers.Conv2D(5, 3, activation="relu", name="c2"), layers.Flatten(), layers.Dense(2)])
    x = np.random.default_rng(0).normal(size=(3, 8, 8, 3)).astype(np.float32)
    features = nncore.Model(inputs=base.inputs, outputs=[layer.output for layer in base.layers])
    outs = features(x)
    assert [o.shape for o in outs] == [(3, 6, 6, 4), (3, 4, 4, 5), (3, 80), (3, 2)]
    np.testing.assert_allclose(outs[-1], base.predict(x, verbose=0), rtol=1e-6)
    one = nncore.Model(base.input, base.get_layer("c1").output)
    np.testing.assert_allclose(one.predict(x, verbose=0), outs[0], rtol=1e-6)
    # The layers are shared: training the base changes the extractor's output.
    base.compile("sgd", "mse")
    base.fit(x, np.ones((3, 2), np.float32), epochs=1, verbose=0)
    np.testing.assert_allclose(features(x)[-1], base.predict(x, verbose=0), rtol=1e-6)


def test_functional_model_inputs_outputs_and_layer_io():
    a, b = nncore.Input((3,), name="a"), nncore.Input((3,), name="b")
    d = layers.Dense(2, name="d")
    h = d(a)
    out = layers.Add(name="sum")([h, d(b)])
    m = nncore.Model([a, b], out)
    assert m.inputs[0] is a and m.inputs[1] is b and m.outputs[0] is out and m.output is out
    assert d.input is a and d.output is h  # the first call
    assert m.get_layer("sum").input == [h, m.get_layer("sum").input[1]]
    loaded = nncore.Model.from_config(m.get_config())
    assert [t.shape for t in loaded.inputs] == [(None, 3), (None, 3)]
    sub = nncore.Model(loaded.inputs, loaded.get_layer("d").output)
    x = np.ones((2, 3), np.float32)
    assert sub.predict([x, x], verbose=0).shape == (2, 2)
    with pytest.raises(AttributeError, match="never been called"):
        layers.Dense(3).output


def test_summary_of_an_unbuilt_model_raises():
    m = nncore.Sequential([layers.Dense(2), layers.Dense(3)])
    with pytest.raises(ValueError, match="not yet been built"):
        m.summary()
    m(np.ones((1, 4), np.float32))
    m.summary(print_fn=lambda s: None)


def test_summary_expand_nested_and_show_trainable():
    inner = nncore.Sequential([nncore.Input((4,)), layers.Dense(3, name="in_a"), layers.Dense(2, name="in_b")],
                              name="inner")
    inner.trainable = False
    inp = nncore.Input((4,))
    m = nncore.Model(inp, layers.Dense(1, name="head")(inner(inp)))
    lines = []
    m.summary(print_fn=lines.append, expand_nested=True, show_trainable=True)
    text = "\n".join(lines)
    assert "Trainable" in text.splitlines()[2]
    rows = {line.split()[0]: line for line in text.splitlines() if line.strip()}
    assert rows["inner"].rstrip().endswith("N") and rows["head"].rstrip().endswith("Y")
    assert "| in_a (Dense)" in text and "| in_b (Dense)" in text
    plain = []
    m.summary(print_fn=plain.append)
    assert "in_a" not in "\n".join(plain) and "Trainable" not in plain[0].splitlines()[2]
