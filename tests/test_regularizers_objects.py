"""nncore.regularizers as Keras 3's objects (python/nncore/regularizers.py; the penalties run in the C++ training loop:
cpp/src/kernels/elementwise.cpp regularize and orthogonal_regularize): L1, L2, L1L2, OrthogonalRegularizer,
get/serialize/deserialize, get_config/from_config, configs and files, a user's penalty (refused, naming what to use),
bad arguments."""
import json
import os

import numpy as np
import pytest

import nncore
from nncore import layers as L
from nncore import regularizers as R


def keras_orthogonal(w, factor, mode):
    """Keras 3's OrthogonalRegularizer.__call__ in float64."""
    w = np.asarray(w, np.float64)
    v = w if mode == "rows" else w.T
    n = v * np.minimum(1.0 / np.sqrt((v * v).sum(axis=1, keepdims=True)), 1e7)
    p = n @ n.T
    size = p.shape[0]
    return factor * 0.5 * np.abs(p * (1 - np.eye(size))).sum() / (size * (size - 1) / 2)


# ---- the objects ---------------------------------------------------------------------------------------------------
def test_penalties_as_keras_computes_them():
    w = np.array([[1.0, -2.0], [0.5, 3.0]])
    assert R.L1(0.3)(w) == pytest.approx(0.3 * 6.5)
    assert R.L2(0.1)(w) == pytest.approx(0.1 * (1 + 4 + 0.25 + 9))
    assert R.L1L2(l1=0.3, l2=0.1)(w) == pytest.approx(0.3 * 6.5 + 0.1 * 14.25)
    assert R.L2(2.0)(np.ones((5, 5))) == pytest.approx(50.0)  # Keras's docstring example
    rng = np.random.default_rng(0)
    m = rng.normal(size=(6, 4))
    for mode in ("rows", "columns"):
        assert R.OrthogonalRegularizer(0.2, mode)(m) == pytest.approx(keras_orthogonal(m, 0.2, mode), rel=1e-12)
    assert R.OrthogonalRegularizer()(np.eye(4)) == 0.0
    with pytest.raises(ValueError, match=r"OrthogonalRegularizer: inputs must have rank 2, got shape \(3,\)"):
        R.OrthogonalRegularizer()(np.ones(3))


def test_defaults_and_none_as_keras():
    assert (R.L1().l1, R.L2().l2, R.L1L2().l1, R.L1L2().l2) == (0.01, 0.01, 0.0, 0.0)
    assert (R.L1(None).l1, R.L2(None).l2, R.L1L2(None, None).l1) == (0.01, 0.01, 0.0)
    assert (R.l1_l2().l1, R.l1_l2().l2) == (0.01, 0.01)  # Keras 2's function, kept
    reg = R.OrthogonalRegularizer()
    assert (reg.factor, reg.mode) == (0.01, "rows")
    assert R.orthogonal_regularizer is R.OrthogonalRegularizer


@pytest.mark.parametrize("reg", [R.L1(0.2), R.L2(0.3), R.L1L2(0.1, 0.4), R.OrthogonalRegularizer(0.05, "columns")],
                         ids=lambda r: type(r).__name__)
def test_config_and_serialization_round_trip(reg):
    config = reg.get_config()
    assert type(reg).from_config(config).get_config() == config
    s = R.serialize(reg)
    assert s == {"module": "keras.regularizers", "class_name": type(reg).__name__, "config": config,
                 "registered_name": None}
    back = R.deserialize(json.loads(json.dumps(s)))
    assert type(back) is type(reg) and back.get_config() == config
    assert type(R.get(s)) is type(reg)


