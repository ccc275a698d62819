"""Functions as activations (nncore.layers.callable_activations): ``activation=fn`` of Dense, the Conv layers and
``Activation(fn)``, traced into C++ op nodes behind the same layer object. Outputs and gradients against NumPy
float64 and finite differences, training, save/load in Python and in C++, configs with registration and
custom_objects, clone_model, and the errors for what cannot be traced."""
from __future__ import annotations

import math
import re
import subprocess

import numpy as np
import pytest

import nncore
from nncore import activations as A
from nncore import ops
from nncore.layers import (GRU, LSTM, Activation, Conv1D, Conv2D, Conv2DTranspose, Dense, Flatten, SimpleRNN,
                           TimeDistributed)
from graph_helpers import gradient_errors, seeded  # noqa: F401 - seeded: an autouse fixture


@nncore.saving.register_keras_serializable(package="callable_tests", name="custom_fn")
def custom_fn(x):
    """The serialization guide's example."""
    return x ** 2


def shifted_softplus(x):
    """Not registered: found only through custom_objects (or not at all)."""
    return ops.softplus(x) - math.log(2.0)


def _sig(z):
    return 1.0 / (1.0 + np.exp(-z))


# (function, f(z), f'(z)) in float64
FUNCTIONS = {
    "custom_fn": (custom_fn, lambda z: z ** 2, lambda z: 2 * z),
    "shifted_softplus": (shifted_softplus, lambda z: np.log1p(np.exp(z)) - math.log(2.0), _sig),
    "lambda_gelu_approx": (lambda t: t * ops.sigmoid(1.702 * t), lambda z: z * _sig(1.702 * z),
                           lambda z: _sig(1.702 * z) + 1.702 * z * _sig(1.702 * z) * (1 - _sig(1.702 * z))),
    "silu": (A.silu, lambda z: z * _sig(z), lambda z: _sig(z) + z * _sig(z) * (1 - _sig(z))),
    "mish": (A.mish, lambda z: z * np.tanh(np.log1p(np.exp(z))),
             lambda z: np.tanh(np.log1p(np.exp(z))) + z * _sig(z) * (1 - np.tanh(np.log1p(np.exp(z))) ** 2)),
}


