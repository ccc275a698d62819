"""Make the Keras reference files of tests/test_keras_files.py with real Keras (not a dependency of nncore).

    pip install keras==3.15.1 torch          # torch (CPU) serves as Keras's backend
    KERAS_BACKEND=torch python tools/make_keras_files.py [--out tests/data/keras] [--only NAME ...] [--check]

Builds small models in Keras (an MLP, a CNN with BatchNormalization, a text model with Embedding(mask_zero) + LSTM +
Bidirectional(GRU), a two-input functional model with most layers both libraries have, nested models and a shared
layer, an LSTM passing its states to another; custom layers, registered and not, nested, in a functional model, and a
subclassed model, made by ``define_twins`` which tests/test_keras_files.py shares), trains each a few steps, and
writes ``<name>.keras`` (re-packed with
zip's deflate to keep them small), one legacy ``mlp.h5``, one ``cnn.weights.h5`` and ``predictions.npz`` (each
model's inputs ``<name>_x<i>`` and Keras's predictions ``<name>_y<j>``; ``--only`` remakes the files of some models and
updates their entries). The tests load these with nncore and compare predictions (rel 1e-5).

``--check`` is how the interop was checked both ways: each file is loaded in nncore and its predictions compared
with Keras's; nncore then saves it again as .keras, .h5 and .weights.h5, Keras loads those and predicts the same.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Tuple

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers as L  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def mlp(rng: np.random.Generator) -> Tuple[keras.Model, list, list]:
    model = keras.Sequential([keras.Input((8,)), L.Dense(16, activation="relu", kernel_regularizer="l2"),
                              L.BatchNormalization(), L.Dropout(0.2), L.Dense(3, activation="softmax")], name="mlp")
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model, [rng.normal(size=(32, 8))], [rng.integers(0, 3, 32)]


def cnn(rng: np.random.Generator) -> Tuple[keras.Model, list, list]:
    model = keras.Sequential([keras.Input((10, 10, 2)), L.Conv2D(4, 3, padding="same"), L.BatchNormalization(),
                              L.ReLU(), L.MaxPooling2D(), L.Conv2D(6, 3, activation="relu"), L.GlobalAveragePooling2D(),
                              L.Dense(4)], name="cnn")
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model, [rng.normal(size=(16, 10, 10, 2))], [rng.integers(0, 4, 16)]


def text(rng: np.random.Generator) -> Tuple[keras.Model, list, list]:
    ids = keras.Input((12,), name="ids")
    h = L.Embedding(30, 8, mask_zero=True)(ids)
    h = L.LSTM(6, return_sequences=True)(h)
    h = L.Bidirectional(L.GRU(5))(h)
    out = L.Dense(1, activation="sigmoid")(h)
    model = keras.Model(ids, out, name="text")
    model.compile("sgd", "binary_crossentropy", metrics=["accuracy"])
    x = rng.integers(1, 30, (24, 12))
    x[:, 9:] = 0  # padding the mask skips
    x[::3, 5:] = 0
    return model, [x], [rng.integers(0, 2, (24, 1))]


def graph(rng: np.random.Generator) -> Tuple[keras.Model, list, list]:
    seq = keras.Input((6, 5), name="seq")
    img = keras.Input((8, 8, 3), name="img")
    a = L.SimpleRNN(4, return_sequences=True, go_backwards=True)(seq)
    a = L.TimeDistributed(L.Dense(4, activation="tanh"))(a)
    a = L.LayerNormalization()(a)
    a = L.Conv1D(3, 2, padding="causal")(a)
    a = L.MaxPooling1D(2)(a)
    a = L.GlobalMaxPooling1D()(a)
    b = L.Conv2D(4, 3, padding="same")(img)
    b = L.PReLU(shared_axes=[1, 2])(b)
    b = L.ZeroPadding2D(1)(b)
    b = L.AveragePooling2D(2)(b)
    b = L.Conv2DTranspose(3, 3, strides=2, padding="same")(b)
    b = L.UpSampling2D()(b)
    b = L.LeakyReLU(0.2)(b)
    b = L.Flatten()(b)
    b = L.Dense(3)(b)
    b2 = L.Dense(3, activation="elu")(L.Reshape((8 * 8 * 3,))(img))
    shared = L.Dense(3, name="shared")
    c = L.Concatenate()([L.Add()([shared(a), shared(b)]), L.Multiply()([a, b2]), L.Subtract()([b, b2]),
                         L.Average()([a, b])])
    inner = keras.Sequential([keras.Input((12,)), L.Dense(4), L.BatchNormalization(), L.Softmax()], name="inner")
    fi = keras.Input((4,))
    head = keras.Model(fi, L.Dense(2)(L.ELU()(fi)), name="head")
    out1 = head(inner(c))
    out2 = L.Rescaling(0.5, offset=0.1)(L.Dense(1, activation="sigmoid")(c))
    model = keras.Model([seq, img], [out1, out2], name="graph")
    model.compile("sgd", ["mse", "mse"])
    xs = [rng.normal(size=(16, 6, 5)), rng.normal(size=(16, 8, 8, 3))]
    return model, xs, [rng.normal(size=(16, 2)), rng.random((16, 1))]


def states(rng: np.random.Generator) -> Tuple[keras.Model, list, list]:
    x = keras.Input((7, 3), name="x")
    out, h, c = L.LSTM(5, return_state=True)(x)
    out2 = L.LSTM(5)(x, initial_state=[h, c])
    model = keras.Model(x, L.Dense(2)(L.Concatenate()([out, out2])), name="states")
    model.compile("sgd", "mse")
    return model, [rng.normal(size=(16, 7, 3))], [rng.normal(size=(16, 2))]


def define_twins(lib: Any) -> Tuple[type, type, type]:
    """Custom classes written once against the API nncore and Keras share, made with either (``lib`` is ``keras`` or
    ``nncore``): the guide's CustomLayer (registered as "my_package>CustomLayer"), a Block holding it, sublayers in
    an attribute and in a list, and a non-trainable weight (not registered: custom_objects), and a subclassed model
    Net. tests/test_keras_files.py has the same function; keep the two in step."""
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


CustomLayer, Block, Net = define_twins(keras)
# What keras.saving.load_model needs for the files nncore writes from these models (CustomLayer is registered).
CUSTOM_OBJECTS = {"Block": Block, "Net": Net}


def custom(rng: np.random.Generator) -> Tuple[keras.Model, list, list]:
    x = keras.Input((5,), name="x")
    h = Block(6, name="block")(CustomLayer(6, name="custom")(x))
    model = keras.Model(x, L.Dense(2)(L.Concatenate()([h, CustomLayer(3)(x)])), name="custom")
    model.compile("adam", "mse")
    return model, [rng.normal(size=(16, 5))], [rng.normal(size=(16, 2))]


def subclassed(rng: np.random.Generator) -> Tuple[keras.Model, list, list]:
    model = Net(8, 3)
    model.compile("adam", "sparse_categorical_crossentropy")
    return model, [rng.normal(size=(16, 5))], [rng.integers(0, 3, 16)]


MODELS: Dict[str, Callable] = {"mlp": mlp, "cnn": cnn, "text": text, "graph": graph, "states": states,
                               "custom": custom, "subclassed": subclassed}
CUSTOM_MODELS = ("custom", "subclassed")  # not in the legacy .h5 format, which nncore does not write for them


def _deflate(path: Path) -> None:
    """Re-packs a Keras archive with zip's deflate (Keras stores its members uncompressed; HDF5's padding makes them
    several times larger than their content). The members stay byte for byte as Keras wrote them."""
    with zipfile.ZipFile(path) as zf:
        members = [(info.filename, zf.read(info)) for info in zf.infolist()]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)


def _list(v: object) -> list:
    return list(v) if isinstance(v, (list, tuple)) else [v]


def make(out: Path, names: Iterable[str]) -> Dict[str, np.ndarray]:
    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(1)
    out.mkdir(parents=True, exist_ok=True)
    names = list(names)
    old = out / "predictions.npz"
    arrays: Dict[str, np.ndarray] = {}
    if old.exists() and set(names) != set(MODELS):  # --only: keep the other models' entries
        with np.load(old) as kept:
            arrays = {k: kept[k] for k in kept.files if k.split("_")[0] not in names}
    for name in names:
        model, xs, ys = MODELS[name](rng)
        xs = [np.asarray(x, np.float32) for x in xs]
        model.fit(xs if len(xs) > 1 else xs[0], ys if len(ys) > 1 else ys[0], epochs=2, batch_size=8, verbose=0)
        model.save(out / f"{name}.keras")
        for i, x in enumerate(xs):
            arrays[f"{name}_x{i}"] = x[:6]
        for j, y in enumerate(_list(model.predict(xs if len(xs) > 1 else xs[0], verbose=0))):
            arrays[f"{name}_y{j}"] = np.asarray(y[:6], np.float32)
        if name == "mlp":
            model.save(out / "mlp.h5")  # Keras's legacy HDF5 model file
        if name == "cnn":
            model.save_weights(out / "cnn.weights.h5")
    for name in names:
        _deflate(out / f"{name}.keras")
    np.savez_compressed(out / "predictions.npz", **arrays)
    total = sum(f.stat().st_size for f in out.iterdir())
    print(f"wrote {len(list(out.iterdir()))} files, {total / 1024:.0f} KB, to {out}")
    return arrays


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a), 1e-3)))


def check(out: Path, arrays: Dict[str, np.ndarray]) -> int:
    """Keras -> nncore and nncore -> Keras for every file; prints the worst relative error of each step."""
    import nncore
    _, nn_block, nn_net = define_twins(nncore)
    nn_objects = {"Block": nn_block, "Net": nn_net}
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in MODELS:
            xs = [arrays[k] for k in sorted(arrays) if k.startswith(f"{name}_x")]
            want = [arrays[k] for k in sorted(arrays) if k.startswith(f"{name}_y")]
            sources = [f"{name}.keras"] + (["mlp.h5"] if name == "mlp" else [])
            for src in sources:
                model = nncore.load_model(out / src, custom_objects=nn_objects)
                got = _list(model.predict(xs if len(xs) > 1 else xs[0]))
                steps = [(f"Keras {src} -> nncore", max(_rel(w, g) for w, g in zip(want, got)))]
                for suffix in (".keras",) if name in CUSTOM_MODELS else (".keras", ".h5"):
                    path = os.path.join(tmp, f"{name}{suffix}")
                    model.save(path)
                    back = keras.saving.load_model(path, custom_objects=CUSTOM_OBJECTS)
                    again = _list(back.predict(xs if len(xs) > 1 else xs[0], verbose=0))
                    steps.append((f"nncore -> Keras {suffix}", max(_rel(w, g) for w, g in zip(want, again))))
                path = os.path.join(tmp, f"{name}.weights.h5")
                model.save_weights(path)
                fresh = keras.saving.load_model(out / f"{name}.keras", custom_objects=CUSTOM_OBJECTS)
                for v in fresh.weights:
                    v.assign(np.zeros(v.shape, v.dtype))
                fresh.load_weights(path)
                again = _list(fresh.predict(xs if len(xs) > 1 else xs[0], verbose=0))
                steps.append(("nncore -> Keras .weights.h5", max(_rel(w, g) for w, g in zip(want, again))))
                for what, err in steps:
                    ok = err < 1e-5
                    failures += not ok
                    print(f"{name:7s} {what:28s} max rel err {err:.2e} {'ok' if ok else 'FAIL'}")
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "data" / "keras")
    parser.add_argument("--only", nargs="+", choices=sorted(MODELS), default=list(MODELS),
                        help="remake only these models' files (the others' predictions are kept)")
    parser.add_argument("--check", action="store_true", help="also check nncore against Keras both ways")
    args = parser.parse_args()
    arrays = make(args.out, args.only)
    return 1 if args.check and check(args.out, arrays) else 0


if __name__ == "__main__":
    sys.exit(main())
