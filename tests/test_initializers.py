"""nncore.initializers (python/nncore/initializers.py, cpp/src/layers/initializers.cpp): Keras 3's initializer objects
with their arguments, drawn in C++ when a layer is built; statistics on large tensors, seeds, every layer that takes
an initializer, configs (get_config/from_config, save/load, C++ load), names, get/serialize/deserialize, a user's
callable (run in Python at build), bad arguments."""
import json
import math
import os

import numpy as np
import pytest

import nncore
from nncore import initializers as I
from nncore import layers as L

TRUNC_STD = 0.87962566103423978  # stddev of N(0, 1) cut to [-2, 2]


@pytest.fixture(autouse=True)
def _seeded():
    nncore.set_random_seed(1234)  # unseeded draws come from nncore's stream: fixed, so the statistics are too


def stats(a):
    a = np.asarray(a, np.float64)
    return a.mean(), a.std()


# ---- distributions, called directly ----------------------------------------------------------------------------------
def test_random_normal_mean_and_std():
    w = I.RandomNormal(mean=1.5, stddev=0.3)((400, 500))
    assert w.shape == (400, 500) and w.dtype == np.float32
    m, s = stats(w)
    assert m == pytest.approx(1.5, abs=0.005)
    assert s == pytest.approx(0.3, rel=0.01)
    assert np.abs(w - 1.5).max() > 4 * 0.3  # not truncated


def test_random_uniform_bounds_mean_and_std():
    w = I.RandomUniform(minval=-0.2, maxval=0.6)((400, 500))
    assert w.min() >= -0.2 and w.max() < 0.6
    assert w.min() < -0.199 and w.max() > 0.599
    m, s = stats(w)
    assert m == pytest.approx(0.2, abs=0.003)
    assert s == pytest.approx(0.8 / math.sqrt(12), rel=0.01)


def test_truncated_normal_stays_within_two_stddev():
    w = I.TruncatedNormal(mean=-1.0, stddev=0.5)((400, 500))
    assert w.min() >= -1.0 - 2 * 0.5 and w.max() <= -1.0 + 2 * 0.5
    assert w.min() < -1.95 and w.max() > -0.05  # reaches close to both bounds
    m, s = stats(w)
    assert m == pytest.approx(-1.0, abs=0.005)
    assert s == pytest.approx(0.5 * TRUNC_STD, rel=0.01)  # redrawn, not rescaled (Keras)


@pytest.mark.parametrize("shape,fan_in,fan_out", [((300, 700), 300, 700), ((3, 3, 40, 60), 360, 540),
                                                   ((5, 200, 300), 1000, 1500)])
@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
@pytest.mark.parametrize("distribution", ["truncated_normal", "untruncated_normal", "uniform"])
def test_variance_scaling_fan_modes_and_distributions(shape, fan_in, fan_out, mode, distribution):
    scale = 3.0
    fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    std = math.sqrt(scale / fan)
    w = I.VarianceScaling(scale=scale, mode=mode, distribution=distribution)(shape).astype(np.float64)
    assert w.std() == pytest.approx(std, rel=0.02)
    assert abs(w.mean()) < 0.02 * std
    if distribution == "uniform":
        assert np.abs(w).max() <= std * math.sqrt(3) * (1 + 1e-6)
    elif distribution == "truncated_normal":
        assert np.abs(w).max() <= 2 * std / TRUNC_STD * (1 + 1e-6)
    else:
        assert np.abs(w).max() > 2 * std / TRUNC_STD


def test_variance_scaling_normal_means_truncated_normal():
    assert I.VarianceScaling(distribution="Normal").distribution == "truncated_normal"


@pytest.mark.parametrize("cls,scale,mode,uniform", [
    (I.GlorotUniform, 1.0, "fan_avg", True), (I.GlorotNormal, 1.0, "fan_avg", False),
    (I.HeUniform, 2.0, "fan_in", True), (I.HeNormal, 2.0, "fan_in", False),
    (I.LecunUniform, 1.0, "fan_in", True), (I.LecunNormal, 1.0, "fan_in", False)])
