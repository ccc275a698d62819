"""nncore.ops on KerasTensors: each op's graph node forward against NumPy float64 and backward against finite
differences of the model's loss, with broadcasting and constants; the same functions eagerly on arrays; operators
on KerasTensors; bad input."""
from __future__ import annotations

import numpy as np
import pytest

import nncore
from nncore import ops
from graph_helpers import gradient_errors, seeded  # noqa: F401 - seeded: an autouse fixture

RNG = np.random.default_rng(0)


def run_graph(fn, *shapes, positive=False, seed=0):
    """Builds Model(inputs, fn(*inputs)) for per-sample shapes, returns (model, arrays, output)."""
    rng = np.random.default_rng(seed)
    ins = [nncore.Input(s) for s in shapes]
    out = fn(*ins)
    model = nncore.Model(ins, out)
    xs = [rng.uniform(0.5, 2.0, (3, *s)) if positive else rng.standard_normal((3, *s)) for s in shapes]
    xs = [x.astype(np.float32) for x in xs]
    return model, xs, model.predict(xs if len(xs) > 1 else xs[0])


def numeric_input_grad(model, xs, target, eps=1e-2):
    """d(mse loss)/d(inputs) by central differences in float64 of the float32 model."""
    grads = []
    for i, x in enumerate(xs):
        g = np.zeros_like(x, dtype=np.float64)
        for j in np.ndindex(x.shape):
            saved = x[j]
            vals = []
            for d in (eps, -eps):
                x[j] = saved + d
                p = model.predict(xs if len(xs) > 1 else xs[0]).astype(np.float64)
                vals.append(np.mean((p - target) ** 2))
            x[j] = saved
            g[j] = (vals[0] - vals[1]) / (2 * eps)
        grads.append(g)
    return grads


def check_grad(model, xs, out, tol=2e-2):
    model.compile("sgd", "mse")
    target = np.random.default_rng(9).standard_normal(out.shape).astype(np.float32)
    analytic = model.input_gradient(xs if len(xs) > 1 else xs[0], target)
    analytic = analytic if isinstance(analytic, list) else [analytic]
    numeric = numeric_input_grad(model, [x.copy() for x in xs], target)
    for a, n in zip(analytic, numeric):
        np.testing.assert_allclose(a, n, rtol=tol, atol=tol * (np.abs(n).max() + 1e-3))


BINARY = {"add": np.add, "subtract": np.subtract, "multiply": np.multiply, "divide": np.divide,
          "maximum": np.maximum, "minimum": np.minimum, "power": np.power}


def unbroadcast(g, shape):
    """Sums g over the axes a tensor of `shape` was broadcast along."""
    while g.ndim > len(shape):
        g = g.sum(0)
    return g.sum(axis=tuple(i for i, d in enumerate(shape) if d == 1 and g.shape[i] != 1), keepdims=True)


@pytest.mark.parametrize("name", list(BINARY))
@pytest.mark.parametrize("shapes", [((2, 3), (2, 3)), ((2, 3), (1, 3)), ((2, 3), (2, 1)), ((4, 1, 3), (4, 2, 1))])
def test_binary_ops_with_broadcasting(name, shapes):
    fn = getattr(ops, name)
    model, xs, out = run_graph(lambda a, b: fn(a, b), *shapes, positive=name in ("power", "divide"))
    a, b = [x.astype(np.float64) for x in xs]
    np.testing.assert_allclose(out, BINARY[name](a, b), rtol=1e-5, atol=1e-6)
    if name not in ("maximum", "minimum"):
        return check_grad(model, xs, out)
    # max/min: the exact gradient (finite differences cross the ties between nearby values).
    model.compile("sgd", "mse")
    target = np.zeros(out.shape, np.float32)
    ga, gb = model.input_gradient(xs, target)
    dy = 2 * out.astype(np.float64) / out.size
    pick_a = np.broadcast_to(a >= b if name == "maximum" else a <= b, dy.shape)
    np.testing.assert_allclose(ga, unbroadcast(dy * pick_a, a.shape), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(gb, unbroadcast(dy * ~pick_a, b.shape), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", list(BINARY))
def test_binary_ops_with_constants_and_numbers(name):
    const = np.linspace(0.5, 1.5, 3).astype(np.float32)
    fn = getattr(ops, name)
    for other, ref_other in ((const, const.astype(np.float64)), (2.0, 2.0)):
        for flip in (False, True):
            f = (lambda a: fn(other, a)) if flip else (lambda a: fn(a, other))
            model, xs, out = run_graph(f, (2, 3), positive=True)
            x = xs[0].astype(np.float64)
            ref = BINARY[name](ref_other, x) if flip else BINARY[name](x, ref_other)
            np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)
            check_grad(model, xs, out)


UNARY = {"negative": np.negative, "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "square": np.square,
         "abs": np.abs, "tanh": np.tanh, "sigmoid": lambda x: 1 / (1 + np.exp(-x)), "relu": lambda x: np.maximum(x, 0),
         "sin": np.sin, "cos": np.cos, "softplus": lambda x: np.log1p(np.exp(x)), "reciprocal": np.reciprocal,
         "erf": lambda x: np.vectorize(__import__("math").erf)(x),
         "gelu": lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))}


