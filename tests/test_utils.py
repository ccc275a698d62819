"""nncore.utils (Keras's keras.utils), the functional merge helpers and compile's loss_weights."""
import os

import numpy as np
import pytest

import nncore
from nncore import layers, utils

from graph_helpers import seeded  # noqa: F401  (autouse fixture)


def test_to_categorical_and_normalize():
    y = utils.to_categorical([0, 2, 1, 2])
    np.testing.assert_array_equal(y, np.eye(3, dtype=np.float32)[[0, 2, 1, 2]])
    assert y.dtype == np.float32
    assert utils.to_categorical(np.array([[1], [0]]), num_classes=4).shape == (2, 4)
    assert utils.to_categorical(np.zeros((2, 3), int), 2).shape == (2, 3, 2)
    with pytest.raises(ValueError, match="out of range"):
        utils.to_categorical([3], num_classes=3)
    with pytest.raises(ValueError, match="integer class labels"):
        utils.to_categorical([0.5])
    x = np.array([[3.0, 4.0], [0.0, 0.0]], np.float32)
    np.testing.assert_allclose(utils.normalize(x), [[0.6, 0.8], [0.0, 0.0]])


def test_pad_sequences():
    seqs = [[1, 2, 3], [4], [5, 6, 7, 8, 9]]
    np.testing.assert_array_equal(utils.pad_sequences(seqs, maxlen=4),
                                  [[0, 1, 2, 3], [0, 0, 0, 4], [6, 7, 8, 9]])
    np.testing.assert_array_equal(utils.pad_sequences(seqs, maxlen=4, padding="post", truncating="post", value=-1),
                                  [[1, 2, 3, -1], [4, -1, -1, -1], [5, 6, 7, 8]])
    assert utils.pad_sequences(seqs).shape == (3, 5)
    assert utils.pad_sequences(seqs).dtype == np.int32
    with pytest.raises(ValueError, match="padding"):
        utils.pad_sequences(seqs, padding="middle")


def test_set_random_seed_reproduces_weights():
    utils.set_random_seed(7)
    a = layers.Dense(3)
    a.build((None, 4))
    utils.set_random_seed(7)
    b = layers.Dense(3)
    b.build((None, 4))
    np.testing.assert_array_equal(a.get_weights()[0], b.get_weights()[0])


def test_functional_merge_helpers():
    a, b = nncore.Input((3,)), nncore.Input((3,))
    outs = [layers.add([a, b]), layers.subtract([a, b]), layers.multiply([a, b]), layers.average([a, b]),
            layers.concatenate([a, b]), layers.concatenate([a, b], axis=1)]
    m = nncore.Model([a, b], outs)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    y = x[::-1] + 1
    got = m.predict([x, y], verbose=0)
    for g, want in zip(got, [x + y, x - y, x * y, (x + y) / 2, np.concatenate([x, y], -1),
                             np.concatenate([x, y], 1)]):
        np.testing.assert_allclose(g, want, rtol=1e-6)


def test_loss_weights_scale_each_output():
    inp = nncore.Input((4,))
    h = layers.Dense(8, activation="tanh")(inp)
    m = nncore.Model(inp, [layers.Dense(1, name="p")(h), layers.Dense(2, name="q")(h)])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype(np.float32)
    y1 = rng.normal(size=(32, 1)).astype(np.float32)
    y2 = rng.normal(size=(32, 2)).astype(np.float32)
    m.compile("sgd", loss=["mse", "mae"], loss_weights={"p": 2.0, "q": 0.5})
    total, lp, lq = m.evaluate(x, [y1, y2], verbose=0)
    p, q = m.predict(x, verbose=0)
    np.testing.assert_allclose(lp, ((p - y1) ** 2).mean(), rtol=1e-5)   # per-output losses unweighted (Keras 3)
    np.testing.assert_allclose(lq, np.abs(q - y2).mean(), rtol=1e-5)
    np.testing.assert_allclose(total, 2.0 * lp + 0.5 * lq, rtol=1e-5)
    # The gradient follows the weights: weight 0 on q leaves q's kernel untouched by training.
    m.compile(nncore.optimizers.SGD(0.1), loss=["mse", "mae"], loss_weights=[1.0, 0.0])
    before = m.get_layer("q").get_weights()[0].copy()
    m.fit(x, [y1, y2], epochs=1, verbose=0)
    np.testing.assert_array_equal(m.get_layer("q").get_weights()[0], before)