def test_named_variance_scaling_initializers(cls, scale, mode, uniform):
    fan_in, fan_out = 300, 700
    fan = fan_in if mode == "fan_in" else (fan_in + fan_out) / 2
    w = cls()((fan_in, fan_out)).astype(np.float64)
    assert w.std() == pytest.approx(math.sqrt(scale / fan), rel=0.02)
    init = cls(seed=3)
    assert (init.scale, init.mode, init.distribution) == (scale, mode, "uniform" if uniform else "truncated_normal")
    assert init.get_config() == {"seed": 3}


@pytest.mark.parametrize("shape", [(50, 30), (30, 50), (40, 40), (3, 3, 4, 8), (2, 3, 20)])
def test_orthogonal_is_orthonormal_times_gain(shape):
    gain = 2.0
    w = I.Orthogonal(gain=gain)(shape).astype(np.float64)
    m = w.reshape(-1, shape[-1])
    rows, cols = m.shape
    gram = m.T @ m if rows >= cols else m @ m.T
    np.testing.assert_allclose(gram, gain ** 2 * np.eye(min(rows, cols)), atol=1e-5)


def test_orthogonal_needs_rank_two():
    with pytest.raises(ValueError, match=r"Orthogonal initializer needs a weight of rank >= 2, got shape \(5,\)"):
        I.Orthogonal()((5,))


def test_identity_constant_zeros_ones():
    np.testing.assert_array_equal(I.Identity(gain=3.0)((4, 6)), 3.0 * np.eye(4, 6, dtype=np.float32))
    np.testing.assert_array_equal(I.Identity()((5, 2)), np.eye(5, 2, dtype=np.float32))
    with pytest.raises(ValueError, match=r"Identity initializer needs a 2-D weight, got shape \(2, 2, 2\)"):
        I.Identity()((2, 2, 2))
    np.testing.assert_array_equal(I.Constant(2.5)((3, 2)), np.full((3, 2), 2.5, np.float32))
    np.testing.assert_array_equal(I.Zeros()((2, 3)), np.zeros((2, 3), np.float32))
    np.testing.assert_array_equal(I.Ones()((4,)), np.ones(4, np.float32))
    assert I.Ones()(()).shape == ()


def test_dtype_and_shape_arguments():
    assert I.RandomNormal()((3, 4), dtype="float64").dtype == np.float64
    assert I.Ones()((2,), dtype=np.int32).dtype == np.int32
    assert I.Zeros()(5).shape == (5,)
    with pytest.raises(ValueError, match=r"RandomNormal: shape must be a tuple of ints >= 0, got \(3, -1\)"):
        I.RandomNormal()((3, -1))
    with pytest.raises(ValueError, match=r"RandomNormal: dtype must be a numeric dtype"):
        I.RandomNormal()((3,), dtype="str")


# ---- seeds -------------------------------------------------------------------------------------------------------------
def test_seeded_initializer_gives_the_same_values_each_call():
    init = I.RandomNormal(stddev=0.1, seed=7)
    a, b = init((20, 30)), init((20, 30))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, I.RandomNormal(stddev=0.1, seed=8)((20, 30)))


def test_unseeded_initializer_follows_nncore_seed():
    nncore.set_random_seed(11)
    a = I.GlorotUniform()((8, 9))
    b = I.GlorotUniform()((8, 9))
    nncore.set_random_seed(11)
    np.testing.assert_array_equal(I.GlorotUniform()((8, 9)), a)
    assert not np.array_equal(a, b)  # a fresh draw per call


def _dense_kernel(init, seed, fan_in=6, units=5):
    nncore.set_random_seed(seed)
    layer = L.Dense(units, kernel_initializer=init)
    layer.build((None, fan_in))
    return layer.get_weights()[0]