def test_get_names_dicts_classes_and_callables():
    assert type(R.get("l1")) is R.L1 and type(R.get("L2")) is R.L2
    assert type(R.get("orthogonal_regularizer")) is R.OrthogonalRegularizer
    assert type(R.get("OrthogonalRegularizer")) is R.OrthogonalRegularizer
    assert type(R.get(R.L1L2)) is R.L1L2
    assert R.get({"l1": 0.5, "l2": 0.25}).get_config() == {"l1": 0.5, "l2": 0.25}  # nncore's layer-config form
    assert R.get({"class_name": "L2", "config": {"l2": 0.7}}).l2 == 0.7  # Keras 2's form
    fn = lambda w: 0.0  # noqa: E731
    assert R.get(fn) is fn
    with pytest.raises(ValueError, match=r"unknown regularizer 'l3'; valid: l1, l2, l1_l2, orthogonal_regularizer"):
        R.get("l3")
    with pytest.raises(TypeError, match=r"regularizer: expected None, a name, a config dict"):
        R.get(3)


@pytest.mark.parametrize("make,message", [
    (lambda: R.L1(-0.1), r"L1: l1 must be a finite number >= 0, got -0.1"),
    (lambda: R.L2("a"), r"L2: l2 must be a finite number >= 0, got 'a'"),
    (lambda: R.L1L2(l2=float("inf")), r"L1L2: l2 must be a finite number >= 0, got inf"),
    (lambda: R.OrthogonalRegularizer(factor=-1), r"OrthogonalRegularizer: factor must be a finite number >= 0, got -1"),
    (lambda: R.OrthogonalRegularizer(mode="diagonal"), r"OrthogonalRegularizer: mode must be 'rows' or 'columns', "
                                                       r"got 'diagonal'"),
])
def test_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# ---- in layers and training -----------------------------------------------------------------------------------------
def _pair(reg, units=5, fan_in=7, seed=0):
    """Two one-Dense models with the same weights, the first with kernel_regularizer=reg."""
    models = []
    for r in (reg, None):
        nncore.set_random_seed(seed)
        model = nncore.Sequential([L.Dense(units, kernel_regularizer=r, input_shape=(fan_in,))])
        model.compile(nncore.optimizers.SGD(learning_rate=0.5), "mse")
        models.append(model)
    models[1].set_weights(models[0].get_weights())
    return models


def _numeric_grad(f, w, eps=1e-6):
    g = np.zeros_like(w)
    for idx in np.ndindex(*w.shape):
        a, b = w.copy(), w.copy()
        a[idx] += eps
        b[idx] -= eps
        g[idx] = (f(a) - f(b)) / (2 * eps)
    return g


@pytest.mark.parametrize("mode", ["rows", "columns"])
def test_orthogonal_regularizer_trains_in_cpp(mode):
    factor = 0.3
    reg_model, plain = _pair(R.OrthogonalRegularizer(factor, mode))
    rng = np.random.default_rng(1)
    x = rng.normal(size=(8, 7)).astype(np.float32)
    y = rng.normal(size=(8, 5)).astype(np.float32)
    w = reg_model.get_weights()[0].astype(np.float64)
    penalty = keras_orthogonal(w, factor, mode)
    assert penalty > 0
    assert reg_model.evaluate(x, y, verbose=0) == pytest.approx(plain.evaluate(x, y, verbose=0) + penalty, rel=1e-5)
    loss_reg, loss_plain = reg_model.train_on_batch(x, y), plain.train_on_batch(x, y)
    assert loss_reg == pytest.approx(loss_plain + penalty, rel=1e-5)
    # One SGD step (lr 0.5): the kernels differ by -lr * d(penalty)/dw.
    grad = _numeric_grad(lambda v: keras_orthogonal(v, factor, mode), w)
    diff = reg_model.get_weights()[0].astype(np.float64) - plain.get_weights()[0].astype(np.float64)
    np.testing.assert_allclose(diff, -0.5 * grad, atol=2e-6)
    np.testing.assert_array_equal(reg_model.get_weights()[1], plain.get_weights()[1])