def test_loss_weights_survive_save_and_load(tmp_path):
    inp = nncore.Input((2,))
    m = nncore.Model(inp, [layers.Dense(1, name="a")(inp), layers.Dense(1, name="b")(inp)])
    m.compile("adam", "mse", loss_weights=[0.3, 3.0])
    path = str(tmp_path / "lw.nncore")
    m.save(path)
    loaded = nncore.load_model(path)
    np.testing.assert_allclose(loaded._impl.loss_weights, [0.3, 3.0], rtol=1e-6)
    with pytest.raises(ValueError, match="one weight per output"):
        m.compile("adam", "mse", loss_weights=[1.0])


def test_compile_accepts_keras_run_options():
    m = nncore.Sequential([layers.Dense(1, input_shape=(2,))])
    m.compile("adam", "mse", jit_compile=False, run_eagerly=False, steps_per_execution=1)
    with pytest.raises(TypeError, match="unexpected keyword"):
        m.compile("adam", "mse", nope=1)


def _graphviz():
    pytest.importorskip("pydot")
    import shutil
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot program is not installed")


def test_plot_model_draws_every_call(tmp_path):
    _graphviz()
    a, b = nncore.Input((3,), name="left"), nncore.Input((3,), name="right")
    shared = layers.Dense(4, activation="relu", name="shared")
    out = layers.Dense(1, name="out")(layers.concatenate([shared(a), shared(b)]))
    m = nncore.Model([a, b], out)
    dot_file = str(tmp_path / "m.dot")
    utils.plot_model(m, dot_file, show_shapes=True, show_layer_activations=True)
    text = open(dot_file).read()
    for want in ("left", "right", "shared (Dense)", "shared (call 1) (Dense)", "out (Dense)", "(None, 8)",
                 "activation: relu"):
        assert want in text, want
    assert text.count("->") == 5  # two inputs, two calls into the concatenation, one into the head
    png = str(tmp_path / "m.png")
    utils.plot_model(m, png)
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="not built"):
        utils.plot_model(nncore.Sequential([layers.Dense(2)]), str(tmp_path / "x.png"))


def test_plot_model_without_pydot_names_the_extra(monkeypatch):
    import builtins
    real = builtins.__import__

    def fake(name, *args, **kwargs):
        if name == "pydot":
            raise ImportError("no pydot")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake)
    inp = nncore.Input((2,))
    with pytest.raises(ImportError, match=r"nncore\[plot\]"):
        utils.plot_model(nncore.Model(inp, layers.Dense(1)(inp)), os.devnull)


def test_split_dataset():
    x = np.arange(20).reshape(10, 2)
    y = np.arange(10)
    (xl, yl), (xr, yr) = utils.split_dataset((x, y), left_size=0.7)
    assert len(xl) == len(yl) == 7 and len(xr) == len(yr) == 3
    np.testing.assert_array_equal(xl[:, 0] // 2, yl)
    a, b = utils.split_dataset(y, right_size=4, shuffle=True, seed=1)
    assert len(a) == 6 and len(b) == 4 and sorted(np.concatenate([a, b])) == list(range(10))
    with pytest.raises(ValueError, match="give left_size or right_size"):
        utils.split_dataset(y)


def test_model_from_json_clone_model_and_clear_session():
    inp = nncore.Input((3,))
    m = nncore.Model(inp, layers.Dense(2, name="head")(layers.Dense(4, activation="relu")(inp)))
    twin = nncore.models.model_from_json(m.to_json())
    clone = nncore.models.clone_model(m)
    x = np.ones((2, 3), np.float32)
    for other in (twin, clone):
        assert [l.name for l in other.layers] == [l.name for l in m.layers]
        assert other.get_layer("head") is not m.get_layer("head")
        other.set_weights(m.get_weights())
        np.testing.assert_allclose(other.predict(x, verbose=0), m.predict(x, verbose=0))
    nncore.backend.clear_session()
    assert layers.Dense(1).name == "dense"
    from nncore.preprocessing.sequence import pad_sequences
    assert pad_sequences([[1], [2, 3]]).shape == (2, 2)