def test_layer_draw_is_seeded_by_nncore_and_by_the_initializer():
    init = I.RandomNormal(0.0, 0.02)
    a, b, c = _dense_kernel(init, 1), _dense_kernel(init, 1), _dense_kernel(init, 2)
    np.testing.assert_array_equal(a, b)  # bit-identical reruns under nncore's seed
    assert not np.array_equal(a, c)
    assert a.std() == pytest.approx(0.02, rel=0.5)
    seeded = I.RandomNormal(0.0, 0.02, seed=5)
    s1, s2 = _dense_kernel(seeded, 1), _dense_kernel(seeded, 2)
    np.testing.assert_array_equal(s1, s2)  # the initializer's seed decides alone
    np.testing.assert_array_equal(s1, seeded((6, 5)))  # what calling it directly gives


def test_two_layers_with_one_unseeded_initializer_differ():
    init = I.HeNormal()
    nncore.set_random_seed(0)
    model = nncore.Sequential([L.Dense(8, kernel_initializer=init, input_shape=(8,)), L.Dense(8, kernel_initializer=init)])
    k1, k2 = model.layers[0].get_weights()[0], model.layers[1].get_weights()[0]
    assert not np.array_equal(k1, k2)


# ---- every layer that takes initializers ----------------------------------------------------------------------------
LAYERS = [
    (lambda i: L.Dense(3, kernel_initializer=i, bias_initializer=i), (None, 4), ["kernel", "bias"]),
    (lambda i: L.Conv2D(2, 3, kernel_initializer=i, bias_initializer=i), (None, 5, 5, 2), ["kernel", "bias"]),
    (lambda i: L.Conv1D(2, 3, kernel_initializer=i, bias_initializer=i), (None, 6, 2), ["kernel", "bias"]),
    (lambda i: L.Conv2DTranspose(2, 3, kernel_initializer=i, bias_initializer=i), (None, 4, 4, 3),
     ["kernel", "bias"]),
    (lambda i: L.Conv1DTranspose(2, 3, kernel_initializer=i, bias_initializer=i), (None, 4, 3), ["kernel", "bias"]),
    (lambda i: L.Embedding(10, 4, embeddings_initializer=i), (None, 5), ["embeddings"]),
    (lambda i: L.SimpleRNN(3, kernel_initializer=i, recurrent_initializer=i, bias_initializer=i), (None, 4, 2),
     ["kernel", "recurrent_kernel", "bias"]),
    (lambda i: L.LSTM(3, kernel_initializer=i, recurrent_initializer=i, bias_initializer=i, unit_forget_bias=False),
     (None, 4, 2), ["kernel", "recurrent_kernel", "bias"]),
    (lambda i: L.GRU(3, kernel_initializer=i, recurrent_initializer=i, bias_initializer=i), (None, 4, 2),
     ["kernel", "recurrent_kernel", "bias"]),
    (lambda i: L.BatchNormalization(beta_initializer=i, gamma_initializer=i, moving_mean_initializer=i,
                                    moving_variance_initializer=i), (None, 3), ["gamma", "beta", "moving_mean",
                                                                               "moving_variance"]),
    (lambda i: L.LayerNormalization(beta_initializer=i, gamma_initializer=i), (None, 3), ["gamma", "beta"]),
    (lambda i: L.PReLU(alpha_initializer=i), (None, 3), ["alpha"]),
]
LAYER_IDS = ["Dense", "Conv2D", "Conv1D", "Conv2DTranspose", "Conv1DTranspose", "Embedding", "SimpleRNN", "LSTM", "GRU",
             "BatchNormalization", "LayerNormalization", "PReLU"]


@pytest.mark.parametrize("make,shape,weights", LAYERS, ids=LAYER_IDS)
@pytest.mark.parametrize("init", [I.Constant(0.75), {"class_name": "Constant", "config": {"value": 0.75}},
                                  lambda shape, dtype=None: np.full(shape, 0.75, dtype)],
                         ids=["object", "dict", "callable"])