def _data(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# ---- what a function becomes -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "softmax", "leaky_relu", "gelu", "elu", "linear"])
def test_functions_the_cpp_layers_have_are_not_traced(name):
    layer = Dense(3, activation=getattr(A, name))
    assert layer._impl.class_name == "Dense" and layer.get_config()["activation"] == name
    assert layer.activation is getattr(A, name)

    def keras_twin(x):  # Keras's function of that name (same defaults) maps the same way
        return x
    keras_twin.__name__, keras_twin.__module__ = name, "keras.src.activations.activations"
    assert Activation(keras_twin)._impl.class_name == "Activation"


def test_keras_functions_map_to_nncore():
    import os
    os.environ.setdefault("KERAS_BACKEND", "torch")  # as test_keras_files: real Keras where it is installed
    keras = pytest.importorskip("keras")
    assert Dense(3, activation=keras.activations.gelu)._impl.class_name == "Dense"
    layer = Dense(3, activation=keras.activations.silu)
    assert layer.activation is A.silu and layer.get_config()["activation"] == "silu"
    with pytest.raises(ValueError, match=r"activation=keras.*celu is a Keras function that nncore.activations"):
        Dense(3, activation=keras.activations.celu)


def test_a_users_function_named_like_a_builtin_is_traced():
    def relu(x):  # not nncore's relu: must not run as one
        return x * x
    x = _data(4, 3)
    layer = Dense(2, activation=relu)
    y = layer.forward(x)
    assert layer._impl.class_name == "TracedLayer"
    np.testing.assert_allclose(y, (x @ layer.kernel.numpy() + layer.bias.numpy()) ** 2, rtol=1e-5, atol=1e-6)


def test_layer_keeps_its_face():
    layer = Dense(3, activation=custom_fn, kernel_regularizer="l2", name="head")
    layer.build((None, 4))
    assert isinstance(layer, Dense) and layer.name == "head" and layer.units == 3
    assert [w.shape for w in layer.weights] == [(4, 3), (3,)] and layer.count_params() == 15
    assert layer.kernel.shape == (4, 3) and layer.bias.shape == (3,)
    config = layer.get_config()
    plain = Dense(3, kernel_regularizer="l2", name="head_plain").get_config()
    assert {k: v for k, v in config.items() if k not in ("name", "activation")} == \
           {k: v for k, v in plain.items() if k not in ("name", "activation")}
    assert config["activation"] == {"module": __name__, "class_name": "function", "config": "callable_tests>custom_fn",
                                    "registered_name": "callable_tests>custom_fn"}
    conv = Conv2D(4, 3, activation=A.silu, padding="same")
    assert conv.filters == 4 and conv.kernel_size == (3, 3) and conv.padding == "same"
    assert conv.get_config()["activation"] == "silu"  # nncore's (Keras's) functions by name, as Keras writes them


# ---- outputs and gradients ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_dense_outputs_and_gradients_match_float64_and_finite_differences(name):
    fn, f, df = FUNCTIONS[name]
    inp = nncore.Input((5,))
    layer = Dense(4, activation=fn)
    model = nncore.Model(inp, layer(inp))
    model.compile("sgd", "mse")
    x, y = _data(6, 5), _data(6, 4, seed=1)
    W, b = layer.kernel.numpy().astype(np.float64), layer.bias.numpy().astype(np.float64)
    z = x.astype(np.float64) @ W + b
    np.testing.assert_allclose(model.predict(x, verbose=0), f(z), rtol=1e-5, atol=1e-6)

    loss = model.compute_gradients(x, y)
    dpred = 2.0 * (f(z) - y) / y.size  # mse: mean over units, then over the batch
    dz = dpred * df(z)
    assert loss == pytest.approx(np.mean((f(z) - y) ** 2), rel=1e-5)
    np.testing.assert_allclose(layer.gradients[0], x.T.astype(np.float64) @ dz, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(layer.gradients[1], dz.sum(axis=0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(model.input_gradient(x, y), dz @ W.T, rtol=1e-4, atol=1e-6)
    assert max(gradient_errors(model, x, y).values()) < 1e-2


def test_layer_by_itself_forward_backward_and_accumulation():
    _, f, df = FUNCTIONS["lambda_gelu_approx"]
    layer = Activation(FUNCTIONS["lambda_gelu_approx"][0])
    x, dy = _data(3, 4, 5), _data(3, 4, 5, seed=1)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(layer.forward(x), f(x64), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.backward(dy), dy * df(x64), rtol=1e-4, atol=1e-6)
    dense = Dense(2, activation=custom_fn)
    dense.forward(x)
    dense.backward(dy[..., :2])
    once = [g.copy() for g in dense.gradients]
    dense.backward(dy[..., :2])  # backward accumulates, as every layer's does
    for g, g1 in zip(dense.gradients, once):
        np.testing.assert_allclose(g, 2 * g1, rtol=1e-6)


@pytest.mark.parametrize("make, shape", [
    (lambda act: Conv2D(3, 3, padding="same", activation=act), (5, 5, 2)),
    (lambda act: Conv1D(3, 2, activation=act), (6, 2)),
    (lambda act: Conv2DTranspose(2, 3, strides=2, activation=act), (3, 3, 2)),
    (lambda act: Dense(3, activation=act), (4, 5)),  # Dense on sequences: the last axis
])
def test_conv_and_sequence_layers_equal_the_linear_layer_then_the_function(make, shape):
    fn, f, df = FUNCTIONS["shifted_softplus"]
    inp = nncore.Input(shape)
    layer, linear = make(fn), make(None)
    model = nncore.Model(inp, layer(inp))
    ref = nncore.Model(inp, linear(inp))
    linear.set_weights(layer.get_weights())
    x, y = _data(2, *shape), None
    z = ref.predict(x, verbose=0).astype(np.float64)
    np.testing.assert_allclose(model.predict(x, verbose=0), f(z), rtol=1e-5, atol=1e-5)
    y = _data(*z.shape, seed=3)
    model.compile("sgd", "mse")
    assert max(gradient_errors(model, x, y).values()) < 1e-2


def test_unknown_lengths_and_time_distributed():
    inp = nncore.Input((None, 3))
    h = Dense(4, activation=custom_fn)(inp)
    out = TimeDistributed(Dense(2, activation=A.mish))(h)
    model = nncore.Model(inp, out)
    for steps in (2, 7):
        x = _data(3, steps, 3, seed=steps)
        dense, td = model.layers[1], model.layers[2].layer  # layers[0]: the InputLayer, as Keras
        z = (x.astype(np.float64) @ dense.kernel.numpy() + dense.bias.numpy()) ** 2
        z = z @ td.kernel.numpy() + td.bias.numpy()
        np.testing.assert_allclose(model.predict(x, verbose=0), FUNCTIONS["mish"][1](z), rtol=1e-4, atol=1e-5)


# ---- training -----------------------------------------------------------------------------------------------------

def test_one_sgd_step_matches_numpy_and_fit_learns():
    fn, f, df = FUNCTIONS["silu"]
    inp = nncore.Input((3,))
    layer = Dense(2, activation=fn)
    model = nncore.Model(inp, layer(inp))
    model.compile(nncore.optimizers.SGD(learning_rate=0.1), "mse")
    x, y = _data(8, 3), _data(8, 2, seed=1)
    W, b = layer.kernel.numpy().astype(np.float64), layer.bias.numpy().astype(np.float64)
    z = x.astype(np.float64) @ W + b
    dz = 2.0 * (f(z) - y) / y.size * df(z)
    model.train_on_batch(x, y)
    np.testing.assert_allclose(layer.kernel.numpy(), W - 0.1 * (x.T @ dz), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.bias.numpy(), b - 0.1 * dz.sum(axis=0), rtol=1e-5, atol=1e-6)

    rng = np.random.default_rng(2)
    xs = rng.uniform(-1, 1, (256, 3)).astype(np.float32)
    ys = (xs @ np.array([[1.0], [-2.0], [0.5]], np.float32)) ** 2  # learnable: custom_fn of a linear map
    net = nncore.Model(inp, Dense(1, activation=custom_fn)(Dense(8, activation=A.silu)(inp)))
    net.compile(nncore.optimizers.Adam(learning_rate=0.01), "mse")
    history = net.fit(xs, ys, epochs=40, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.01 * history.history["loss"][0]


def test_frozen_layer_does_not_train():
    inp = nncore.Input((3,))
    layer = Dense(2, activation=custom_fn, trainable=False)
    model = nncore.Model(inp, Dense(1)(layer(inp)))
    model.compile("adam", "mse")
    before = layer.get_weights()
    model.fit(_data(16, 3), _data(16, 1, seed=1), epochs=2, verbose=0)
    assert not layer.trainable and layer.trainable_weights == []
    for w, w0 in zip(layer.get_weights(), before):
        np.testing.assert_array_equal(w, w0)


# ---- save and load ---------------------------------------------------------------------------------------------------

def _trained_model():
    inp = nncore.Input((5,))
    h = Conv1D(3, 2, activation=custom_fn)(nncore.layers.Reshape((5, 1))(inp))
    h = Activation(shifted_softplus, name="shifted")(Flatten()(h))
    model = nncore.Model(inp, Dense(2, activation=A.mish, name="head")(h))
    model.compile("adam", "mse")
    model.fit(_data(32, 5), _data(32, 2, seed=1), epochs=2, verbose=0)
    return model


def test_save_load_in_python(tmp_path):
    model = _trained_model()
    x = _data(4, 5, seed=2)
    path = tmp_path / "m.nncore"
    model.save(path)
    loaded = nncore.load_model(path)  # shifted_softplus is not registered: its traced ops came with the file
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    conv, shifted, head = loaded.layers[2], loaded.get_layer("shifted"), loaded.get_layer("head")
    assert isinstance(conv, Conv1D) and isinstance(shifted, Activation) and isinstance(head, Dense)
    assert conv.activation is custom_fn and head.activation is A.mish
    assert shifted.activation is None  # unknown here; the layer runs all the same
    assert shifted.get_config() == model.get_layer("shifted").get_config()
    assert conv.get_config() == model.layers[2].get_config() and conv.kernel.shape == (2, 1, 3)
    with nncore.saving.custom_object_scope({"shifted_softplus": shifted_softplus}):
        assert nncore.load_model(path).get_layer("shifted").activation is shifted_softplus
    again = nncore.load_model(path, custom_objects={"shifted_softplus": shifted_softplus})
    assert again.get_layer("shifted").activation is shifted_softplus
    again.fit(_data(32, 5), _data(32, 2, seed=1), epochs=1, verbose=0)  # training resumes


@pytest.fixture
def infer_exe(tmp_path_factory):
    """examples/cpp's infer, built against the installed package (test_cpp_example's fixture, called directly)."""
    import test_cpp_example
    return test_cpp_example.examples_build.__wrapped__(tmp_path_factory) / "infer"


def test_cpp_loads_and_predicts_the_same(infer_exe, tmp_path):
    model = _trained_model()
    x = _data(3, 5, seed=4)
    model.save(tmp_path / "m.nncore")
    x.tofile(tmp_path / "x.f32")
    result = subprocess.run([str(infer_exe), str(tmp_path / "m.nncore"), str(tmp_path / "x.f32")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line for line in result.stdout.splitlines() if re.fullmatch(r"[-0-9.e ]+", line.strip() or "x")]
    got = np.array([[float(v) for v in r.split()] for r in rows[-3:]], np.float32)
    np.testing.assert_allclose(got, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_onnx_export_runs_the_traced_function(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    model = _trained_model()
    model.export_onnx(tmp_path / "m.onnx")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    x = _data(4, 5, seed=5)
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


# ---- configs ---------------------------------------------------------------------------------------------------

def test_activations_get_serialize_deserialize():
    config = A.serialize(custom_fn)
    assert config["registered_name"] == "callable_tests>custom_fn" and config["class_name"] == "function"
    assert A.deserialize(config) is custom_fn and A.get(config) is custom_fn
    assert A.deserialize("callable_tests>custom_fn") is custom_fn and A.get("callable_tests>custom_fn") is custom_fn
    assert A.serialize(A.silu) == "silu" and A.get("silu") is A.silu and A.get(None) is A.linear
    assert A.get(shifted_softplus) is shifted_softplus
    unregistered = A.serialize(shifted_softplus)
    assert unregistered["config"] == unregistered["registered_name"] == "shifted_softplus"
    with pytest.raises(ValueError, match=r"unknown activation 'shifted_softplus'.*register_keras_serializable.*"
                                         r"custom_objects"):
        A.deserialize(unregistered)
    assert A.deserialize(unregistered, custom_objects={"shifted_softplus": shifted_softplus}) is shifted_softplus
    with pytest.raises(ValueError, match="Could not interpret activation"):
        A.get(3)


def test_layer_from_config_finds_the_function():
    layer = Dense(3, activation=custom_fn, name="sq")
    same = Dense.from_config({**layer.get_config(), "name": "sq2"})  # found by its registered name
    assert same.activation is custom_fn and same.name == "sq2" and same.units == 3
    x = _data(2, 4)
    same.build((None, 4))
    np.testing.assert_allclose(same.forward(x), (x @ same.kernel.numpy() + same.bias.numpy()) ** 2, rtol=1e-5)
    assert Dense.from_config(Dense(2, activation=A.silu).get_config()).activation is A.silu

    config = Activation(shifted_softplus).get_config()
    with pytest.raises(ValueError, match=r"shifted_softplus.*register_keras_serializable"):
        Activation.from_config(config)
    with nncore.saving.custom_object_scope({"shifted_softplus": shifted_softplus}):
        assert Activation.from_config(config).activation is shifted_softplus


def test_model_from_config_and_clone_model():
    inp = nncore.Input((4,))
    model = nncore.Model(inp, Activation(shifted_softplus)(Dense(3, activation=custom_fn)(inp)))
    x = _data(5, 4)
    rebuilt = nncore.Model.from_config(model.get_config(), custom_objects={"shifted_softplus": shifted_softplus})
    clone = nncore.models.clone_model(model)  # from the traced graphs: no function needed
    for other in (rebuilt, clone):
        assert [type(l) for l in other.layers] == [type(l) for l in model.layers]
        assert all(a is not b for a, b in zip(other.layers, model.layers))
        other.set_weights(model.get_weights())
        np.testing.assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))
    assert rebuilt.layers[1].activation is custom_fn and rebuilt.layers[2].activation is shifted_softplus
    assert clone.layers[2].activation is None and clone.layers[2].get_config() == model.layers[2].get_config()


# ---- Sequential ------------------------------------------------------------------------------------------------

def test_sequential_whose_first_layer_has_an_input_shape(tmp_path):
    model = nncore.Sequential([Dense(3, activation=custom_fn, input_shape=(4,)), Dense(1)])
    model.compile("adam", "mse")
    x = _data(16, 4)
    model.fit(x, _data(16, 1, seed=1), epochs=2, verbose=0)
    model.save(tmp_path / "s.nncore")
    np.testing.assert_array_equal(nncore.load_model(tmp_path / "s.nncore").predict(x, verbose=0),
                                  model.predict(x, verbose=0))


def test_sequential_traces_the_functions_when_it_builds():
    x, y = _data(16, 4), _data(16, 2, seed=1)
    for model in (nncore.Sequential([nncore.Input((4,)), Dense(3, activation=custom_fn), Activation(A.mish),
                                     Dense(2, activation=shifted_softplus)]),
                  nncore.Sequential([Dense(3), Dense(2, activation=custom_fn)])):  # built by the first batch
        model.compile("adam", "mse")
        history = model.fit(x, y, epochs=2, verbose=0)
        assert np.isfinite(history.history["loss"]).all() and model.predict(x, verbose=0).shape == (16, 2)
    model = nncore.Sequential([Conv2D(2, 3, activation=custom_fn, input_shape=(5, 5, 1)), Flatten(),
                               Dense(2, activation=shifted_softplus)])
    model.compile("sgd", "mse")
    assert max(gradient_errors(model, _data(3, 5, 5, 1), _data(3, 2, seed=2)).values()) < 1e-2
    model = nncore.Sequential([Dense(3, activation=custom_fn)])
    model.build((None, None, 4))  # an unknown length
    for steps in (2, 5):
        x = _data(2, steps, 4, seed=steps)
        np.testing.assert_allclose(model.predict(x, verbose=0), model.layers[0].forward(x), rtol=1e-6)


# ---- what cannot be traced -------------------------------------------------------------------------------------

def test_bad_activations_say_what_is_wrong():
    with pytest.raises(TypeError, match=r"Dense: activation must be a name such as 'relu'.*a function.*got 3"):
        Dense(3, activation=3)
    with pytest.raises(ValueError, match=r"Conv2D: unknown activation 'swish'; valid activations: linear, relu.*"
                                         r"activation=nncore.activations.swish"):
        Conv2D(3, 3, activation="swish")

    def build(fn):
        inp = nncore.Input((4,))
        return Dense(3, activation=fn, name="bad")(inp)
    with pytest.raises(ValueError, match=r"Dense 'bad': activation=.*must return a tensor of its input's shape "
                                         r"\(None, 3\).*got shape \(None,\)"):
        build(lambda t: ops.sum(t, axis=-1))
    with pytest.raises(TypeError, match=r"Dense 'bad.*': activation=.*np_exp could not be traced into nncore ops.*"
                                        r"numpy or math functions"):
        def np_exp(t):
            return np.exp(np.asarray(t, np.float64))
        build(np_exp)
    with pytest.raises(TypeError, match=r"activation=.*branchy could not be traced.*Python branches"):
        def branchy(t):
            return t if t > 0 else -t
        build(branchy)
    with pytest.raises(TypeError, match=r"activation=.*must return a tensor computed from its input.*got float"):
        build(lambda t: 1.0)
    with pytest.raises(TypeError, match=r"could not be traced"):
        build(lambda t, other: t * other)
    other = nncore.Input((3,))
    with pytest.raises(ValueError, match=r"must compute from its input alone"):
        build(lambda t: t * other)

    def celu(x):
        return x
    celu.__module__ = "keras.src.activations.activations"
    with pytest.raises(ValueError, match=r"Dense: activation=.*celu is a Keras function that nncore.activations "
                                         r"does not have"):
        Dense(3, activation=celu)


@pytest.mark.parametrize("make, arg", [
    (lambda: LSTM(3, activation=custom_fn), "LSTM: activation="),
    (lambda: GRU(3, recurrent_activation=A.hard_sigmoid), "GRU: recurrent_activation="),
    (lambda: SimpleRNN(3, activation=lambda t: t * t), "SimpleRNN: activation="),
])
def test_recurrent_cells_take_no_functions(make, arg):
    with pytest.raises(ValueError, match=re.escape(arg) + r".*is a Python function.*fused C\+\+ kernel.*use .*"
                                                          r"custom layer"):
        make()


def test_recurrent_layers_take_the_functions_their_kernels_compute():
    assert LSTM(3, activation=A.tanh, recurrent_activation=A.sigmoid).units == 3
    assert SimpleRNN(3, activation=A.relu).units == 3
    with pytest.raises(ValueError, match="only activation='tanh'"):
        LSTM(3, activation=A.relu)
