"""Keras's files: .keras archives, .weights.h5 and legacy .h5 model files, both ways.

Reference files in tests/data/keras were written by real Keras 3 (tools/make_keras_files.py, which also holds Keras's
predictions); nncore must load them and predict the same (rel 1e-5). nncore's own files round-trip, and, where Keras is
importable (KERAS_BACKEND=torch), Keras loads what nncore writes and predicts the same. Custom layers and subclassed
models cross too: define_twins makes the same classes with nncore and with Keras (custom.keras and subclassed.keras
were written from Keras's). Bad files raise nncore.ModelFileError naming the file and the problem.
"""
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

import nncore
from nncore import layers as L
from nncore import saving

h5py = pytest.importorskip("h5py")

DATA = Path(__file__).parent / "data" / "keras"
PRED = np.load(DATA / "predictions.npz")
NAMES = ["mlp", "cnn", "text", "graph", "states"]
RNG = np.random.default_rng(0)


def inputs(name):
    return [PRED[k] for k in sorted(PRED.files) if k.startswith(f"{name}_x")]


def expected(name):
    return [PRED[k] for k in sorted(PRED.files) if k.startswith(f"{name}_y")]


def predict(model, xs):
    out = model.predict(xs if len(xs) > 1 else xs[0])
    return out if isinstance(out, list) else [out]


def assert_close(got, want, rtol=1e-5):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=1e-6)


# ---- files written by Keras ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_keras_archive_predicts_as_keras(name):
    model = nncore.load_model(DATA / f"{name}.keras")
    assert_close(predict(model, inputs(name)), expected(name))


def test_legacy_h5_predicts_as_keras():
    model = nncore.load_model(DATA / "mlp.h5")
    assert_close(predict(model, inputs("mlp")), expected("mlp"))


def test_weights_h5_from_keras():
    model = nncore.load_model(DATA / "cnn.keras", compile=False)
    for w in model.weights:
        w[...] = 0
    model.load_weights(DATA / "cnn.weights.h5")
    assert_close(predict(model, inputs("cnn")), expected("cnn"))
    mlp = nncore.load_model(DATA / "mlp.keras", compile=False)
    for source in ("mlp.h5", "mlp.keras"):  # the weights of a legacy model file and of an archive
        for w in mlp.weights:
            w[...] = 0
        mlp.load_weights(DATA / source)
        assert_close(predict(mlp, inputs("mlp")), expected("mlp"))