def test_every_layer_accepts_initializer_objects(make, shape, weights, init):
    layer = make(init)
    layer.build(shape)
    assert [n for n in layer._impl.weight_names] == weights
    for w in layer.get_weights():
        np.testing.assert_array_equal(w, np.full(w.shape, 0.75, np.float32))


@pytest.mark.parametrize("make,shape,weights", LAYERS, ids=LAYER_IDS)
def test_every_layer_accepts_names_and_round_trips_its_config(make, shape, weights):
    layer = make("Ones")
    layer.build(shape)
    for w in layer.get_weights():
        np.testing.assert_array_equal(w, 1.0)
    seeded = make(I.RandomUniform(-0.3, 0.3, seed=4))
    seeded.build(shape)
    config = seeded.get_config()
    keys = [k for k in config if k.endswith("_initializer")]
    assert keys and all(config[k] == I.serialize(I.RandomUniform(-0.3, 0.3, seed=4)) for k in keys)
    again = type(seeded).from_config(config)
    assert again.get_config() == {**config, "name": again.name}
    again.build(shape)
    for a, b in zip(seeded.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)  # seeded: the same draw


def test_config_keeps_bare_names_and_canonical_snake_case():
    layer = L.Dense(2, kernel_initializer="GlorotNormal", bias_initializer=I.Zeros())
    config = layer.get_config()
    assert config["kernel_initializer"] == "glorot_normal" and config["bias_initializer"] == "zeros"
    assert L.Embedding(3, 2).get_config()["embeddings_initializer"] == "uniform"
    assert L.Dense(2, kernel_initializer=I.HeNormal(seed=1)).get_config()["kernel_initializer"] == {
        "module": "keras.initializers", "class_name": "HeNormal", "config": {"seed": 1}, "registered_name": None}


def test_keras_3_config_with_initializer_dicts_loads():
    config = {"name": "from_keras", "trainable": True, "dtype": "float32", "units": 30, "activation": "linear",
              "use_bias": True,
              "kernel_initializer": {"module": "keras.initializers", "class_name": "VarianceScaling",
                                     "config": {"scale": 2.0, "mode": "fan_out", "distribution": "uniform",
                                                "seed": 7}, "registered_name": None},
              "bias_initializer": {"module": "keras.initializers", "class_name": "Constant", "config": {"value": 0.5},
                                   "registered_name": None},
              "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
              "kernel_constraint": None, "bias_constraint": None}
    layer = L.Dense.from_config({k: v for k, v in config.items() if k not in ("dtype", "kernel_constraint",
                                                                               "bias_constraint")})
    layer.build((None, 400))
    k, b = layer.get_weights()
    np.testing.assert_array_equal(b, 0.5)
    np.testing.assert_array_equal(k, I.VarianceScaling(2.0, "fan_out", "uniform", seed=7)((400, 30)))
    assert np.abs(k).max() <= math.sqrt(3 * 2.0 / 30)


def test_save_load_and_cpp_load_keep_initializers(tmp_path):
    nncore.set_random_seed(3)
    inp = nncore.Input((6,))
    h = L.Dense(8, activation="relu", kernel_initializer=I.RandomNormal(0.0, 0.02),
                bias_initializer=I.Constant(0.1))(inp)
    h = L.BatchNormalization(gamma_initializer=I.RandomUniform(0.9, 1.1, seed=2))(h)
    out = L.Dense(2, kernel_initializer=I.Orthogonal(gain=0.5, seed=1))(h)
    model = nncore.Model(inp, out)
    path = os.fspath(tmp_path / "init.nncore")
    model.save(path)
    loaded = nncore.load_model(path)
    assert loaded.get_config() == model.get_config()
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    cpp = nncore._core.load_model(path, False)  # the C++ reader alone
    assert json.loads(nncore._core.model_config(cpp)) == model.get_config()
    # A model made again from the config draws seeded initializers identically.
    again = nncore.Model.from_config(model.get_config())
    np.testing.assert_array_equal(again.layers[-1].get_weights()[0], model.layers[-1].get_weights()[0])