def test_orthogonal_regularizer_with_one_vector_adds_nothing():
    reg_model, plain = _pair(R.OrthogonalRegularizer(1.0, "columns"), units=1)
    x = np.ones((2, 7), np.float32)
    y = np.zeros((2, 1), np.float32)
    assert reg_model.evaluate(x, y, verbose=0) == pytest.approx(plain.evaluate(x, y, verbose=0))


def test_orthogonal_regularizer_needs_a_2d_weight():
    layer = L.Conv2D(4, 3, kernel_regularizer=R.OrthogonalRegularizer(), name="conv_orth")
    with pytest.raises(ValueError, match=r"Conv2D 'conv_orth' kernel_regularizer: OrthogonalRegularizer needs a 2-D "
                                         r"weight, 'kernel' has shape \(3, 3, 2, 4\)"):
        layer.build((None, 6, 6, 2))


@pytest.mark.parametrize("make,weight", [
    (lambda r: L.Dense(3, kernel_regularizer=r), "kernel"),
    (lambda r: L.Dense(3, bias_regularizer=r), "bias"),
    (lambda r: L.Conv1D(3, 2, kernel_regularizer=r), "kernel"),
    (lambda r: L.Embedding(9, 3, embeddings_regularizer=r), "embeddings"),
    (lambda r: L.LSTM(3, recurrent_regularizer=r), "recurrent_kernel"),
    (lambda r: L.GRU(3, kernel_regularizer=r), "kernel"),
    (lambda r: L.BatchNormalization(gamma_regularizer=r), "gamma"),
    (lambda r: L.LayerNormalization(beta_regularizer=r), "beta"),
    (lambda r: L.PReLU(alpha_regularizer=r), "alpha"),
])
@pytest.mark.parametrize("reg", [R.L2(0.25), "l1", {"module": "keras.regularizers", "class_name": "L1L2",
                                                       "config": {"l1": 0.1, "l2": 0.2}, "registered_name": None}],
                         ids=["object", "name", "keras-dict"])
def test_layers_take_regularizer_objects_names_and_dicts(make, weight, reg):
    layer = make(reg)
    shapes = {"embeddings": (None, 4), "recurrent_kernel": (None, 3, 2), "alpha": (None, 3)}
    layer.build(shapes.get(weight, (None, 4, 2) if isinstance(layer, (L.Conv1D, L.GRU)) else (None, 4)))
    expected = R.get(reg)
    configs = dict(zip(layer._impl.weight_names, layer._impl.weight_regularizer_configs))
    got = R.deserialize(json.loads(configs[weight]))
    assert (got.l1, got.l2) == pytest.approx((expected.l1, expected.l2))


def test_layer_config_save_load_and_cpp_load_keep_regularizers(tmp_path):
    inp = nncore.Input((6,))
    h = L.Dense(4, kernel_regularizer=R.OrthogonalRegularizer(0.2, "columns"), bias_regularizer=R.L1(0.3))(inp)
    out = L.Dense(2, kernel_regularizer=R.L2(0.5))(h)
    model = nncore.Model(inp, out)
    layer_config = model.layers[-2].get_config()
    assert layer_config["kernel_regularizer"] == R.serialize(R.OrthogonalRegularizer(0.2, "columns"))
    assert layer_config["bias_regularizer"] == {"l1": pytest.approx(0.3), "l2": 0.0}
    again = L.Dense.from_config(layer_config)
    assert again.get_config()["kernel_regularizer"] == layer_config["kernel_regularizer"]
    path = os.fspath(tmp_path / "reg.nncore")
    model.compile("sgd", "mse")
    model.save(path)
    loaded = nncore.load_model(path)
    assert loaded.get_config() == model.get_config()
    cpp = nncore._core.load_model(path, True)
    assert json.loads(nncore._core.model_config(cpp)) == model.get_config()
    x = np.random.default_rng(0).normal(size=(5, 6)).astype(np.float32)
    y = np.zeros((5, 2), np.float32)
    assert loaded.evaluate(x, y, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-6)