def test_compile_config_restored_and_training_resumes():
    mlp = nncore.load_model(DATA / "mlp.keras")
    assert type(mlp.optimizer).__name__ == "Adam"
    assert mlp.loss.name == "sparse_categorical_crossentropy"
    assert "accuracy" in mlp.metrics_names
    cnn = nncore.load_model(DATA / "cnn.keras")
    assert type(cnn.optimizer).__name__ == "SGD" and cnn.loss.from_logits
    x, = inputs("mlp")
    history = mlp.fit(x, np.arange(len(x)) % 3, epochs=2, batch_size=3, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert nncore.load_model(DATA / "mlp.keras", compile=False).optimizer is None


def test_keras_model_runs_in_native_format(tmp_path):
    """A model trained in Keras runs on nncore and, saved as .nncore, in nncore's own (C++) format."""
    model = nncore.load_model(DATA / "graph.keras")
    model.save(tmp_path / "graph.nncore")
    again = nncore.load_model(tmp_path / "graph.nncore")
    assert_close(predict(again, inputs("graph")), expected("graph"))


# ---- nncore's own files round-trip --------------------------------------------------------------------------------

def graph_model():
    seq = nncore.Input((6, 5), name="seq")
    ids = nncore.Input((7,), name="ids")
    a = L.LSTM(4, return_sequences=True, go_backwards=True)(seq)
    a = L.Bidirectional(L.GRU(3, return_sequences=True), merge_mode="sum")(a)
    a = L.TimeDistributed(L.Dense(2, activation="relu"))(a)
    a = L.GlobalAveragePooling1D()(a)
    out = L.SimpleRNN(2)(L.Embedding(11, 4, mask_zero=True)(ids))
    s, h = L.SimpleRNN(2, return_state=True)(seq)
    e2 = L.SimpleRNN(2)(seq, initial_state=[h])  # (Keras ignores the mask of a call with initial_state: unmasked here)
    shared = L.Dense(2, name="shared")
    c = L.Concatenate()([shared(a), shared(out), L.Maximum()([e2, s])])
    inner = nncore.Sequential([nncore.Input((6,)), L.Dense(4, kernel_regularizer="l2"), L.BatchNormalization(),
                               L.PReLU()], name="inner")
    y = L.Dense(3, activation="softmax")(inner(c))
    return nncore.Model([seq, ids], [y, L.Activation("sigmoid")(e2)], name="graph")


def cnn_model():
    return nncore.Sequential([nncore.Input((9, 9, 2)), L.Conv2D(3, 3, padding="same", activation="relu"),
                              L.BatchNormalization(), L.MaxPooling2D(), L.Conv2DTranspose(2, 2, strides=2),
                              L.Cropping2D(1), L.UpSampling2D(), L.ZeroPadding2D(1), L.AveragePooling2D(),
                              L.Reshape((-1, 2)), L.Conv1D(3, 2, dilation_rate=2),
                              L.GlobalMaxPooling1D(), L.Dense(2), L.LeakyReLU(0.1), L.Rescaling(2.0, 1.0)],
                             name="cnn")


def graph_inputs():
    ids = RNG.integers(1, 11, (5, 7)).astype(np.float32)
    ids[:, 5:] = 0
    return [RNG.normal(size=(5, 6, 5)).astype(np.float32), ids]


def perturb(model):
    """Non-trivial values in every weight (BatchNormalization's statistics included)."""
    for w in model.weights:
        w[...] = RNG.normal(scale=0.5, size=w.shape) if np.any(w != 1) else RNG.uniform(0.5, 1.5, w.shape)
    return model


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
@pytest.mark.parametrize("make", [graph_model, cnn_model])
def test_round_trip(tmp_path, make, suffix):
    model = perturb(make())
    xs = graph_inputs() if model.name == "graph" else [RNG.normal(size=(4, 9, 9, 2)).astype(np.float32)]
    model.compile("adam", "mse")
    path = tmp_path / f"m{suffix}"
    model.save(path)
    again = nncore.load_model(path)
    assert sorted(l.name for l in again.layers) == sorted(l.name for l in model.layers)
    assert_close(predict(again, xs), predict(model, xs), rtol=1e-6)
    losses = again.loss if isinstance(again.loss, list) else [again.loss]
    assert type(again.optimizer).__name__ == "Adam" and {l.name for l in losses} <= {"mse", "mean_squared_error"}


def test_weights_h5_round_trip(tmp_path):
    model = perturb(graph_model())
    model.save_weights(tmp_path / "w.weights.h5")
    other = graph_model()
    other.load_weights(tmp_path / "w.weights.h5")
    xs = graph_inputs()
    assert_close(predict(other, xs), predict(model, xs), rtol=1e-6)


def test_keras_layout_of_written_files(tmp_path):
    """Keras's group names (snake-case class, numbered in model.layers order) and a Keras archive's members."""
    model = graph_model()
    model.save(tmp_path / "g.keras")
    with zipfile.ZipFile(tmp_path / "g.keras") as zf:
        assert sorted(zf.namelist()) == ["config.json", "metadata.json", "model.weights.h5"]
        meta = json.loads(zf.read("metadata.json"))
        config = json.loads(zf.read("config.json"))
        h5 = h5py.File(io.BytesIO(zf.read("model.weights.h5")), "r")
    assert meta["keras_version"].startswith("3.")
    assert config["class_name"] == "Functional" and config["compile_config"] is None
    paths = []
    h5.visititems(lambda n, o: paths.append(n) if isinstance(o, h5py.Dataset) else None)
    assert "layers/lstm/cell/vars/0" in paths
    assert "layers/bidirectional/backward_layer/cell/vars/2" in paths
    assert "layers/time_distributed/layer/vars/1" in paths
    assert "layers/sequential/layers/batch_normalization/vars/3" in paths
    assert "layers/simple_rnn_1/cell/vars/0" in paths


# ---- suffixes ------------------------------------------------------------------------------------------------------

def test_unknown_suffix_raises(tmp_path):
    model = cnn_model()
    for bad in ("m.bin", "m", "m.json"):
        with pytest.raises(ValueError, match=r"\.nncore.*\.keras.*\.h5"):
            model.save(tmp_path / bad)
        assert not (tmp_path / bad).exists()
    for bad in ("w.h5", "w.keras", "w.bin"):
        with pytest.raises(ValueError, match=r"\.weights\.h5"):
            model.save_weights(tmp_path / bad)
    with pytest.raises(ValueError, match="ModelCheckpoint.*x.txt"):
        nncore.callbacks.ModelCheckpoint(tmp_path / "x.txt")
    with pytest.raises(ValueError, match=r"\.weights\.h5"):
        nncore.callbacks.ModelCheckpoint(tmp_path / "x.keras", save_weights_only=True)


def test_model_checkpoint_writes_keras_formats(tmp_path):
    model = nncore.Sequential([nncore.Input((3,)), L.Dense(2)])
    model.compile("sgd", "mse")
    x, y = RNG.normal(size=(8, 3)), RNG.normal(size=(8, 2))
    cbs = [nncore.callbacks.ModelCheckpoint(tmp_path / "e{epoch}.h5"),
           nncore.callbacks.ModelCheckpoint(tmp_path / "e{epoch}.keras"),
           nncore.callbacks.ModelCheckpoint(tmp_path / "e{epoch}.weights.h5", save_weights_only=True)]
    model.fit(x, y, epochs=2, verbose=0, callbacks=cbs)
    assert h5py.is_hdf5(tmp_path / "e2.h5") and zipfile.is_zipfile(tmp_path / "e2.keras")
    for path in ("e2.h5", "e2.keras"):
        np.testing.assert_allclose(nncore.load_model(tmp_path / path).predict(x), model.predict(x), rtol=1e-6)
    fresh = nncore.Sequential([nncore.Input((3,)), L.Dense(2)])
    fresh.load_weights(tmp_path / "e2.weights.h5")
    np.testing.assert_allclose(fresh.predict(x), model.predict(x), rtol=1e-6)


# ---- bad files ------------------------------------------------------------------------------------------------------

def rewrite_archive(src, dst, config=None, weights=None, drop=()):
    with zipfile.ZipFile(src) as zf:
        members = {n: zf.read(n) for n in zf.namelist() if n not in drop}
    if config is not None:
        members["config.json"] = json.dumps(config(json.loads(members["config.json"]))).encode()
    if weights is not None:
        buf = io.BytesIO(members["model.weights.h5"])
        with h5py.File(buf, "a") as f:
            weights(f)
        members["model.weights.h5"] = buf.getvalue()
    with zipfile.ZipFile(dst, "w") as zf:
        for n, data in members.items():
            zf.writestr(n, data)
    return dst


def test_truncated_and_corrupt_archives_raise(tmp_path):
    data = (DATA / "graph.keras").read_bytes()
    for cut in (0, 10, len(data) // 3, len(data) - 30):
        (tmp_path / "t.keras").write_bytes(data[:cut])
        with pytest.raises(nncore.ModelFileError, match="t.keras"):
            nncore.load_model(tmp_path / "t.keras")
    rng = np.random.default_rng(1)
    for _ in range(30):  # flipped bytes: zip's checksums or the parsers catch them
        bad = bytearray(data)
        for i in rng.integers(0, len(bad), 3):
            bad[i] ^= 0xFF
        (tmp_path / "f.keras").write_bytes(bytes(bad))
        try:
            nncore.load_model(tmp_path / "f.keras")
        except nncore.ModelFileError as e:
            assert "f.keras" in str(e)
    rewrite_archive(DATA / "mlp.keras", tmp_path / "nocfg.keras", drop=("config.json",))
    with pytest.raises(nncore.ModelFileError, match="nocfg.keras.*config.json"):
        nncore.load_model(tmp_path / "nocfg.keras")
    (tmp_path / "text.keras").write_text("not a zip")
    with pytest.raises(nncore.ModelFileError, match="text.keras.*zip"):
        nncore.load_model(tmp_path / "text.keras")


def test_truncated_h5_raises(tmp_path):
    for name in ("mlp.h5", "cnn.weights.h5"):
        data = (DATA / name).read_bytes()
        for cut in (0, 100, len(data) // 2):
            path = tmp_path / name
            path.write_bytes(data[:cut])
            with pytest.raises(nncore.ModelFileError, match=name):
                if name == "mlp.h5":
                    nncore.load_model(path)
                else:
                    nncore.load_model(DATA / "cnn.keras").load_weights(path)


def test_unknown_layer_class_is_named(tmp_path):
    def swap(cfg):
        cfg["config"]["layers"][1]["class_name"] = "EinsumDense"
        return cfg
    path = rewrite_archive(DATA / "mlp.keras", tmp_path / "einsum.keras", config=swap)
    with pytest.raises(nncore.ModelFileError, match=r"einsum.keras.*'dense' \(EinsumDense\).*nncore does not"):
        nncore.load_model(path)


def test_unsupported_arguments_are_named(tmp_path):
    def edit(key, value, index=1):
        def f(cfg):
            cfg["config"]["layers"][index]["config"][key] = value
            return cfg
        return f
    cases = [("activation", "celu", "activation 'celu'"),
             ("kernel_constraint", {"class_name": "MaxNorm", "config": {}}, "constraints"),
             ("kernel_initializer", {"class_name": "STFTInitializer", "config": {}}, "STFTInitializer"),
             # groups is taken now: a config claiming 2 groups no longer fits the file's kernel, and says so
             ("groups", 2, r"weight 0 has shape \(3, 3, 2, 4\) in the file, expected \(3, 3, 1, 4\)")]
    for key, value, message in cases:
        path = rewrite_archive(DATA / "cnn.keras", tmp_path / "c.keras", config=edit(key, value))
        with pytest.raises(nncore.ModelFileError, match=f"layer 'conv2d' \\(Conv2D\\).*{message}"):
            nncore.load_model(path)
    path = rewrite_archive(DATA / "cnn.keras", tmp_path / "df.keras", config=edit("data_format", "channels_first"))
    with pytest.raises(nncore.ModelFileError, match="data_format.*channels_first"):
        nncore.load_model(path)


def test_initializer_and_regularizer_objects_cross_both_ways(tmp_path):
    def edit(cfg):
        layer = cfg["config"]["layers"][1]["config"]
        layer["kernel_initializer"] = {"module": "keras.initializers", "class_name": "RandomNormal",
                                       "config": {"mean": 0.0, "stddev": 0.02, "seed": None}, "registered_name": None}
        layer["kernel_regularizer"] = {"module": "keras.regularizers", "class_name": "L2", "config": {"l2": 0.001},
                                       "registered_name": None}
        return cfg
    path = rewrite_archive(DATA / "cnn.keras", tmp_path / "init.keras", config=edit)
    model = nncore.load_model(path)
    conv = model.get_layer("conv2d").get_config()
    assert conv["kernel_initializer"]["config"]["stddev"] == pytest.approx(0.02)
    assert conv["kernel_regularizer"] == {"l1": 0, "l2": pytest.approx(0.001)}
    model.save(tmp_path / "back.keras")
    again = nncore.load_model(tmp_path / "back.keras").get_layer("conv2d").get_config()
    assert again["kernel_initializer"] == conv["kernel_initializer"]
    assert again["kernel_regularizer"] == conv["kernel_regularizer"]


def test_weight_mismatch_is_named(tmp_path):
    def reshape(f):
        del f["layers/dense/vars/0"]
        f["layers/dense/vars/0"] = np.zeros((3, 3), np.float32)
    path = rewrite_archive(DATA / "mlp.keras", tmp_path / "w.keras", weights=reshape)
    with pytest.raises(nncore.ModelFileError, match=r"w.keras: layer 'dense'.*\(3, 3\).*expected \(8, 16\)"):
        nncore.load_model(path)

    def drop(f):
        del f["layers/dense_1"]
    path = rewrite_archive(DATA / "mlp.keras", tmp_path / "d.keras", weights=drop)
    with pytest.raises(nncore.ModelFileError, match="d.keras: layer 'dense_1'.*missing"):
        nncore.load_model(path)


def test_keras2_legacy_h5(tmp_path):
    """The layout Keras 2 (tf.keras) wrote: module-less configs, batch_input_shape, inbound_nodes as lists and
    weight names ending in ':0'."""
    kernel, bias = RNG.normal(size=(4, 3)).astype(np.float32), RNG.normal(size=3).astype(np.float32)
    glorot = {"class_name": "GlorotUniform", "config": {"seed": None}}
    config = {"class_name": "Functional", "config": {
        "name": "model", "layers": [
            {"class_name": "InputLayer", "name": "x", "inbound_nodes": [],
             "config": {"batch_input_shape": [None, 4], "dtype": "float32", "sparse": False, "name": "x"}},
            {"class_name": "Dense", "name": "dense", "inbound_nodes": [[["x", 0, 0, {}]]],
             "config": {"name": "dense", "trainable": True, "dtype": "float32", "units": 3, "activation": "tanh",
                        "use_bias": True, "kernel_initializer": glorot,
                        "bias_initializer": {"class_name": "Zeros", "config": {}}, "kernel_regularizer": None,
                        "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None,
                        "bias_constraint": None}}],
        "input_layers": [["x", 0, 0]], "output_layers": [["dense", 0, 0]]}}
    with h5py.File(tmp_path / "k2.h5", "w") as f:
        f.attrs["keras_version"] = "2.13.1"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(config)
        f.attrs["training_config"] = json.dumps({"loss": "mse", "metrics": ["mae"], "optimizer_config": {
            "class_name": "Adam", "config": {"name": "Adam", "learning_rate": 0.01, "decay": 0.0, "beta_1": 0.9,
                                             "beta_2": 0.999, "epsilon": 1e-07, "amsgrad": False,
                                             "is_legacy_optimizer": False}}})
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = [b"x", b"dense"]
        g.create_group("x").attrs["weight_names"] = np.zeros((0,), "S1")
        d = g.create_group("dense")
        d.attrs["weight_names"] = [b"dense/kernel:0", b"dense/bias:0"]
        d["dense/kernel:0"] = kernel
        d["dense/bias:0"] = bias
    model = nncore.load_model(tmp_path / "k2.h5")
    x = RNG.normal(size=(5, 4)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x), np.tanh(x @ kernel + bias), rtol=1e-5, atol=1e-6)
    assert type(model.optimizer).__name__ == "Adam" and model.metrics_names == ["loss", "mae"]


# ---- nncore.saving ----------------------------------------------------------------------------------------------

def test_saving_api(tmp_path):
    model = cnn_model()
    saving.save_model(model, tmp_path / "m.keras")
    assert isinstance(saving.load_model(tmp_path / "m.keras"), nncore.Sequential)
    reg = saving.deserialize_keras_object(saving.serialize_keras_object(nncore.regularizers.L1(0.005)))
    assert type(reg).__name__ == "L1" and reg.l1 == 0.005
    dense = saving.deserialize_keras_object(saving.serialize_keras_object(L.Dense(3, activation="relu")))
    assert isinstance(dense, L.Dense) and dense.get_config()["activation"] == "relu"
    opt = saving.deserialize_keras_object(saving.serialize_keras_object(nncore.optimizers.SGD(momentum=0.5)))
    assert type(opt).__name__ == "SGD"
    assert saving.serialize_keras_object(model)["class_name"] == "Sequential"

    @saving.register_keras_serializable(package="test_keras_files", name="sq")
    def square(x):
        return x * x
    assert saving.get_custom_objects()["test_keras_files>sq"] is square
    assert saving.deserialize_keras_object(saving.serialize_keras_object(square)) is square
    with saving.custom_object_scope({"cube": len}):
        assert saving.get_registered_object("cube") is len
    del saving.get_custom_objects()["test_keras_files>sq"]
    with pytest.raises(ValueError, match="EinsumDense"):
        saving.deserialize_keras_object({"module": "keras.layers", "class_name": "EinsumDense", "config": {}})


# ---- custom layers and subclassed models ---------------------------------------------------------------------------

def define_twins(lib):
    """Custom classes written once against the API nncore and Keras share, made with either (``lib`` is ``nncore`` or
    ``keras``): the guide's CustomLayer (registered as "my_package>CustomLayer"), a Block holding it, sublayers in
    an attribute and in a list, and a non-trainable weight (not registered: custom_objects), and a subclassed model
    Net. tools/make_keras_files.py has the same function (it wrote custom.keras and subclassed.keras with Keras's)."""
    layers, ops = lib.layers, lib.ops

    @lib.saving.register_keras_serializable(package="my_package")
    class CustomLayer(layers.Layer):
        def __init__(self, units=32, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal", trainable=True)
            self.b = self.add_weight(shape=(self.units,), initializer="random_normal", trainable=True)

        def call(self, inputs):
            return ops.matmul(inputs, self.w) + self.b

        def get_config(self):
            config = super().get_config()
            config.update({"units": self.units})
            return config

    class Block(layers.Layer):
        def __init__(self, units=4, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.inner = CustomLayer(units)
            self.dense = layers.Dense(units, activation="relu")
            self.heads = [layers.Dense(units), layers.Dense(units, activation="tanh")]

        def build(self, input_shape):
            self.scale = self.add_weight(shape=(self.units,), initializer="ones", trainable=False, name="scale")
            self.shift = self.add_weight(shape=(self.units,), initializer="zeros", name="shift")

        def call(self, inputs):
            h = self.dense(inputs) + self.inner(inputs)
            for head in self.heads:
                h = head(h)
            return h * self.scale + self.shift

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    class Net(lib.Model):
        def __init__(self, hidden=8, classes=3, **kwargs):
            super().__init__(**kwargs)
            self.hidden, self.classes = hidden, classes
            self.encoder = layers.Dense(hidden, activation="relu")
            self.block = Block(hidden)
            self.head = layers.Dense(classes, activation="softmax")

        def call(self, inputs):
            return self.head(self.block(self.encoder(inputs)))

        def get_config(self):
            return {"hidden": self.hidden, "classes": self.classes}

    return CustomLayer, Block, Net


CustomLayer, Block, Net = define_twins(nncore)
OBJECTS = {"Block": Block, "Net": Net}  # CustomLayer is registered
X5 = RNG.normal(size=(6, 5)).astype(np.float32)


def custom_model(lib=nncore, classes=(CustomLayer, Block)):
    """The architecture of custom.keras."""
    custom, block = classes
    x = lib.Input((5,), name="x")
    h = block(6, name="block")(custom(6, name="custom")(x))
    return lib.Model(x, lib.layers.Dense(2)(lib.layers.Concatenate()([h, custom(3)(x)])), name="custom")


def custom_sequential():
    return nncore.Sequential([nncore.Input((5,)), CustomLayer(4), Block(3), L.Dense(2)], name="seq")


def make_custom(kind):
    if kind == "functional":
        return custom_model()
    if kind == "sequential":
        return custom_sequential()
    net = Net(7, 2)
    net(X5)  # builds (traces) it
    return net


def fill(model, seed=3):
    """Non-trivial values in every weight, custom layers' variables included."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        a = np.asarray(w)
        a[...] = rng.normal(scale=0.5, size=a.shape)
    return model


def weight_paths(path):
    """{dataset path: shape} of a .keras archive's model.weights.h5, but the optimizer's (nncore writes none)."""
    with zipfile.ZipFile(path) as zf:
        h5 = h5py.File(io.BytesIO(zf.read("model.weights.h5")), "r")
    found = {}
    h5.visititems(lambda n, o: found.__setitem__(n, o.shape) if isinstance(o, h5py.Dataset) else None)
    return {n: shape for n, shape in found.items() if not n.startswith("optimizer/")}


def test_keras_files_with_custom_layers_predict_as_keras():
    model = nncore.load_model(DATA / "custom.keras", custom_objects={"Block": Block})
    assert_close(predict(model, inputs("custom")), expected("custom"))
    block = model.get_layer("block")
    assert isinstance(block, Block) and isinstance(block.inner, CustomLayer) and block.units == 6
    assert isinstance(model.get_layer("custom"), CustomLayer)  # found by its registered name, my_package>CustomLayer
    net = nncore.load_model(DATA / "subclassed.keras", custom_objects=OBJECTS)
    assert isinstance(net, Net) and (net.hidden, net.classes) == (8, 3) and isinstance(net.block, Block)
    assert_close(predict(net, inputs("subclassed")), expected("subclassed"))
    assert type(net.optimizer).__name__ == "Adam"  # its compile_config
    x = inputs("subclassed")[0]
    before = net.evaluate(x, np.zeros(len(x)), verbose=0)
    net.fit(x, np.zeros(len(x)), epochs=5, verbose=0)  # training resumes
    assert net.evaluate(x, np.zeros(len(x)), verbose=0) < before


def test_unknown_custom_class_is_named(tmp_path):
    with pytest.raises(nncore.ModelFileError, match=r"custom\.keras: the model has a custom layer 'block' of class "
                                                    r"'Block' \(registered name 'Block'\), which is not known here: "
                                                    r"decorate the class with @nncore\.saving\."
                                                    r"register_keras_serializable\(\) or pass "
                                                    r"custom_objects=\{'Block': Block\}"):
        nncore.load_model(DATA / "custom.keras")
    with pytest.raises(nncore.ModelFileError, match=r"the model is a subclassed model of class 'Net'"):
        nncore.load_model(DATA / "subclassed.keras", custom_objects={"Block": Block})

    def rename(cfg):
        entry = cfg["config"]["layers"][1]
        entry["class_name"], entry["registered_name"] = "Gone", "other_package>Gone"
        return cfg
    path = rewrite_archive(DATA / "custom.keras", tmp_path / "gone.keras", config=rename)
    with pytest.raises(nncore.ModelFileError, match=r"'custom' of class 'Gone' \(registered name 'other_package>Gone'"
                                                    r"\).*register_keras_serializable\(package='other_package'\)"):
        nncore.load_model(path, custom_objects=OBJECTS)
    with saving.custom_object_scope({"Block": Block}):  # the guide's third way
        assert isinstance(nncore.load_model(DATA / "custom.keras").get_layer("block"), Block)


@pytest.mark.parametrize("kind", ["functional", "sequential", "subclassed"])
def test_custom_round_trip(tmp_path, kind):
    model = fill(make_custom(kind))
    model.compile("adam", "mse")
    model.save(tmp_path / "m.keras")
    again = nncore.load_model(tmp_path / "m.keras", custom_objects=OBJECTS)
    assert type(again) is type(model)
    np.testing.assert_array_equal(again.predict(X5), model.predict(X5))
    assert type(again.optimizer).__name__ == "Adam"
    again.fit(X5, np.zeros_like(model.predict(X5)), epochs=1, verbose=0)
    # The weights file, into a model of fresh weights.
    model.save_weights(tmp_path / "w.weights.h5")
    other = fill(make_custom(kind), seed=4)
    other.load_weights(tmp_path / "w.weights.h5")
    np.testing.assert_array_equal(other.predict(X5), model.predict(X5))
    other = fill(make_custom(kind), seed=5)
    other.load_weights(tmp_path / "m.keras")
    np.testing.assert_array_equal(other.predict(X5), model.predict(X5))


def test_custom_layers_are_written_as_keras_writes_them(tmp_path):
    model = custom_model()
    model.save(tmp_path / "c.keras")
    with zipfile.ZipFile(tmp_path / "c.keras") as zf:
        config = json.loads(zf.read("config.json"))
    entries = {e["name"]: e for e in config["config"]["layers"]}
    assert entries["custom"] == {
        "module": __name__, "class_name": "CustomLayer", "registered_name": "my_package>CustomLayer",
        "config": {"name": "custom", "trainable": True, "dtype": "float32", "units": 6},
        "build_config": {"input_shape": [None, 5]}, "name": "custom",
        "inbound_nodes": entries["custom"]["inbound_nodes"]}
    assert entries["block"]["registered_name"] == "Block" and entries["block"]["config"]["units"] == 6
    # Keras's object paths, the same as in the file Keras wrote for this architecture: own variables trainable
    # first (Block's shift, then its scale), sublayers by attribute (a list's items by class).
    ours = weight_paths(tmp_path / "c.keras")
    assert ours == weight_paths(DATA / "custom.keras")
    assert ours["layers/block/vars/0"] == (6,) and "layers/block/heads/dense_1/vars/1" in ours
    assert "layers/block/inner/vars/1" in ours and "layers/custom_layer_1/vars/0" in ours
    # A subclassed model: its attributes at the root, as Keras writes them.
    net = make_custom("subclassed")
    net.save(tmp_path / "n.keras")
    assert weight_paths(tmp_path / "n.keras").keys() == weight_paths(DATA / "subclassed.keras").keys()
    with zipfile.ZipFile(tmp_path / "n.keras") as zf:
        spec = json.loads(zf.read("config.json"))
    assert (spec["class_name"], spec["config"], spec["registered_name"]) == ("Net", {"hidden": 7, "classes": 2}, "Net")
    assert spec["build_config"] == {"input_shape": [None, 5]}


def test_custom_layers_keras_files_cannot_hold_raise(tmp_path):
    model = custom_model()
    model.save(tmp_path / "c.nncore")
    loaded = nncore.load_model(tmp_path / "c.nncore", custom_objects=OBJECTS)
    # Loaded from .nncore, Block's sublayers have no Python objects to name their weights by.
    with pytest.raises(ValueError, match=r"save: layer 'block' \(Block\): 8 of its weights are not reachable by "
                                         r"Keras's object paths.*rebuild"):
        loaded.save(tmp_path / "c.keras")
    assert not (tmp_path / "c.keras").exists()
    with pytest.raises(ValueError, match=r"layer 'custom' \(CustomLayer\) is a custom layer or model, which nncore "
                                         r"does not read or write in the legacy \.h5 format; use \.keras"):
        model.save(tmp_path / "c.h5")
    x = nncore.Input((3,))
    lam = nncore.Model(x, L.Lambda(lambda t: t * 2.0)(x))
    with pytest.raises(ValueError, match=r"\(Lambda\) holds a Python function"):
        lam.save(tmp_path / "lam.keras")


@saving.register_keras_serializable(package="my_package", name="custom_fn")
def custom_fn(x):  # the guide's
    return x ** 2


def test_function_activations_cross_both_ways(tmp_path):
    """An activation that is a Python function (registered, or one of nncore.activations' that the C++ layers lack)
    is written as Keras writes it (by registered name; Keras's name) and read back through the layer's class."""
    x = nncore.Input((4,))
    h = L.Dense(3, activation=custom_fn, name="fn")(x)
    model = fill(nncore.Model(x, L.Dense(2, activation=nncore.activations.selu, name="selu")(h)))
    model.save(tmp_path / "f.keras")
    with zipfile.ZipFile(tmp_path / "f.keras") as zf:
        layers = json.loads(zf.read("config.json"))["config"]["layers"]
    assert layers[1]["config"]["activation"] == {"module": __name__, "class_name": "function",
                                                 "config": "my_package>custom_fn",
                                                 "registered_name": "my_package>custom_fn"}
    assert layers[2]["config"]["activation"] == "selu"
    again = nncore.load_model(tmp_path / "f.keras")
    assert again.get_layer("fn").activation is custom_fn
    np.testing.assert_array_equal(again.predict(X5[:, :4]), model.predict(X5[:, :4]))

    def unknown(cfg):  # as Keras writes a function it loaded and saved again
        cfg["config"]["layers"][1]["config"]["activation"] = {"module": "builtins", "class_name": "function",
                                                              "config": "nowhere", "registered_name": "function"}
        return cfg
    path = rewrite_archive(tmp_path / "f.keras", tmp_path / "u.keras", config=unknown)
    with pytest.raises(nncore.ModelFileError, match=r"layer 'fn' \(Dense\).*unknown activation 'nowhere'"):
        nncore.load_model(path)


def test_from_config_and_model_from_json_take_keras_configs():
    for name in ("mlp", "graph", "custom"):
        with zipfile.ZipFile(DATA / f"{name}.keras") as zf:
            spec = json.loads(zf.read("config.json"))  # keras_model.to_json() and the compile and build configs
        model = nncore.models.model_from_json(json.dumps(spec), custom_objects=OBJECTS)
        model.load_weights(DATA / f"{name}.keras")
        assert_close(predict(model, inputs(name)), expected(name))
        inner = nncore.Model.from_config(spec["config"], custom_objects=OBJECTS)  # keras_model.get_config()
        assert [type(l) for l in inner.layers] == [type(l) for l in model.layers]
    assert isinstance(nncore.Sequential.from_config(json.loads(zipfile.ZipFile(DATA / "mlp.keras").read(
        "config.json"))["config"]), nncore.Sequential)
    with pytest.raises(ValueError, match=r"custom layer 'block' of class 'Block'.*custom_objects"):
        nncore.Model.from_config(spec)
    net = Net.from_config({"hidden": 4, "classes": 2})  # a subclassed model: cls(**config)
    assert isinstance(net, Net) and (net.hidden, net.classes) == (4, 2)
    again = nncore.Model.from_config(custom_model().get_config(), custom_objects=OBJECTS)  # nncore's own config
    assert isinstance(again.get_layer("block"), nncore.layers.Layer)


# ---- with Keras itself ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
@pytest.mark.parametrize("make", [graph_model, cnn_model])
def test_keras_loads_what_nncore_writes(tmp_path, keras, make, suffix):
    model = perturb(make())
    xs = graph_inputs() if model.name == "graph" else [RNG.normal(size=(4, 9, 9, 2)).astype(np.float32)]
    model.compile("adam", "mse")
    model.save(tmp_path / f"m{suffix}")
    theirs = keras.saving.load_model(tmp_path / f"m{suffix}")
    got = theirs.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    assert_close(got if isinstance(got, list) else [got], predict(model, xs), rtol=1e-5)
    model.save_weights(tmp_path / "w.weights.h5")
    for v in theirs.weights:
        v.assign(np.zeros(v.shape, v.dtype))
    theirs.load_weights(tmp_path / "w.weights.h5")
    got = theirs.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    assert_close(got if isinstance(got, list) else [got], predict(model, xs), rtol=1e-5)


def test_trained_in_keras_and_back(tmp_path, keras):
    """Done-when: a model trained in Keras, saved as .keras, predicts the same in nncore (rel 1e-5), and back."""
    km = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="gelu"),
                           keras.layers.LayerNormalization(), keras.layers.Dense(2, activation="softmax")])
    km.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x = RNG.normal(size=(32, 6)).astype(np.float32)
    km.fit(x, (x[:, 0] > 0).astype(int), epochs=3, verbose=0)
    km.save(tmp_path / "k.keras")
    ours = nncore.load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(ours.predict(x), km.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    ours.fit(x, (x[:, 0] > 0).astype(int), epochs=1, verbose=0)
    ours.save(tmp_path / "n.keras")
    back = keras.saving.load_model(tmp_path / "n.keras")
    np.testing.assert_allclose(back.predict(x, verbose=0), ours.predict(x), rtol=1e-5, atol=1e-6)


def test_layers_keras_lacks_raise_on_save(tmp_path):
    x = nncore.Input((3,))
    model = nncore.Model(x, nncore.ops.relu(L.Dense(2)(x)) * 2.0)
    with pytest.raises(ValueError, match="UnaryOp.*no Keras equivalent"):
        model.save(tmp_path / "ops.keras")
    assert not (tmp_path / "ops.keras").exists()
    model.save(tmp_path / "ops.nncore")  # nncore's own format holds them


@pytest.fixture(scope="module")
def keras_twins(keras):
    return define_twins(keras)


@pytest.mark.parametrize("kind", ["functional", "sequential", "subclassed"])
def test_keras_and_nncore_exchange_custom_models(tmp_path, keras, keras_twins, kind):
    """The guide's workflow across the two libraries: the same custom classes defined (and CustomLayer registered as
    "my_package>CustomLayer") on each side; either one saves, the other loads and predicts the same."""
    k_custom, k_block, k_net = keras_twins
    k_objects = {"Block": k_block, "Net": k_net}
    model = fill(make_custom(kind))
    model.compile("adam", "mse")
    model.save(tmp_path / "n.keras")
    theirs = keras.saving.load_model(tmp_path / "n.keras", custom_objects=k_objects)
    np.testing.assert_allclose(theirs.predict(X5, verbose=0), model.predict(X5), rtol=1e-5, atol=1e-6)
    if kind == "subclassed":
        assert isinstance(theirs, k_net) and isinstance(theirs.block.inner, k_custom)
    else:
        assert any(isinstance(l, k_block) for l in theirs.layers)
    theirs.fit(X5, np.zeros_like(model.predict(X5)), epochs=2, verbose=0)
    theirs.save(tmp_path / "k.keras")
    ours = nncore.load_model(tmp_path / "k.keras", custom_objects=OBJECTS)
    np.testing.assert_allclose(ours.predict(X5), theirs.predict(X5, verbose=0), rtol=1e-5, atol=1e-6)
    # Keras's own model from its classes, saved by Keras, read by nncore.
    if kind == "functional":
        km = custom_model(keras, (k_custom, k_block))
        km.save(tmp_path / "k2.keras")
        ours = nncore.load_model(tmp_path / "k2.keras", custom_objects=OBJECTS)
        np.testing.assert_allclose(ours.predict(X5), km.predict(X5, verbose=0), rtol=1e-5, atol=1e-6)
        fresh = nncore.models.model_from_json(km.to_json(), custom_objects=OBJECTS)
        assert [type(l).__name__ for l in fresh.layers] == [type(l).__name__ for l in km.layers]


def test_guide_custom_objects_cross_to_keras(tmp_path, keras):
    """The guide's get_model(): its CustomLayer (registered in package MyLayers) and custom_fn as Dense's activation,
    defined on both sides; each library loads what the other saved and predicts the same."""
    def define(lib):
        @lib.saving.register_keras_serializable(package="MyLayers")
        class CustomLayer(lib.layers.Layer):
            def __init__(self, factor):
                super().__init__()
                self.factor = factor

            def call(self, x):
                return x * self.factor

            def get_config(self):
                return {"factor": self.factor}
        return CustomLayer

    @keras.saving.register_keras_serializable(package="my_package", name="custom_fn")
    def keras_custom_fn(x):
        return x ** 2

    def get_model(lib, layer_class, fn):
        inputs = lib.Input(shape=(4,))
        outputs = lib.layers.Dense(1, activation=fn)(layer_class(0.5)(inputs))
        model = lib.Model(inputs, outputs)
        model.compile(optimizer="rmsprop", loss="mean_squared_error")
        return model

    x = X5[:, :4]
    ours_class, keras_class = define(nncore), define(keras)
    ours = get_model(nncore, ours_class, custom_fn)
    ours.fit(x, np.ones((6, 1)), verbose=0)
    ours.save(tmp_path / "n.keras")
    theirs = keras.saving.load_model(tmp_path / "n.keras")
    np.testing.assert_allclose(theirs.predict(x, verbose=0), ours.predict(x), rtol=1e-5, atol=1e-6)
    theirs = get_model(keras, keras_class, keras_custom_fn)
    theirs.fit(x, np.ones((6, 1)), verbose=0)
    theirs.save(tmp_path / "k.keras")
    again = nncore.load_model(tmp_path / "k.keras")
    assert again.layers[-1].activation is custom_fn
    np.testing.assert_allclose(again.predict(x), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
