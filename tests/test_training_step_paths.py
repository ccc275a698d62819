"""The paths a training step takes to save passes over memory, checked against NumPy float64:
Dense's bias and relu applied in the GEMM's store (z kept for backward), gradients that start each step stale and
are overwritten by their first writer (a weight-gradient GEMM with beta 0) or cleared on first use, and optimizer
updates that flush subnormal values (as TensorFlow's CPU kernels do)."""
from __future__ import annotations

import numpy as np
import pytest

import nncore
from nncore.layers import Add, Dense


@pytest.mark.parametrize("activation", ["relu", "linear", "tanh", "softmax"])
@pytest.mark.parametrize("batch", [1, 5, 37])
def test_dense_forward_matches_numpy_in_both_modes(activation, batch, isa, threads):
    rng = np.random.default_rng(batch)
    x = rng.standard_normal((batch, 19)).astype(np.float32)
    model = nncore.Sequential([nncore.Input((19,)), Dense(70, activation=activation)])
    W, b = (w.astype(np.float64) for w in model.layers[0].get_weights())
    b[:] = rng.standard_normal(70)
    model.layers[0].set_weights([W.astype(np.float32), b.astype(np.float32)])
    z = x.astype(np.float64) @ W + b
    want = {"relu": np.maximum(z, 0), "linear": z, "tanh": np.tanh(z),
            "softmax": np.exp(z - z.max(1, keepdims=True)) / np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True)}
    np.testing.assert_allclose(model.predict(x, verbose=0), want[activation], rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(np.asarray(model(x, training=True)), want[activation], rtol=2e-5, atol=2e-6)


def test_dense_relu_passes_nan_through():
    """A diverged weight shows in the output: relu in the GEMM's store keeps NaN, as the activation pass does."""
    model = nncore.Sequential([nncore.Input((4,)), Dense(3, activation="relu")])
    model.layers[0].weights[0][:, 1] = np.nan  # a view: set_weights refuses NaN, training can still get there
    y = model.predict(np.ones((2, 4), np.float32), verbose=0)
    assert np.isnan(y[:, 1]).all() and np.isfinite(y[:, [0, 2]]).all()


def test_shared_dense_trains_on_the_sum_of_its_calls_step_after_step():
    """One Dense on two inputs: the first call's weight gradient overwrites last step's, the second adds to it."""
    rng = np.random.default_rng(3)
    a, b = nncore.Input((6,)), nncore.Input((6,))
    d = Dense(3)
    model = nncore.Model([a, b], Add()([d(a), d(b)]))
    lr = 0.05
    model.compile(nncore.optimizers.SGD(lr), "mse")
    W, bias = (w.astype(np.float64) for w in d.get_weights())
    for step in range(3):
        xa, xb = rng.standard_normal((8, 6)), rng.standard_normal((8, 6))
        t = rng.standard_normal((8, 3))
        model.train_on_batch([xa.astype(np.float32), xb.astype(np.float32)], t.astype(np.float32))
        dy = 2.0 * ((xa @ W + bias) + (xb @ W + bias) - t) / t.size
        W, bias = W - lr * (xa.T @ dy + xb.T @ dy), bias - lr * 2.0 * dy.sum(0)
        got_W, got_b = d.get_weights()
        np.testing.assert_allclose(got_W, W, rtol=1e-5, atol=1e-6, err_msg=f"step {step}")
        np.testing.assert_allclose(got_b, bias, rtol=1e-5, atol=1e-6, err_msg=f"step {step}")


def test_gradients_start_from_zero_every_step():
    """Stale gradients are never added to: after a training step on other data, the same weights and batch give
    bit-identical gradients, for layers that overwrite (Dense's kernel) and that clear first (bias, embedding)."""
    rng = np.random.default_rng(4)
    ids = rng.integers(0, 10, (5, 3)).astype(np.float32)
    y = rng.standard_normal((5, 2)).astype(np.float32)
    model = nncore.Sequential([nncore.Input((3,)), nncore.layers.Embedding(10, 4), nncore.layers.Flatten(),
                               Dense(8, activation="relu"), Dense(2)])
    model.compile("adam", "mse")
    w0 = model.get_weights()

    def gradients():
        model.compute_gradients(ids, y)
        return [g.copy() for layer in model.layers for g in layer.gradients]

    first = gradients()
    model.train_on_batch(rng.integers(0, 10, (5, 3)).astype(np.float32), y * 3)
    model.set_weights(w0)
    again = gradients()
    assert len(first) == 5
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)


