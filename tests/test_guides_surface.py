"""What the Keras 3 guides (keras-io: training_with_built_in_methods, writing_your_own_callbacks,
serialization_and_saving, sequential_model) ask of the API beyond what other tests cover: ``layers.serialize`` /
``deserialize``, ``.numpy()`` and the Variable attributes of ``layer.weights``' entries, Sequential models of custom
layers and of another model's layers, ``batch_size`` beside batches, ``steps_per_epoch`` with arrays, a Metric
subclass's ``y_true`` shape, and loss objects taken inside a custom layer's call (``add_loss``)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import nncore
from nncore import layers, ops

from graph_helpers import seeded  # noqa: F401  (autouse fixture)


def mlp(n_in=8, classes=3):
    inputs = nncore.Input((n_in,), name="digits")
    x = layers.Dense(16, activation="relu", name="dense_1")(inputs)
    outputs = layers.Dense(classes, activation="softmax", name="predictions")(x)
    model = nncore.Model(inputs, outputs)
    model.compile("rmsprop", "sparse_categorical_crossentropy", metrics=["sparse_categorical_accuracy"])
    return model


def data(n=100, n_in=8, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, n_in)).astype(np.float32)
    return x, rng.integers(0, classes, n).astype(np.float32)


# ---- keras.layers.serialize / deserialize (serialization_and_saving) -------------------------------------------------
@nncore.saving.register_keras_serializable(package="GuideLayers", name="KernelMult")
class MyDense(layers.Layer):
    def __init__(self, units, *, kernel_regularizer=None, kernel_initializer=None, nested_model=None, **kwargs):
        super().__init__(**kwargs)
        self.hidden_units = units
        self.kernel_regularizer = kernel_regularizer
        self.kernel_initializer = kernel_initializer
        self.nested_model = nested_model

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.hidden_units, "kernel_regularizer": self.kernel_regularizer,
                       "kernel_initializer": self.kernel_initializer, "nested_model": self.nested_model})
        return config

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], self.hidden_units),
                                      regularizer=self.kernel_regularizer, initializer=self.kernel_initializer)

    def call(self, inputs):
        return ops.matmul(inputs, self.kernel)


def test_layers_serialize_and_deserialize():
    dense = layers.Dense(3, activation="relu", name="d3")
    config = layers.serialize(dense)
    assert config["class_name"] == "Dense" and config["config"]["units"] == 3
    again = layers.deserialize(config)
    assert isinstance(again, layers.Dense) and again.get_config()["activation"] == "relu"

    inner = MyDense(units=16, kernel_regularizer="l1", kernel_initializer="ones")
    outer = MyDense(units=64, nested_model=inner)
    config = layers.serialize(outer)
    assert config["registered_name"] == "GuideLayers>KernelMult"
    assert config["config"]["nested_model"]["config"]["units"] == 16
    new = layers.deserialize(config)
    assert isinstance(new, MyDense) and new.hidden_units == 64
    assert isinstance(new.nested_model, MyDense) and new.nested_model.kernel_regularizer == "l1"

    reg = MyDense(units=4, kernel_regularizer=nncore.regularizers.L1L2(l1=1e-5, l2=1e-4))
    config = layers.serialize(reg)
    assert config["config"]["kernel_regularizer"]["class_name"] == "L1L2"
    assert layers.deserialize(config).kernel_regularizer.get_config() == pytest.approx({"l1": 1e-5, "l2": 1e-4})
    with pytest.raises(ValueError, match="class_name"):
        layers.deserialize({"units": 3})
    with pytest.raises(TypeError, match="expected an nncore layer"):
        layers.serialize("Dense")


# ---- layer.weights entries answer Keras's Variable API ---------------------------------------------------------------
def test_weights_entries_are_numpy_views_with_variable_attributes():
    dense = layers.Dense(3, name="d")
    dense.build((None, 4))
    kernel, bias = dense.weights
    assert isinstance(kernel, np.ndarray) and kernel.shape == (4, 3)
    assert (kernel.name, kernel.path, kernel.trainable) == ("kernel", "d/kernel", True)
    assert bias.name == "bias"
    copy = kernel.numpy()
    assert type(copy) is np.ndarray and np.array_equal(copy, kernel)
    copy[...] = 7.0  # a copy: the layer keeps its values
    assert not np.any(dense.get_weights()[0] == 7.0)
    kernel[...] = 0.5  # a view: writes reach the layer
    assert np.all(dense.get_weights()[0] == 0.5)
    kernel.assign(np.ones((4, 3)))
    assert np.all(dense.kernel.numpy() == 1.0)
    assert dense.weights[0] is dense.trainable_weights[0]  # the same object, as Keras's variables
    assert type(dense.get_weights()[0]) is np.ndarray and type(kernel + 1) is np.ndarray
    assert isinstance(kernel.sum(), np.floating) and repr(bias).startswith("array(")

    bn = layers.BatchNormalization(name="bn")
    bn.build((None, 4))
    assert [(w.name, w.trainable) for w in bn.weights] == [("gamma", True), ("beta", True),
                                                            ("moving_mean", False), ("moving_variance", False)]


def test_weights_transfer_from_functional_to_subclassed_model_as_in_the_guide():
    inputs = nncore.Input((8,), name="digits")
    x = layers.Dense(6, activation="relu", name="dense_1")(inputs)
    outputs = layers.Dense(3, name="predictions")(x)
    functional = nncore.Model(inputs, outputs)

    class Subclassed(nncore.Model):
        def __init__(self):
            super().__init__()
            self.dense_1 = layers.Dense(6, activation="relu", name="dense_1")
            self.dense_2 = layers.Dense(3, name="predictions")

        def call(self, inputs):
            return self.dense_2(self.dense_1(inputs))

    sub = Subclassed()
    sub(np.ones((1, 8), np.float32))
    sub.set_weights(functional.get_weights())
    assert len(functional.weights) == len(sub.weights) == 4
    for a, b in zip(functional.weights, sub.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy())
    x = np.random.default_rng(0).standard_normal((5, 8)).astype(np.float32)
    np.testing.assert_allclose(functional.predict(x, verbose=0), sub.predict(x, verbose=0), rtol=1e-6)


# ---- Sequential models of custom layers and of another model's layers ----------------------------------------------
class NestedDenseLayer(layers.Layer):
    def __init__(self, units, name=None):
        super().__init__(name=name)
        self.dense_1 = layers.Dense(units, name="dense_1")
        self.dense_2 = layers.Dense(units, name="dense_2")

    def call(self, inputs):
        return self.dense_2(self.dense_1(inputs))


class Scale(layers.Layer):
    def call(self, x):
        return x * 2.0


@pytest.mark.parametrize("how", ["input first", "input_shape", "deferred", "build"])
def test_sequential_of_custom_layers(how):
    x = np.random.default_rng(1).standard_normal((6, 4)).astype(np.float32)
    nested = NestedDenseLayer(3, "nested")
    if how == "input first":
        model = nncore.Sequential([nncore.Input((4,)), nested, Scale()])
    elif how == "input_shape":
        model = nncore.Sequential([layers.Dense(4, input_shape=(4,), name="first"), nested, Scale()])
    else:
        model = nncore.Sequential([nested, Scale()])
        if how == "build":
            model.build((None, 4))
    y = model(x)
    h = x if how != "input_shape" else x @ model.layers[0].get_weights()[0] + model.layers[0].get_weights()[1]
    w1, b1, w2, b2 = [w.numpy() for w in nested.weights]
    np.testing.assert_allclose(y, ((h @ w1 + b1) @ w2 + b2) * 2.0, rtol=1e-5, atol=1e-6)
    assert [v.name for v in nested.weights] == ["kernel", "bias", "kernel", "bias"]
    assert nested.weights[0].path == "nested/dense_1/kernel"
    model.compile("adam", "mse")
    target = np.zeros((6, 3), np.float32)
    first = model.evaluate(x, target, verbose=0)
    model.fit(x, target, epochs=20, verbose=0)
    assert model.evaluate(x, target, verbose=0) < first


def test_sequential_of_another_models_layers_is_built_and_summarized(capsys):
    pretrained = mlp()
    extracted = pretrained.layers[:-1]
    extracted.append(layers.Dense(5, name="dense_3"))
    model = nncore.Sequential(extracted)
    assert model.built and model.output_shape == (None, 5)
    model.summary()
    text = capsys.readouterr().out
    assert "dense_1 (Dense)" in text and "dense_3 (Dense)" in text and "Total params: 229" in text
    # The layers are shared: the new model computes with the pretrained weights.
    x = np.ones((2, 8), np.float32)
    w, b = pretrained.get_layer("dense_1").get_weights()
    w3, b3 = model.layers[-1].get_weights()
    np.testing.assert_allclose(model.predict(x, verbose=0), np.maximum(x @ w + b, 0) @ w3 + b3, rtol=1e-5, atol=1e-6)


# ---- fit arguments ---------------------------------------------------------------------------------------------------
class Batches(nncore.utils.PyDataset):
    def __init__(self, x, y, batch_size, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.batch_size = x, y, batch_size

    def __len__(self):
        return int(np.ceil(len(self.x) / self.batch_size))

    def __getitem__(self, idx):
        s = slice(idx * self.batch_size, (idx + 1) * self.batch_size)
        return self.x[s], self.y[s]


def test_batch_size_beside_batches_is_ignored_as_in_keras():
    x, y = data()
    model = mlp()
    steps = []
    cb = nncore.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: steps.append(b))
    model.fit(Batches(x, y, 32), batch_size=64, validation_data=Batches(x, y, 32), epochs=1, verbose=0,
              callbacks=[cb])
    assert len(steps) == 4
    assert model.evaluate(Batches(x, y, 32), batch_size=64, verbose=0)[0] == pytest.approx(
        model.evaluate(x, y, verbose=0)[0], rel=1e-5)
    np.testing.assert_allclose(model.predict(Batches(x, y, 32), batch_size=64), model.predict(x, verbose=0),
                               rtol=1e-6)


class StepCounter(nncore.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.counts = []

    def on_epoch_begin(self, epoch, logs=None):
        self.counts.append(0)

    def on_train_batch_end(self, batch, logs=None):
        self.counts[-1] += 1


def test_steps_per_epoch_with_arrays_in_keras_order():
    x, y = data(n=80)
    counter = StepCounter()
    model = mlp()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, batch_size=10, steps_per_epoch=3, epochs=5, verbose=0, callbacks=[counter])
    # 8 batches a pass: epochs take 3, 3, then the 2 left (the pass ran out: Keras warns), then a new pass.
    assert counter.counts == [3, 3, 2, 3, 3]
    assert sum("ran out" in str(w.message) for w in caught) == 1
    # Without batch_size a pass is steps_per_epoch batches (Keras: batch_size = ceil(n / steps)).
    counter = StepCounter()
    model.fit(x, y, steps_per_epoch=6, epochs=2, verbose=0, callbacks=[counter])
    assert counter.counts == [6, 6]
    h = model.fit(x, y, batch_size=16, steps_per_epoch=2, validation_split=0.25, validation_steps=1, epochs=1,
                  verbose=0)
    assert set(h.history) == {"loss", "sparse_categorical_accuracy", "val_loss", "val_sparse_categorical_accuracy"}


def test_steps_per_epoch_over_whole_passes_trains_as_plain_fit():
    x, y = data(n=64)
    w = np.linspace(0.5, 2.0, len(y)).astype(np.float32)
    a, b = mlp(), mlp()
    b.set_weights(a.get_weights())
    ha = a.fit(x, y, batch_size=16, epochs=2, shuffle=False, sample_weight=w, class_weight={1: 3.0}, verbose=0)
    hb = b.fit(x, y, batch_size=16, epochs=2, shuffle=False, sample_weight=w, class_weight={1: 3.0}, verbose=0,
               steps_per_epoch=4, validation_data=(x, y), validation_steps=2)
    np.testing.assert_allclose(ha.history["loss"], hb.history["loss"], rtol=1e-5)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-6)
    # validation_steps=2: the first 2 batches of 16 of the validation data.
    assert hb.history["val_loss"][-1] == pytest.approx(b.evaluate(x[:32], y[:32], verbose=0)[0], rel=1e-5)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        a.fit(x, y, steps_per_epoch=0, verbose=0)


# ---- a Metric subclass sees y_true shaped as given (Keras) -----------------------------------------------------------
class ShapeProbe(nncore.metrics.Metric):
    def __init__(self, **kwargs):
        super().__init__(name="probe", **kwargs)
        self.count = self.add_variable(shape=(), name="count")
        self.shapes = set()

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.shapes.add((y_true.shape[1:], y_pred.shape[1:]))
        # Keras's idiom for integer labels of shape (n,): compares (batch,) with (batch,).
        self.count.assign_add(ops.sum(ops.cast(ops.equal(y_true, ops.argmax(y_pred, axis=-1)), "float32")))

    def result(self):
        return self.count


def test_metric_subclass_gets_targets_shaped_as_given():
    x, y = data(n=40)
    model = mlp()
    probe = ShapeProbe()
    model.compile("rmsprop", "sparse_categorical_crossentropy", metrics=[probe])
    logs = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    assert probe.shapes == {((), (3,))}
    assert logs["probe"] == np.sum(np.argmax(model.predict(x, verbose=0), 1) == y)
    probe.shapes.clear()
    model.evaluate(x, y.reshape(-1, 1), batch_size=16, verbose=0)
    assert probe.shapes == {((1,), (3,))}
    probe.shapes.clear()
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert probe.shapes == {((), (3,))}


# ---- loss objects inside a custom layer's call (add_loss; the LogisticEndpoint example) ------------------------------
class Endpoint(layers.Layer):
    def __init__(self, loss_fn, name=None):
        super().__init__(name=name)
        self.loss_fn = loss_fn

    def call(self, inputs):
        targets, logits, weights = inputs
        self.add_loss(self.loss_fn(targets, logits, weights))
        return ops.softmax(logits)


def _np_softmax(a):
    e = np.exp(a - a.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


@pytest.mark.parametrize("name", ["bce_logits", "bce", "cce_logits", "cce_smoothed", "scce_logits", "mse", "mae_sum"])
def test_builtin_loss_objects_on_keras_tensors(name):
    rng = np.random.default_rng(2)
    x = rng.random((8, 3)).astype(np.float32)
    w = rng.random((8, 1)).astype(np.float32)
    t = rng.random((8, 10)).astype(np.float32) if name != "scce_logits" else \
        rng.integers(0, 10, (8, 1)).astype(np.float32)
    losses = nncore.losses
    fn, act = {"bce_logits": (losses.BinaryCrossentropy(from_logits=True), None),
               "bce": (losses.BinaryCrossentropy(), "sigmoid"),
               "cce_logits": (losses.CategoricalCrossentropy(from_logits=True), None),
               "cce_smoothed": (losses.CategoricalCrossentropy(label_smoothing=0.2), "softmax"),
               "scce_logits": (losses.SparseCategoricalCrossentropy(from_logits=True), None),
               "mse": (losses.MeanSquaredError(), None),
               "mae_sum": (losses.MeanAbsoluteError(reduction="sum"), None)}[name]
    inp, tgt, wgt = nncore.Input((3,)), nncore.Input(t.shape[1:]), nncore.Input((1,))
    dense = layers.Dense(10)
    pred = dense(inp)
    if act is not None:
        pred = layers.Activation(act)(pred)
    model = nncore.Model([inp, tgt, wgt], Endpoint(fn)([tgt, pred, wgt]))
    model.compile(optimizer=nncore.optimizers.SGD(0.0))  # no loss of its own: add_loss alone
    got = model.fit([x, t, w], epochs=1, batch_size=8, verbose=0).history["loss"][0]

    z = x @ dense.get_weights()[0] + dense.get_weights()[1]
    s = 1 / (1 + np.exp(-z))
    if name == "bce_logits":
        v = np.mean(np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z))), 1)
    elif name == "bce":
        p = np.clip(s, 1e-7, 1 - 1e-7)
        v = -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p), 1)
    elif name == "cce_logits":
        v = -np.sum(t * np.log(_np_softmax(z)), 1)
    elif name == "cce_smoothed":
        v = -np.sum((t * 0.8 + 0.02) * np.log(np.clip(_np_softmax(z), 1e-7, 1 - 1e-7)), 1)
    elif name == "scce_logits":
        v = -np.log(_np_softmax(z))[np.arange(8), t[:, 0].astype(int)]
    elif name == "mse":
        v = np.mean((z - t) ** 2, 1)
    else:
        v = np.mean(np.abs(z - t), 1)
    want = np.sum(v * w[:, 0]) if name == "mae_sum" else np.mean(v * w[:, 0])
    assert got == pytest.approx(want, rel=1e-5)


def test_loss_only_model_from_an_endpoint_layer_trains():
    rng = np.random.default_rng(3)
    x = rng.random((64, 3)).astype(np.float32)
    t = (x @ rng.standard_normal((3, 10)) > 0).astype(np.float32)

    class LogisticEndpoint(layers.Layer):
        def __init__(self, name=None):
            super().__init__(name=name)
            self.loss_fn = nncore.losses.BinaryCrossentropy(from_logits=True)

        def call(self, inputs):
            targets, logits = inputs
            self.add_loss(self.loss_fn(targets, logits))
            return ops.softmax(logits)

    inputs = nncore.Input((3,), name="inputs")
    targets = nncore.Input((10,), name="targets")
    logits = layers.Dense(10)(inputs)
    model = nncore.Model([inputs, targets], LogisticEndpoint(name="predictions")([targets, logits]))
    model.compile(optimizer="adam")
    h = model.fit({"inputs": x, "targets": t}, epochs=30, batch_size=16, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]


def test_custom_layer_called_with_several_inputs_one_by_one():
    """training_with_built_in_methods' LogisticEndpoint: call(self, targets, logits, sample_weights=None) called as
    layer(targets, logits), in a model compiled without a loss, fit on a dict without y."""
    import nncore as keras
    from nncore import ops

    class LogisticEndpoint(keras.layers.Layer):
        def __init__(self, name=None):
            super().__init__(name=name)
            self.loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)

        def call(self, targets, logits, sample_weights=None):
            loss = self.loss_fn(targets, logits, sample_weights)
            self.add_loss(loss)
            return ops.softmax(logits)

    inputs = keras.Input(shape=(3,), name="inputs")
    targets = keras.Input(shape=(10,), name="targets")
    logits = keras.layers.Dense(10)(inputs)
    predictions = LogisticEndpoint(name="predictions")(targets, logits)
    model = keras.Model(inputs=[inputs, targets], outputs=predictions)
    model.compile(optimizer="adam")
    rng = np.random.default_rng(0)
    data = {"inputs": rng.random((8, 3)), "targets": (rng.random((8, 10)) > 0.5).astype(np.float32)}
    before = model.evaluate(data, verbose=0)
    model.fit(data, epochs=20, verbose=0)
    assert model.evaluate(data, verbose=0) < before
    p = model.predict(data, verbose=0)
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-5)
    # On arrays the same call runs eagerly.
    layer = LogisticEndpoint()
    out = layer(np.zeros((2, 10), np.float32), np.ones((2, 10), np.float32))
    np.testing.assert_allclose(out, np.full((2, 10), 0.1), rtol=1e-6)
    assert len(layer.losses) == 1


def test_positional_training_flag():
    import nncore as keras
    drop = keras.layers.Dropout(0.5)
    x = np.ones((4, 100), np.float32)
    assert np.array_equal(drop(x, False), x)
    assert not np.array_equal(drop(x, True), x)
    with pytest.raises(TypeError, match=r"takes one input, or a list of them; got 2 positional arguments"):
        keras.layers.Dense(2)(x, x)