@pytest.mark.parametrize("name", list(UNARY))
def test_unary_ops(name):
    positive = name in ("log", "sqrt", "reciprocal")
    model, xs, out = run_graph(getattr(ops, name), (2, 5), positive=positive)
    np.testing.assert_allclose(out, UNARY[name](xs[0].astype(np.float64)), rtol=2e-4, atol=2e-5)
    # Eagerly on arrays: numpy's result.
    np.testing.assert_allclose(getattr(ops, name)(xs[0].astype(np.float64)), UNARY[name](xs[0].astype(np.float64)),
                               rtol=1e-6, atol=1e-7)
    if name != "abs":  # |x| is not differentiable at 0; the random inputs are fine but keep the check to smooth ops
        check_grad(model, xs, out)


def test_softmax_log_softmax_clip():
    for name in ("softmax", "log_softmax"):
        model, xs, out = run_graph(getattr(ops, name), (2, 4))
        x = xs[0].astype(np.float64)
        e = np.exp(x - x.max(-1, keepdims=True))
        sm = e / e.sum(-1, keepdims=True)
        np.testing.assert_allclose(out, sm if name == "softmax" else np.log(sm), rtol=1e-5, atol=1e-6)
        check_grad(model, xs, out)
    model, xs, out = run_graph(lambda a: ops.clip(a, -0.5, 0.7), (6,))
    np.testing.assert_array_equal(out, np.clip(xs[0], -0.5, 0.7))
    check_grad(model, xs, out)
    with pytest.raises(ValueError, match="only the last axis"):
        ops.softmax(nncore.Input((3, 4)), axis=1)


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "var", "std"])
@pytest.mark.parametrize("axis,keepdims", [(1, False), (-1, True), ((1, 2), False), ([2], True)])
def test_reductions(name, axis, keepdims):
    model, xs, out = run_graph(lambda a: getattr(ops, name)(a, axis=axis, keepdims=keepdims), (3, 4))
    ref = getattr(np, name)(xs[0].astype(np.float64), axis=axis if isinstance(axis, int) else tuple(axis),
                            keepdims=keepdims)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)
    check_grad(model, xs, out)


def test_norm_transpose_reshape_expand_squeeze():
    model, xs, out = run_graph(lambda a: ops.norm(a, axis=-1), (3, 4))
    np.testing.assert_allclose(out, np.linalg.norm(xs[0].astype(np.float64), axis=-1), rtol=1e-5)
    check_grad(model, xs, out)
    model, xs, out = run_graph(lambda a: ops.transpose(a, (0, 2, 3, 1)), (2, 3, 4))
    np.testing.assert_array_equal(out, np.transpose(xs[0], (0, 2, 3, 1)))
    check_grad(model, xs, out)
    model, xs, out = run_graph(lambda a: ops.transpose(a), (2, 3))  # Keras's default reverses; batch stays
    np.testing.assert_array_equal(out, np.transpose(xs[0], (0, 2, 1)))
    model, xs, out = run_graph(lambda a: ops.squeeze(ops.expand_dims(ops.reshape(a, (-1, 6)), 1), 1), (2, 3))
    np.testing.assert_array_equal(out, xs[0].reshape(3, 6))
    assert model.output_shape == (None, 6)


@pytest.mark.parametrize("key", [(slice(None), 0), (slice(None), slice(1, 3)), (slice(None), -1, slice(None, None, -2)),
                                 (Ellipsis, 1), (slice(None), slice(None, None, 2), 2)])
def test_indexing(key):
    model, xs, out = run_graph(lambda a: a[key], (3, 4))
    np.testing.assert_array_equal(out, xs[0][key])
    check_grad(model, xs, out)