# ---- get / serialize / deserialize ----------------------------------------------------------------------------------
def test_get_names_classes_dicts_and_callables():
    assert type(I.get("glorot_uniform")) is I.GlorotUniform
    assert type(I.get("GlorotUniform")) is I.GlorotUniform
    assert type(I.get("uniform")) is I.RandomUniform and type(I.get("normal")) is I.RandomNormal
    assert type(I.get("orthogonal")) is I.Orthogonal and I.OrthogonalInitializer is I.Orthogonal
    assert type(I.get(I.HeNormal)) is I.HeNormal
    assert I.get(None) is None
    fn = lambda shape, dtype=None: np.zeros(shape)  # noqa: E731
    assert I.get(fn) is fn
    init = I.get({"class_name": "TruncatedNormal", "config": {"mean": 1.0, "stddev": 2.0, "seed": 3}})
    assert (type(init), init.mean, init.stddev, init.seed) == (I.TruncatedNormal, 1.0, 2.0, 3)
    assert I.random_normal is I.RandomNormal and I.glorot_uniform is I.GlorotUniform
    with pytest.raises(ValueError, match="Could not interpret initializer identifier: 3"):
        I.get(3)
    with pytest.raises(ValueError, match="unknown initializer class 'Bogus'"):
        I.get("Bogus")


@pytest.mark.parametrize("init", [I.Zeros(), I.Ones(), I.Constant(3.0), I.Identity(2.0), I.RandomNormal(1.0, 2.0, 3),
                                  I.RandomUniform(-1.0, 2.0, 4), I.TruncatedNormal(0.5, 0.1),
                                  I.VarianceScaling(0.5, "fan_avg", "untruncated_normal", 9), I.GlorotUniform(1),
                                  I.GlorotNormal(), I.HeUniform(2), I.HeNormal(), I.LecunUniform(), I.LecunNormal(5),
                                  I.Orthogonal(1.5, 6)], ids=lambda i: type(i).__name__)
def test_serialize_round_trip(init):
    s = I.serialize(init)
    assert s == {"module": "keras.initializers", "class_name": type(init).__name__, "config": init.get_config(),
                 "registered_name": None}
    back = I.deserialize(json.loads(json.dumps(s)))
    assert type(back) is type(init) and back.get_config() == init.get_config()
    assert type(init).from_config(init.get_config()).get_config() == init.get_config()
    assert init.clone().get_config() == init.get_config()
    # C++ reads the same form and writes it back.
    assert json.loads(nncore._core.Initializer.from_config(json.dumps(s)).to_config()) in (s, _snake(init))


def _snake(init):
    import re
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", type(init).__name__).lower()


# ---- a user's initializer --------------------------------------------------------------------------------------------
def test_user_function_runs_in_python_at_build():
    calls = []

    def my_init(shape, dtype=None):
        calls.append((shape, dtype))
        return np.arange(np.prod(shape), dtype=np.float64).reshape(shape) / 10

    layer = L.Dense(3, kernel_initializer=my_init)
    assert calls == []  # not before build
    layer.build((None, 2))
    assert calls == [((2, 3), "float32")]
    np.testing.assert_allclose(layer.get_weights()[0], np.arange(6).reshape(2, 3) / 10, rtol=1e-6)
    assert layer.get_config()["kernel_initializer"] == {"module": __name__, "class_name": "function",
                                                        "config": "my_init", "registered_name": "my_init"}


def test_user_function_with_a_bad_result_raises_naming_the_weight():
    with pytest.raises(ValueError, match=r"Dense 'bad_shape' weight 'kernel': the initializer returned shape \(3,\), "
                                         r"expected \(2, 3\)"):
        L.Dense(3, kernel_initializer=lambda shape, dtype=None: np.zeros(3), name="bad_shape").build((None, 2))
    with pytest.raises(ValueError, match=r"weight 'bias': the initializer returned NaN or inf"):
        L.Dense(3, bias_initializer=lambda shape, dtype=None: np.full(shape, np.nan)).build((None, 2))
    with pytest.raises(ValueError, match=r"the initializer returned str, expected an array of shape \(2, 3\)"):
        L.Dense(3, kernel_initializer=lambda shape, dtype=None: "x").build((None, 2))

    def raises(shape, dtype=None):
        raise KeyError("from the user")

    layer = L.Dense(3, kernel_initializer=raises)
    with pytest.raises(KeyError, match="from the user"):
        layer.build((None, 2))
    assert not layer.built