def test_custom_layer_add_weight_takes_regularizer_objects():
    class Linear(L.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], 3), initializer="ones",
                                     regularizer=R.OrthogonalRegularizer(0.4), name="w")
            self.b = self.add_weight(shape=(3,), initializer="ones", regularizer=R.L2(0.5), name="b")

        def call(self, x):
            return nncore.ops.matmul(x, self.w) + self.b

    inner = L.Dense(2, kernel_regularizer=R.L1(0.1), kernel_initializer="ones")

    class Outer(L.Layer):
        def __init__(self):
            super().__init__()
            self.inner = inner

        def call(self, x):
            return self.inner(x)

    layer = Linear()
    layer(np.ones((1, 4), np.float32))
    configs = dict(zip(layer._impl.weight_names, layer._impl.weight_regularizer_configs))
    assert R.deserialize(json.loads(configs["w"])).get_config() == {"factor": 0.4, "mode": "rows"}
    outer = Outer()
    outer(np.ones((1, 4), np.float32))
    assert outer.losses == [pytest.approx(0.1 * 8)]


# ---- a user's penalty ------------------------------------------------------------------------------------------------
class MyL2(R.Regularizer):
    def __init__(self, strength=0.1):
        self.strength = strength

    def __call__(self, x):
        return self.strength * float(np.sum(np.square(x)))

    def get_config(self):
        return {"strength": self.strength}


def my_penalty(w):
    return 0.01 * float(np.sum(np.abs(w)))


@pytest.mark.parametrize("reg,name", [(MyL2(0.5), "MyL2"), (my_penalty, "my_penalty")])
def test_user_penalty_is_refused_naming_what_to_use(reg, name):
    with pytest.raises(TypeError, match=rf"Dense kernel_regularizer: {name} is a penalty written in Python, which "
                                        r"nncore's C\+\+ training loop cannot run .* use nncore.regularizers.L1, L2, "
                                        r"L1L2 or OrthogonalRegularizer"):
        L.Dense(3, kernel_regularizer=reg)
    with pytest.raises(TypeError, match=r"LSTM recurrent_regularizer: MyL2 is a penalty written in Python"):
        L.LSTM(3, recurrent_regularizer=MyL2())
    assert reg(np.ones((2, 2))) > 0  # called directly, as in Keras


def test_subclass_of_a_builtin_without_its_own_call_trains():
    class Named(R.L2):
        pass

    layer = L.Dense(2, kernel_regularizer=Named(0.3))
    layer.build((None, 3))
    assert json.loads(layer._impl.weight_regularizer_configs[0]) == {"l1": 0.0, "l2": pytest.approx(0.3)}


def test_bad_regularizer_configs_name_the_layer_and_argument():
    base = {"units": 2, "name": "cfg_reg"}
    with pytest.raises(ValueError, match=r"Layer 'cfg_reg' kernel_regularizer: unknown regularizer class 'L3'"):
        L.Dense.from_config({**base, "kernel_regularizer": {"class_name": "L3", "config": {}}})
    with pytest.raises(ValueError, match=r"kernel_regularizer mode: expected \"rows\" or \"columns\", got \"diag\""):
        L.Dense.from_config({**base, "kernel_regularizer": {"class_name": "OrthogonalRegularizer",
                                                            "config": {"mode": "diag"}}})
    with pytest.raises(ValueError, match=r"kernel_regularizer l2: expected a finite number >= 0, got -1"):
        L.Dense.from_config({**base, "kernel_regularizer": {"class_name": "L2", "config": {"l2": -1}}})
    with pytest.raises(ValueError, match=r"is a user's class; nncore trains with L1, L2, L1L2 and "
                                         r"OrthogonalRegularizer only"):
        L.Dense.from_config({**base, "kernel_regularizer": {"class_name": "MyL2", "config": {},
                                                            "registered_name": "Custom>MyL2"}})
    with pytest.raises(ValueError, match=r"Dense kernel_regularizer: unknown regularizer 'l5'"):
        L.Dense(2, kernel_regularizer="l5")