def test_matmul_concatenate_stack_split():
    w = RNG.standard_normal((4, 2)).astype(np.float32)
    model, xs, out = run_graph(lambda a: ops.matmul(a, w), (3, 4))
    np.testing.assert_allclose(out, xs[0].astype(np.float64) @ w, rtol=1e-5, atol=1e-6)
    check_grad(model, xs, out)
    model, xs, out = run_graph(lambda a, b: a @ b, (3, 4), (4, 2))
    np.testing.assert_allclose(out, np.matmul(*[x.astype(np.float64) for x in xs]), rtol=1e-5, atol=1e-6)
    check_grad(model, xs, out)
    model, xs, out = run_graph(lambda a, b: ops.concatenate([a, b], axis=-1), (2, 3), (2, 1))
    np.testing.assert_array_equal(out, np.concatenate(xs, -1))
    model, xs, out = run_graph(lambda a, b: ops.stack([a, b], axis=1), (3,), (3,))
    np.testing.assert_array_equal(out, np.stack(xs, 1))
    check_grad(model, xs, out)
    model, xs, out = run_graph(lambda a: ops.split(a, [1, 3], axis=-1)[1] * 2, (5,))
    np.testing.assert_array_equal(out, xs[0][:, 1:3] * 2)


def test_operators_on_keras_tensors():
    def f(a, b):
        return (-(a * 2 + 1) / b - 3 + 1 / b) ** 2 + abs(a) - (2 - a)
    model, xs, out = run_graph(f, (4,), (4,), positive=True)
    a, b = [x.astype(np.float64) for x in xs]
    np.testing.assert_allclose(out, (-(a * 2 + 1) / b - 3 + 1 / b) ** 2 + np.abs(a) - (2 - a), rtol=1e-5)
    check_grad(model, xs, out)
    x = nncore.Input((3,))
    assert (x + 1).shape == (None, 3) and x.dtype == "float32" and ops.shape(x) == (None, 3)
    with pytest.raises(TypeError, match="control flow"):
        if x:
            pass