def test_optimizer_updates_flush_subnormals_and_restore_the_callers_mode():
    """A subnormal gradient counts as 0 in Adam's update (no microcode slow path for decayed state); the thread's
    floating-point mode is the caller's again afterwards."""
    opt = nncore.optimizers.Adam(1e-3)
    w = np.zeros(64, np.float32)
    g = np.full(64, 1e-40, np.float32)  # subnormal: without the flush, w would move to about -3e-38
    opt.apply_gradients([(g, w)])
    assert (w == 0).all()
    g[:] = 1.0
    opt.apply_gradients([(g, w)])
    m, v, t = 0.1, 0.001, 2  # step 2 (the flushed step counted), from m = v = 0
    lr_t = 1e-3 * np.sqrt(1 - 0.999**t) / (1 - 0.9**t)
    np.testing.assert_allclose(w, -lr_t * m / (np.sqrt(v) + 1e-7), rtol=1e-5)
    tiny = np.float32(1e-38) * np.float32(1e-3)  # NumPy on this thread still produces subnormals
    assert 0 < tiny < np.finfo(np.float32).tiny


OPTIMIZERS = {
    "adam": lambda **kw: nncore.optimizers.Adam(1e-2, **kw),
    "amsgrad": lambda **kw: nncore.optimizers.Adam(1e-2, amsgrad=True, **kw),
    "adamw": lambda **kw: nncore.optimizers.AdamW(1e-2, weight_decay=0.05, **kw),
    "sgd_nesterov": lambda **kw: nncore.optimizers.SGD(0.05, momentum=0.9, nesterov=True, **kw),
    "rmsprop": lambda **kw: nncore.optimizers.RMSprop(1e-2, momentum=0.5, centered=True, **kw),
    "adagrad": lambda **kw: nncore.optimizers.Adagrad(0.05, **kw),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_step_in_parts_is_bit_identical_to_the_whole_step(name, threads):
    """Dense kernels updated block by block inside their weight-gradient product (each thread the block it
    computed) give the same weights, bit for bit, as the optimizer's step after backward. clipvalue (here too
    large to clip anything) needs all gradients first, so it takes the whole step. The model mixes kernels
    that qualify with ones that do not: a shared Dense (two calls), a penalized one, biases, an embedding."""
    rng = np.random.default_rng(5)
    ids = rng.integers(0, 20, (64, 4)).astype(np.float32)
    feats = rng.standard_normal((64, 37)).astype(np.float32)
    y = rng.integers(0, 3, 64).astype(np.float32)

    def build(clip):
        nncore.set_random_seed(11)
        a, b = nncore.Input((4,)), nncore.Input((37,))
        e = nncore.layers.Flatten()(nncore.layers.Embedding(20, 5)(a))
        shared = Dense(37, activation="relu")
        h = nncore.layers.Concatenate()([e, shared(b), shared(Dense(37)(b))])
        h = Dense(70, activation="relu", kernel_regularizer=nncore.regularizers.L2(1e-3))(h)
        h = Dense(130, activation="tanh")(h)
        model = nncore.Model([a, b], Dense(3, activation="softmax")(h))
        model.compile(OPTIMIZERS[name](**({"clipvalue": 1e30} if clip else {})), "sparse_categorical_crossentropy")
        return model

    whole, parts = build(True), build(False)
    for w1, w2 in zip(whole.get_weights(), parts.get_weights()):
        np.testing.assert_array_equal(w1, w2)
    for model in (whole, parts):
        model.fit([ids, feats], y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        model.train_on_batch([ids[:7], feats[:7]], y[:7])  # a ragged batch
    for w1, w2 in zip(whole.get_weights(), parts.get_weights()):
        np.testing.assert_array_equal(w1, w2)
    assert whole.optimizer.iterations == parts.optimizer.iterations == 9


@pytest.mark.parametrize("frozen_op", [False, True])
def test_a_kernel_another_layer_reads_later_is_stepped_after_backward(frozen_op):
    """A Dense kernel that an op layer also multiplies by, before the Dense in the graph (so the op's backward,
    which reads the kernel and adds to its gradient, runs after the Dense's): the step must wait for it, whether
    the op layer trains or not."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((32, 6)).astype(np.float32)
    y = rng.standard_normal((32, 6)).astype(np.float32)

    def build(clip):
        nncore.set_random_seed(12)
        a = nncore.Input((6,))
        h = Dense(6, activation="tanh")(a)
        d = Dense(6)
        d.build((None, 6))
        t = nncore.ops.matmul(h, d.kernel)  # the shared kernel, read before d's own call
        model = nncore.Model(a, d(t))
        if frozen_op:
            next(layer for layer in model.layers if type(layer).__name__ == "MatMulOp").trainable = False
        model.compile(nncore.optimizers.Adam(1e-2, **({"clipvalue": 1e30} if clip else {})), "mse")
        return model

    whole, parts = build(True), build(False)
    for model in (whole, parts):
        model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for w1, w2 in zip(whole.get_weights(), parts.get_weights()):
        np.testing.assert_array_equal(w1, w2)