@nncore.saving.register_keras_serializable(package="test_init")
class Halves(I.Initializer):
    def __init__(self, value=0.5):
        self.value = value

    def __call__(self, shape, dtype=None):
        return np.full(shape, self.value, dtype or np.float32)

    def get_config(self):
        return {"value": self.value}


@nncore.saving.register_keras_serializable(package="test_init")
def quarter_init(shape, dtype=None):
    return np.full(shape, 0.25, dtype)


def test_registered_user_initializers_round_trip(tmp_path):
    layer = L.Dense(2, kernel_initializer=Halves(0.3), bias_initializer=quarter_init)
    config = layer.get_config()
    assert config["kernel_initializer"]["registered_name"] == "test_init>Halves"
    assert config["bias_initializer"]["registered_name"] == "test_init>quarter_init"
    again = L.Dense.from_config(config)
    again.build((None, 3))
    np.testing.assert_allclose(again.get_weights()[0], 0.3)
    np.testing.assert_array_equal(again.get_weights()[1], 0.25)
    assert type(I.deserialize(config["kernel_initializer"])) is Halves
    model = nncore.Sequential([L.Dense(2, kernel_initializer=Halves(0.3), input_shape=(3,))])
    model.set_weights([np.ones((3, 2)), np.zeros(2)])
    path = os.fspath(tmp_path / "user_init.nncore")
    model.save(path)
    loaded = nncore.load_model(path)
    np.testing.assert_array_equal(loaded.get_weights()[0], 1.0)  # the file's values, not the initializer's
    clone = nncore.models.clone_model(model)
    np.testing.assert_allclose(clone.get_weights()[0], 0.3)


def test_unregistered_user_function_loads_from_a_file_but_not_from_a_config(tmp_path):
    calls = []

    def local_init(shape, dtype=None):
        calls.append(shape)
        return np.full(shape, 2.0, dtype)

    model = nncore.Sequential([L.Dense(2, kernel_initializer=local_init, input_shape=(3,))])
    path = os.fspath(tmp_path / "local_init.nncore")
    model.save(path)
    loaded = nncore.load_model(path)  # the weights come from the file: the function is neither needed nor run
    np.testing.assert_array_equal(loaded.get_weights()[0], 2.0)
    assert len(calls) == 1
    with pytest.raises(ValueError, match=r"weight 'kernel': its initializer .*local_init.* is a user's function or "
                                         r"class that is not known here; register it"):
        nncore.Model.from_config(model.get_config())
    again = nncore.Model.from_config(model.get_config(), custom_objects={"local_init": local_init})
    np.testing.assert_array_equal(again.get_weights()[0], 2.0)


def test_custom_layer_add_weight_takes_initializer_objects():
    class Scale(L.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], 4), initializer=I.RandomNormal(stddev=0.1, seed=1))
            self.b = self.add_weight(shape=(4,), initializer=lambda shape, dtype=None: np.full(shape, 3.0))

        def call(self, x):
            return nncore.ops.matmul(x, self.w) + self.b

    layer = Scale()
    layer(np.ones((1, 5), np.float32))
    np.testing.assert_array_equal(layer.w.numpy(), I.RandomNormal(stddev=0.1, seed=1)((5, 4)))
    np.testing.assert_array_equal(layer.b.numpy(), 3.0)