def test_an_op_model_trains_saves_and_loads(tmp_path):
    """A linear model written with ops learns, and round-trips through a file (constants and all)."""
    nncore.set_random_seed(1)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((256, 6)).astype(np.float32)
    y = (x @ rng.standard_normal((6, 1)) > 0).astype(np.float32)
    inp = nncore.Input((6,))
    h = nncore.layers.Dense(8)(inp)
    h = ops.relu(h) * 1.5 + ops.sigmoid(h)
    out = nncore.layers.Dense(1, activation="sigmoid")(ops.concatenate([h, ops.mean(h, axis=-1, keepdims=True)], -1))
    model = nncore.Model(inp, out)
    model.compile(nncore.optimizers.Adam(0.01), "binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=30, batch_size=32, verbose=0)
    assert model.evaluate(x, y, verbose=0)[1] > 0.9
    model.save(tmp_path / "ops.nncore")
    loaded = nncore.load_model(tmp_path / "ops.nncore")
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_bad_op_input_names_the_op_and_the_shapes():
    a, b = nncore.Input((2, 3)), nncore.Input((4,))
    with pytest.raises(ValueError, match=r"op 'add': .*\(None, 2, 3\) and \(None, 4\)"):
        ops.add(a, b)
    with pytest.raises(ValueError, match=r"op 'add': incompatible shapes for broadcasting: \(None, 2, 3\) and \(4,\)"):
        ops.add(a, np.ones(4, np.float32))
    with pytest.raises(ValueError, match=r"op 'matmul': incompatible shapes \(None, 2, 3\) and \(4, 2\): 3 != 4"):
        ops.matmul(a, np.ones((4, 2), np.float32))
    with pytest.raises(ValueError, match=r"axis 0 is the batch axis"):
        ops.sum(a, axis=0)
    with pytest.raises(ValueError, match=r"axis=None reduces the batch axis"):
        ops.mean(a)
    with pytest.raises(ValueError, match=r"batch axis \(the first\) must be taken whole"):
        a[0]
    with pytest.raises(ValueError, match=r"index 5 is out of range for axis 1 of size 2"):
        a[:, 5]
    with pytest.raises(ValueError, match=r"move the batch axis"):
        ops.transpose(a, (1, 0, 2))
    with pytest.raises(ValueError, match=r"write the new shape as \(-1, ...\)"):
        ops.reshape(a, (6,))
    with pytest.raises(ValueError, match=r"a constant of shape \(5, 3\) would broadcast over the batch axis"):
        ops.multiply(nncore.Input((3,)), np.ones((5, 3), np.float32))


def test_ops_and_custom_layers_export_to_onnx(tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from test_custom_layers import MLPBlock
    from test_model_io import ops_model
    rng = np.random.default_rng(7)
    inp = nncore.Input((6,))
    custom = nncore.Model(inp, MLPBlock()(inp) + ops.clip(inp[:, 2:3], -0.2, 0.3))
    for model, shape in ((ops_model(), (3, 4)), (custom, (6,))):
        x = rng.standard_normal((5, *shape)).astype(np.float32)
        model.export_onnx(tmp_path / "m.onnx")
        sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
        got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        np.testing.assert_allclose(got, model.predict(x), rtol=1e-5, atol=1e-5)
    # Every op: unary ones and a negative-step slice.
    x = rng.uniform(0.5, 2, (4, 3, 5)).astype(np.float32)
    inp = nncore.Input((3, 5))
    parts = [getattr(ops, n)(inp) for n in UNARY] + [ops.softmax(inp), ops.log_softmax(inp), ops.clip(inp, 0.7, 1.3),
                                                       inp[:, ::-2, 1], ops.transpose(inp)[:, 0], ops.min(inp, axis=1),
                                                       ops.max(inp, axis=-1, keepdims=True)[:, :, 0] * 1.0]
    flat = [nncore.layers.Flatten()(p) if len(p.shape) > 2 else p for p in parts]
    model = nncore.Model(inp, ops.concatenate(flat, axis=-1))
    model.export_onnx(tmp_path / "all.onnx")
    sess = ort.InferenceSession(str(tmp_path / "all.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, {sess.get_inputs()[0].name: x})[0], model.predict(x), rtol=1e-4,
                               atol=1e-5)


def test_composed_ops_in_graphs():
    model, xs, out = run_graph(lambda a: ops.cumsum(a, axis=-1), (3, 4))
    np.testing.assert_allclose(out, np.cumsum(xs[0], axis=-1), rtol=1e-5, atol=1e-6)
    check_grad(model, xs, out)
    model, xs, out = run_graph(lambda a: ops.cumsum(a, axis=1), (3, 4))
    np.testing.assert_allclose(out, np.cumsum(xs[0], axis=1), rtol=1e-5, atol=1e-6)
    check_grad(model, xs, out)
    model, xs, out = run_graph(lambda a: ops.tile(a, (1, 2, 3)), (2, 3))
    np.testing.assert_array_equal(out, np.tile(xs[0], (1, 2, 3)))
    check_grad(model, xs, out)
    model, xs, out = run_graph(lambda a: ops.repeat(a, 2, axis=1), (2, 3))
    np.testing.assert_array_equal(out, np.repeat(xs[0], 2, axis=1))
    check_grad(model, xs, out)
    mask = np.array([1, 0, 1], np.float32)
    model, xs, out = run_graph(lambda a, b: ops.where(mask, a, b) + ops.ones_like(a) * 2 + ops.zeros_like(b), (3,), (3,))
    np.testing.assert_allclose(out, np.where(mask.astype(bool), xs[0], xs[1]) + 2, rtol=1e-6)
    check_grad(model, xs, out)


def test_eager_constructors_and_integer_ops():
    assert ops.zeros((2, 3)).shape == (2, 3) and ops.ones(2).dtype == np.float32 and ops.full((2,), 7.0)[1] == 7
    np.testing.assert_array_equal(ops.arange(5), np.arange(5))
    x = np.array([[1.0, 3.0, 2.0], [0.0, -1.0, 5.0]])
    np.testing.assert_array_equal(ops.argmax(x, axis=-1), [1, 2])
    np.testing.assert_array_equal(ops.one_hot(np.array([0, 2]), 3), [[1, 0, 0], [0, 0, 1]])
    np.testing.assert_array_equal(ops.take(x, [2, 0], axis=1), x[:, [2, 0]])
    np.testing.assert_allclose(ops.einsum("ij,kj->ik", x, x), x @ x.T)
    inp = nncore.Input((3,))
    np.testing.assert_allclose(nncore.Model(inp, ops.einsum("ij,kj->ik", inp, x)).predict(x, verbose=0), x @ x.T,
                               rtol=1e-6)


EINSUM_CASES = [
    ("bij,bjk->bik", (3, 4, 5), (3, 5, 2)),       # batched matmul
    ("bqhd,bkhd->bhqk", (2, 3, 2, 4), (2, 5, 2, 4)),  # attention scores (Keras MultiHeadAttention)
    ("bhqk,bkhd->bqhd", (2, 2, 3, 5), (2, 5, 2, 4)),  # attention output
    ("bij,jk->bik", (3, 4, 5), (5, 6)),           # a constant right operand
    ("btd,dhk->bthk", (2, 3, 4), (4, 2, 3)),      # a projection to heads (the constant's free axes merge)
    ("bij,bij->bi", (3, 4, 5), (3, 4, 5)),        # elementwise product and sum (broadcast path)
    ("bi,bj->bij", (3, 4), (3, 5)),               # outer product
    ("bij->bji", (3, 4, 5), None),                # one operand: a transpose
    ("bij->bj", (3, 4, 5), None),                 # one operand: a sum
]


@pytest.mark.parametrize("spec,sa,sb", EINSUM_CASES)
def test_einsum_on_keras_tensors(spec, sa, sb):
    rng = np.random.default_rng(3)
    a = rng.normal(size=sa).astype(np.float32)
    ins = [nncore.Input(sa[1:])]
    args = [ins[0]]
    data = [a]
    if sb is not None:
        b = rng.normal(size=sb).astype(np.float32)
        if spec.split(",")[1][0] == "b":
            ins.append(nncore.Input(sb[1:]))
            args.append(ins[1])
            data.append(b)
        else:
            args.append(b)
    m = nncore.Model(ins, ops.einsum(spec, *args))
    ref = np.einsum(spec, a.astype(np.float64), *([b.astype(np.float64)] if sb is not None else []))
    got = m.predict(data if len(data) > 1 else data[0], verbose=0)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    # gradients through it: finite differences on a small head
    out = ops.einsum(spec, *args)
    flat = nncore.layers.Dense(1)(nncore.layers.Flatten()(out))
    g = nncore.Model(ins, flat)
    g.compile("sgd", "mse")
    errs = gradient_errors(g, data if len(data) > 1 else data[0], np.ones((sa[0], 1), np.float32))
    assert max(errs.values()) < 1e-2


def test_einsum_errors():
    x = nncore.Input((3, 4))
    with pytest.raises(ValueError, match="keeps the batch index"):
        ops.einsum("bij->ijb", x)
    with pytest.raises(NotImplementedError, match="ellipsis"):
        ops.einsum("...ij->...ji", x)
    with pytest.raises(NotImplementedError, match="repeated"):
        ops.einsum("bii->bi", nncore.Input((3, 3)))


def test_einsum_attention_on_sequences_of_any_length():
    q, k = nncore.Input((None, 2, 4)), nncore.Input((None, 2, 4))
    scores = ops.softmax(ops.einsum("bqhd,bkhd->bhqk", q, k), axis=-1)
    out = ops.einsum("bhqk,bkhd->bqhd", scores, k)
    m = nncore.Model([q, k], out)
    rng = np.random.default_rng(5)
    for tq, tk in ((3, 5), (6, 2)):
        a = rng.normal(size=(2, tq, 2, 4)).astype(np.float32)
        b = rng.normal(size=(2, tk, 2, 4)).astype(np.float32)
        s = np.einsum("bqhd,bkhd->bhqk", a.astype(np.float64), b)
        p = np.exp(s - s.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        np.testing.assert_allclose(m.predict([a, b], verbose=0), np.einsum("bhqk,bkhd->bqhd", p, b), rtol=1e-4,
                                   atol=1e-5)


@pytest.mark.parametrize("shapes", [((50, 40, 30), (1, 40, 1)), ((50, 40, 30), (50, 40, 30)), ((60, 1, 64), (1, 30, 64))],
                         ids=["bcast_col", "same", "outer"])
def test_large_binary_ops_split_over_threads_give_numpys_answer(restore_threads, shapes):
    # 60,000+ elements a sample, 4 samples: the rows of the broadcast op are split over the threads (each starting
    # from its first row's index), the results those of one thread and numpy's, element for element.
    rng = np.random.default_rng(3)
    ins = [nncore.Input(s) for s in shapes]
    model = nncore.Model(ins, ops.subtract(ops.multiply(ins[0], ins[1]), ins[1]))
    xs = [rng.standard_normal((4, *s)).astype(np.float32) for s in shapes]
    want = xs[0] * xs[1] - xs[1]
    outs = []
    for t in (1, 2):
        restore_threads(t)
        outs.append(model.predict_on_batch(xs))
        np.testing.assert_array_equal(outs[-1], want)


def test_broadcast_binary_op_on_an_empty_batch():
    # No rows to split over the threads (an index computed modulo an axis of length 0 would be a crash).
    x = nncore.Input((3, 5))
    model = nncore.Model(x, ops.multiply(x, np.arange(5, dtype=np.float32)))
    model.predict_on_batch(np.ones((2, 3, 5), np.float32))
    assert model.layers[-1].forward(np.ones((0, 3, 5), np.float32)).shape == (0, 3, 5)