# ---- bad arguments -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make,message", [
    (lambda: I.RandomNormal(stddev=-1.0), r"RandomNormal: stddev must be >= 0, got -1.0"),
    (lambda: I.RandomNormal(mean=float("nan")), r"RandomNormal: mean must be a finite number, got nan"),
    (lambda: I.TruncatedNormal(stddev="a"), r"TruncatedNormal: stddev must be a finite number, got 'a'"),
    (lambda: I.RandomUniform(1.0, 0.0), r"RandomUniform: minval must be <= maxval, got minval=1.0, maxval=0.0"),
    (lambda: I.VarianceScaling(scale=0), r"VarianceScaling: scale must be a number > 0, got 0"),
    (lambda: I.VarianceScaling(mode="fan"), r"VarianceScaling: mode must be one of 'fan_in', 'fan_out', "
                                            r"'fan_avg', got 'fan'"),
    (lambda: I.VarianceScaling(distribution="gamma"), r"VarianceScaling: distribution must be one of "
                                                      r"'truncated_normal', 'untruncated_normal', 'uniform', got "
                                                      r"'gamma'"),
    (lambda: I.GlorotUniform(seed=-1), r"GlorotUniform: seed must be None or an int in \[0, 2\*\*53\], got -1"),
    (lambda: I.HeNormal(seed=1.5), r"HeNormal: seed must be None or an int"),
    (lambda: I.Constant([1, 2]), r"Constant: value must be a finite number, got \[1, 2\]"),
    (lambda: I.Orthogonal(gain=None), r"Orthogonal: gain must be a finite number, got None"),
    (lambda: I.Initializer()((2,)), r"Initializer subclasses must implement the __call__\(\) method"),
])
def test_bad_initializer_arguments(make, message):
    with pytest.raises((ValueError, NotImplementedError), match=message):
        make()


def test_bad_layer_initializer_arguments_name_the_layer_and_argument():
    with pytest.raises(TypeError, match=r"Dense kernel_initializer: expected an initializer name .* got 3"):
        L.Dense(2, kernel_initializer=3)
    with pytest.raises(ValueError, match=r"LSTM 'lstm_bad' recurrent_initializer: unknown initializer 'nope'"):
        L.LSTM(2, recurrent_initializer="nope", name="lstm_bad")
    with pytest.raises(ValueError, match=r"Conv2D kernel_initializer: unknown initializer class 'Nope'"):
        L.Conv2D(2, 3, kernel_initializer={"class_name": "Nope", "config": {}})
    # Configs are checked by C++, naming the layer, the argument, expected and received.
    bad = {"units": 2, "name": "cfg", "kernel_initializer": {"class_name": "RandomNormal", "config": {"stddev": -2}}}
    with pytest.raises(ValueError, match=r"Dense 'cfg' kernel_initializer \(RandomNormal\) stddev: expected a number "
                                         r">= 0, got -2"):
        L.Dense.from_config(bad)
    bad["kernel_initializer"] = {"class_name": "GlorotUniform", "config": {"scale": 2}}
    with pytest.raises(ValueError, match=r"unexpected argument 'scale'; GlorotUniform takes seed"):
        L.Dense.from_config(bad)
    bad["kernel_initializer"] = {"module": "keras.initializers", "class_name": "Glorot", "config": {},
                                 "registered_name": None}
    with pytest.raises(ValueError, match=r"Dense 'cfg' kernel_initializer: unknown initializer class 'Glorot'"):
        L.Dense.from_config(bad)
    bad["kernel_initializer"] = {"class_name": "VarianceScaling", "config": {"mode": "fan", "seed": "x"}}
    with pytest.raises(ValueError, match=r"mode: expected one of fan_in, fan_out, fan_avg, got 'fan'"):
        L.Dense.from_config(bad)
    bad["kernel_initializer"] = {"class_name": "RandomNormal", "config": {"seed": 2 ** 60}}
    with pytest.raises(ValueError, match=r"\(RandomNormal\) seed: expected an integer in \[0, 2\*\*53\] or null"):
        L.Dense.from_config(bad)
    bad["kernel_initializer"] = 5
    with pytest.raises(ValueError, match=r"Dense 'cfg' kernel_initializer: expected an initializer name or a config"):
        L.Dense.from_config(bad)
