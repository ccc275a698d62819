"""Recurrent layers (cpp/src/kernels/rnn*.cpp, cpp/src/layers/recurrent.cpp): SimpleRNN, LSTM, GRU and
Bidirectional against a NumPy float64 reference written from Keras's equations, and their gradients against
float64 central differences of that reference.

Tolerances: a float32 forward through T steps agrees with float64 to a few 1e-7 for O(1) values (the AVX2
sigmoid/tanh are within ~3e-7 relative of the libm ones); 2e-5 absolute on outputs and 1e-4 relative to the
largest gradient leave a wide margin while a wrong gate, sign or time index gives errors of order 1e-1.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import nncore
from nncore import ops
from nncore.layers import GRU, LSTM, Bidirectional, Dense, Embedding, SimpleRNN

from conftest import ISAS, numeric_grad

GATES = {"lstm": 4, "gru": 3, "simple_rnn": 1}
ACTS = {"tanh": np.tanh, "relu": lambda v: np.maximum(v, 0.0), "sigmoid": lambda v: 1.0 / (1.0 + np.exp(-v)),
        "linear": lambda v: v}
FWD_TOL = 2e-5


def sig(v):
    return 1.0 / (1.0 + np.exp(-v))


def np_rnn(cell, x, kernel, recurrent_kernel, bias=None, mask=None, initial_state=None, activation="tanh",
           return_sequences=True, go_backwards=False, zero_output_for_mask=False, recurrent_mask=None):
    """Keras's recurrent layers in float64, one step at a time: returns (y, [h] or [h, c])."""
    x = np.asarray(x, np.float64)
    W, Uk = np.asarray(kernel, np.float64), np.asarray(recurrent_kernel, np.float64)
    B, T, _ = x.shape
    U = Uk.shape[0]
    b = None if bias is None else np.asarray(bias, np.float64)
    h = np.zeros((B, U)) if initial_state is None else np.asarray(initial_state[0], np.float64)
    c = np.zeros((B, U)) if initial_state is None or cell != "lstm" else np.asarray(initial_state[1], np.float64)
    rm = np.ones((B, U)) if recurrent_mask is None else np.asarray(recurrent_mask, np.float64)
    ys = []
    for t in (range(T - 1, -1, -1) if go_backwards else range(T)):
        xt, hin = x[:, t], h * rm
        if cell == "lstm":
            z = xt @ W + hin @ Uk + (0.0 if b is None else b)
            i, f, g, o = sig(z[:, :U]), sig(z[:, U:2 * U]), np.tanh(z[:, 2 * U:3 * U]), sig(z[:, 3 * U:])
            c_new = f * c + i * g
            h_new = o * np.tanh(c_new)
        elif cell == "gru":
            xz = xt @ W + (0.0 if b is None else b[0])
            rz = hin @ Uk + (0.0 if b is None else b[1])
            zg, r = sig(xz[:, :U] + rz[:, :U]), sig(xz[:, U:2 * U] + rz[:, U:2 * U])
            hh = np.tanh(xz[:, 2 * U:] + r * rz[:, 2 * U:])
            h_new, c_new = zg * h + (1.0 - zg) * hh, c
        else:
            h_new, c_new = ACTS[activation](xt @ W + hin @ Uk + (0.0 if b is None else b)), c
        if mask is None:
            y, h, c = h_new, h_new, c_new
        else:
            m = (np.asarray(mask)[:, t] != 0)[:, None]
            y = np.where(m, h_new, 0.0 if zero_output_for_mask else h)
            h, c = np.where(m, h_new, h), np.where(m, c_new, c)
        ys.append(y)
    y = np.stack(ys, axis=1) if return_sequences else ys[-1]
    return y, ([h, c] if cell == "lstm" else [h])


def make_args(cell, B, T, I, U, rng, bias=True):
    G = GATES[cell]
    x = rng.standard_normal((B, T, I)).astype(np.float32)
    kernel = (rng.standard_normal((I, G * U)) * 0.5).astype(np.float32)
    rk = (rng.standard_normal((U, G * U)) * 0.5).astype(np.float32)
    shape = (2, G * U) if cell == "gru" else (G * U,)
    b = (rng.standard_normal(shape) * 0.5).astype(np.float32) if bias else None
    return x, kernel, rk, b


def states_for(cell, B, U, rng):
    return [rng.standard_normal((B, U)).astype(np.float32) for _ in range(2 if cell == "lstm" else 1)]


def run_op(cell, x, kernel, rk, b, activation="tanh", **kw):
    """nncore.ops.<cell> with a uniform (y, states) result."""
    if cell == "lstm":
        y, h, c = ops.lstm(x, kernel, rk, b, **kw)
        return y, [h, c]
    if cell == "gru":
        y, h = ops.gru(x, kernel, rk, b, **kw)
        return y, [h]
    y, h = ops.simple_rnn(x, kernel, rk, b, activation=activation, **kw)
    return y, [h]


def run_op_backward(cell, dy, x, kernel, rk, b, activation="tanh", **kw):
    if cell == "lstm":
        return ops.lstm_backward(dy, x, kernel, rk, b, **kw)
    if cell == "gru":
        return ops.gru_backward(dy, x, kernel, rk, b, **kw)
    return ops.simple_rnn_backward(dy, x, kernel, rk, b, activation=activation, **kw)


def random_mask(B, T, rng):
    m = (rng.random((B, T)) > 0.35).astype(np.float32)
    m[0, :] = 0.0  # a fully masked sequence
    m[-1, :] = 1.0
    return m


FLAGS = list(itertools.product([True, False], [False, True], [False, True]))  # return_sequences, go_backwards, mask


# ---- forward against the float64 reference ------------------------------------------------------------------

@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn"])
@pytest.mark.parametrize("return_sequences,go_backwards,masked", FLAGS)
def test_forward_matches_numpy(isa, cell, return_sequences, go_backwards, masked):
    rng = np.random.default_rng(1)
    B, T, I, U = 5, 7, 9, 13  # U = 13: full and ragged 8-unit vectors
    x, kernel, rk, b = make_args(cell, B, T, I, U, rng)
    mask = random_mask(B, T, rng) if masked else None
    h0 = states_for(cell, B, U, rng)
    for zero in ([False, True] if masked else [False]):
        kw = dict(mask=mask, initial_state=h0, return_sequences=return_sequences, go_backwards=go_backwards,
                  zero_output_for_mask=zero)
        want_y, want_s = np_rnn(cell, x, kernel, rk, b, **kw)
        for reference in (False, True):
            y, states = run_op(cell, x, kernel, rk, b, reference=reference, **kw)
            assert y.shape == want_y.shape
            np.testing.assert_allclose(y, want_y, atol=FWD_TOL, rtol=0)
            for s, w in zip(states, want_s):
                np.testing.assert_allclose(s, w, atol=FWD_TOL, rtol=0)


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid", "linear"])
def test_simple_rnn_activations(isa, activation):
    rng = np.random.default_rng(2)
    x, kernel, rk, b = make_args("simple_rnn", 3, 6, 4, 11, rng)
    rk *= 0.5  # keep relu/linear from growing over the steps
    y, (h,) = run_op("simple_rnn", x, kernel, rk, b, activation=activation)
    want, (wh,) = np_rnn("simple_rnn", x, kernel, rk, b, activation=activation)
    np.testing.assert_allclose(y, want, atol=FWD_TOL, rtol=1e-6)
    np.testing.assert_allclose(h, wh, atol=FWD_TOL, rtol=1e-6)


@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn"])
def test_no_bias_and_recurrent_mask(isa, cell):
    rng = np.random.default_rng(3)
    B, T, I, U = 4, 5, 3, 9
    x, kernel, rk, _ = make_args(cell, B, T, I, U, rng, bias=False)
    rmask = ((rng.random((B, U)) > 0.3) / 0.7).astype(np.float32)
    y, _ = run_op(cell, x, kernel, rk, None, recurrent_mask=rmask)
    want, _ = np_rnn(cell, x, kernel, rk, None, recurrent_mask=rmask)
    np.testing.assert_allclose(y, want, atol=FWD_TOL, rtol=0)


SIMD_ISAS = [i for i in ("avx2", "avx512") if i in ISAS]


@pytest.mark.parametrize("simd", ["avx2", "avx512"])
def test_fast_sigmoid_tanh_accuracy(simd):
    # The SIMD gates against float64 over the whole useful range, through a SimpleRNN step with identity-like
    # weights: the preactivations are the inputs themselves.
    if simd not in SIMD_ISAS:
        pytest.skip(f"no {simd} on this CPU")
    xs = np.linspace(-30, 30, 4001).astype(np.float32)
    before = nncore.get_isa()
    try:
        nncore.set_isa(simd)
        for act, f in (("tanh", np.tanh), ("sigmoid", sig)):
            x = xs.reshape(1, -1, 1)
            y, _ = ops.simple_rnn(x, np.ones((1, 1), np.float32), np.zeros((1, 1), np.float32), activation=act)
            want = f(xs.astype(np.float64))
            rel = np.abs(y.reshape(-1) - want) / np.maximum(np.abs(want), 1e-30)
            assert rel.max() < 1e-6, (act, float(rel.max()), float(xs[rel.argmax()]))
    finally:
        nncore.set_isa(before)


# ---- backward against central differences of the float64 reference ------------------------------------------

@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn"])
@pytest.mark.parametrize("return_sequences,go_backwards,masked", FLAGS)
def test_backward_matches_finite_differences(isa, cell, return_sequences, go_backwards, masked):
    rng = np.random.default_rng(4)
    B, T, I, U = 3, 4, 3, 5
    x, kernel, rk, b = make_args(cell, B, T, I, U, rng)
    mask = random_mask(B, T, rng) if masked else None
    h0 = states_for(cell, B, U, rng)
    zero = masked and go_backwards  # both mask modes get covered across the parametrization
    kw = dict(mask=mask, return_sequences=return_sequences, go_backwards=go_backwards, zero_output_for_mask=zero)
    y, states = np_rnn(cell, x, kernel, rk, b, initial_state=h0, **kw)
    dy = rng.standard_normal(y.shape)
    ds = [rng.standard_normal(s.shape) for s in states]

    def loss(x_=x, k_=kernel, r_=rk, b_=b, s_=h0):
        y_, st = np_rnn(cell, x_, k_, r_, b_, initial_state=s_, **kw)
        return float(np.sum(y_ * dy) + sum(np.sum(s * d) for s, d in zip(st, ds)))

    want = [numeric_grad(lambda a: loss(x_=a), x), numeric_grad(lambda a: loss(k_=a), kernel),
            numeric_grad(lambda a: loss(r_=a), rk), numeric_grad(lambda a: loss(b_=a), b)]
    want += [numeric_grad(lambda a, i=i: loss(s_=h0[:i] + [a] + h0[i + 1:]), h0[i]) for i in range(len(h0))]
    for reference in (False, True):
        dx, dk, dr, db, dh0 = run_op_backward(cell, dy.astype(np.float32), x, kernel, rk, b, initial_state=h0,
                                              dstates=[d.astype(np.float32) for d in ds], reference=reference, **kw)
        for name, got, w in zip(["dx", "dkernel", "drecurrent", "dbias", "dh0", "dc0"], [dx, dk, dr, db, *dh0],
                                want):
            assert got.shape == w.shape, name
            np.testing.assert_allclose(got, w, atol=1e-4 * max(1.0, np.abs(w).max()), rtol=0,
                                       err_msg=f"{name} reference={reference}")


@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn"])
def test_backward_recurrent_mask_matches_finite_differences(cell):
    rng = np.random.default_rng(5)
    B, T, I, U = 2, 4, 3, 4
    x, kernel, rk, b = make_args(cell, B, T, I, U, rng)
    rmask = np.array([[2.0, 0.0, 2.0, 2.0], [0.0, 2.0, 2.0, 0.0]], np.float32)
    y, _ = np_rnn(cell, x, kernel, rk, b, recurrent_mask=rmask)
    dy = rng.standard_normal(y.shape)

    def loss(k_=rk, x_=x):
        return float(np.sum(np_rnn(cell, x_, kernel, k_, b, recurrent_mask=rmask)[0] * dy))

    dx, _, dr, _, _ = run_op_backward(cell, dy.astype(np.float32), x, kernel, rk, b, recurrent_mask=rmask)
    np.testing.assert_allclose(dr, numeric_grad(lambda a: loss(k_=a), rk), atol=1e-4, rtol=0)
    np.testing.assert_allclose(dx, numeric_grad(lambda a: loss(x_=a), x), atol=1e-4, rtol=0)


@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn"])
def test_fast_matches_reference_on_ragged_sizes(isa, cell):
    # Larger ragged shapes where finite differences would be slow: the fast path (whole-sequence GEMMs, fused
    # rows) against the step-by-step reference loops.
    rng = np.random.default_rng(6)
    for B, T, I, U in [(1, 1, 1, 1), (7, 11, 5, 17), (33, 3, 8, 24)]:
        x, kernel, rk, b = make_args(cell, B, T, I, U, rng)
        mask = random_mask(B, T, rng)
        kw = dict(mask=mask, go_backwards=True)
        y, _ = run_op(cell, x, kernel, rk, b, **kw)
        dy = rng.standard_normal(y.shape).astype(np.float32)
        fast = run_op_backward(cell, dy, x, kernel, rk, b, **kw)
        ref = run_op_backward(cell, dy, x, kernel, rk, b, reference=True, **kw)
        for got, want in zip(fast[:4], ref[:4]):
            np.testing.assert_allclose(got, want, atol=2e-5 * max(1.0, np.abs(want).max()), rtol=0)


# (B, T, I, U): each thread running the whole sequence on its own batch rows (ranges at multiples of 8 rows, of 4
# under 16 rows), including ragged row ranges (B = 37, 250, 12: 8 + 4) and the Fashion-MNIST benchmark's shape;
# and B = 6, too few rows to split, where the per-step GEMMs and row passes split over the threads instead
# (U = 200: big enough to); B = 12 with U = 300, whose 12-row step products leave the small-M kernel (LSTM, GRU):
# ranges of 8, not 4.
THREAD_SHAPES = [(256, 3, 16, 128), (32, 28, 28, 128), (37, 6, 5, 40), (250, 4, 9, 33), (12, 5, 7, 200),
                 (6, 5, 7, 200), (12, 3, 5, 300)]


@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn"])
@pytest.mark.parametrize("B,T,I,U", THREAD_SHAPES)
def test_one_and_two_threads_bit_identical(cell, B, T, I, U, restore_threads):
    rng = np.random.default_rng(7)
    x, kernel, rk, b = make_args(cell, B, T, I, U, rng)
    dy = rng.standard_normal((B, T, U)).astype(np.float32)
    kw = dict(mask=random_mask(B, T, rng), initial_state=states_for(cell, B, U, rng), go_backwards=True,
              recurrent_mask=(rng.random((B, U)) > 0.3).astype(np.float32) * 1.5)
    results = []
    for n in (1, 2):
        restore_threads(n)
        results.append((run_op(cell, x, kernel, rk, b, **kw), run_op_backward(cell, dy, x, kernel, rk, b, **kw)))
    (y1, s1), g1 = results[0]
    (y2, s2), g2 = results[1]
    for a, c in zip([y1, *s1, *g1], [y2, *s2, *g2]):
        np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn"])
def test_batch_split_matches_reference(isa, cell, restore_threads):
    # 2 threads, each running the sequence on its own rows (B = 37: ranges of 16 and 21 rows), with every
    # per-row input (mask, initial states, recurrent mask), against the step-by-step reference.
    restore_threads(2)
    rng = np.random.default_rng(9)
    B, T, I, U = 37, 6, 5, 40
    x, kernel, rk, b = make_args(cell, B, T, I, U, rng)
    kw = dict(mask=random_mask(B, T, rng), initial_state=states_for(cell, B, U, rng),
              recurrent_mask=(rng.random((B, U)) > 0.3).astype(np.float32) * 1.5)
    y, states = run_op(cell, x, kernel, rk, b, **kw)
    y_ref, states_ref = run_op(cell, x, kernel, rk, b, reference=True, **kw)
    for got, want in zip([y, *states], [y_ref, *states_ref]):
        np.testing.assert_allclose(got, want, atol=FWD_TOL, rtol=0)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    fast = run_op_backward(cell, dy, x, kernel, rk, b, **kw)
    ref = run_op_backward(cell, dy, x, kernel, rk, b, reference=True, **kw)
    for got, want in zip(fast, ref):
        np.testing.assert_allclose(got, want, atol=2e-5 * max(1.0, np.abs(want).max()), rtol=0)


def test_generic_and_avx2_agree():
    if nncore._core.best_isa() == "generic":
        pytest.skip("no SIMD path on this CPU")
    rng = np.random.default_rng(8)
    x, kernel, rk, b = make_args("lstm", 6, 9, 7, 21, rng)
    before = nncore.get_isa()
    out = {}
    try:
        for isa in ("generic", "avx2"):
            nncore.set_isa(isa)
            y, _ = run_op("lstm", x, kernel, rk, b)
            out[isa] = (y, run_op_backward("lstm", np.ones_like(y), x, kernel, rk, b)[:4])
    finally:
        nncore.set_isa(before)
    np.testing.assert_allclose(out["generic"][0], out["avx2"][0], atol=2e-6, rtol=0)
    for a, c in zip(out["generic"][1], out["avx2"][1]):
        np.testing.assert_allclose(a, c, atol=1e-5 * max(1.0, np.abs(a).max()), rtol=0)


@pytest.mark.parametrize("cell,activation", [("lstm", "tanh"), ("gru", "tanh"), ("simple_rnn", "tanh"),
                                             ("simple_rnn", "sigmoid"), ("simple_rnn", "relu")])
def test_avx2_and_avx512_rows_bit_identical(cell, activation):
    # One row-kernel body (rnn_rows_body.hpp) over 8- and 16-float registers: the same operations lane by lane,
    # so the same bits, ragged last vectors included (U = 37: 2 x 16 + 5, 4 x 8 + 5). The products here (K <= 37)
    # sum in order on both ISAs, so any difference would come from the rows.
    if SIMD_ISAS != ["avx2", "avx512"]:
        pytest.skip("needs AVX2 and AVX-512")
    rng = np.random.default_rng(12)
    B, T, I, U = 5, 7, 6, 37
    x, kernel, rk, b = make_args(cell, B, T, I, U, rng)
    x *= 3.0  # reach both branches of tanh and the tails of the sigmoid
    kw = dict(mask=random_mask(B, T, rng), initial_state=states_for(cell, B, U, rng))
    if cell == "simple_rnn":
        kw["activation"] = activation
    before = nncore.get_isa()
    out = {}
    try:
        for simd in SIMD_ISAS:
            nncore.set_isa(simd)
            y, states = run_op(cell, x, kernel, rk, b, **kw)
            dy = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
            out[simd] = [y, *states, *run_op_backward(cell, dy, x, kernel, rk, b, **kw)]
    finally:
        nncore.set_isa(before)
    for a, c in zip(out["avx2"], out["avx512"]):
        np.testing.assert_array_equal(a, c)


# ---- layers -------------------------------------------------------------------------------------------------

LAYERS = {"lstm": LSTM, "gru": GRU, "simple_rnn": SimpleRNN}


@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn"])
@pytest.mark.parametrize("return_sequences,go_backwards,masked", FLAGS)
def test_layer_matches_op_with_keras_weights(cell, return_sequences, go_backwards, masked):
    rng = np.random.default_rng(9)
    B, T, I, U = 4, 6, 5, 7
    x, kernel, rk, b = make_args(cell, B, T, I, U, rng)
    mask = random_mask(B, T, rng) if masked else None
    layer = LAYERS[cell](U, return_sequences=return_sequences, go_backwards=go_backwards, return_state=True)
    layer.build((None, T, I))
    assert [w.shape for w in layer.get_weights()] == [kernel.shape, rk.shape, b.shape]
    layer.set_weights([kernel, rk, b])
    y, *states = layer(x, mask=mask)
    want_y, want_s = np_rnn(cell, x, kernel, rk, b, mask=mask, return_sequences=return_sequences,
                            go_backwards=go_backwards)
    np.testing.assert_allclose(y, want_y, atol=FWD_TOL, rtol=0)
    assert len(states) == len(want_s)
    for s, w in zip(states, want_s):
        np.testing.assert_allclose(s, w, atol=FWD_TOL, rtol=0)
    # Layer gradients are the op's gradients (zero initial state), and backward accumulates.
    dy = rng.standard_normal(y.shape).astype(np.float32)
    ds = [rng.standard_normal(s.shape).astype(np.float32) for s in states]
    layer.zero_grad()
    dx = layer.backward(dy, ds)
    want = run_op_backward(cell, dy, x, kernel, rk, b, mask=mask, dstates=ds, return_sequences=return_sequences,
                           go_backwards=go_backwards)
    np.testing.assert_allclose(dx, want[0], atol=1e-5, rtol=1e-5)
    for g, w in zip(layer.gradients, want[1:4]):
        np.testing.assert_allclose(g, w, atol=1e-5, rtol=1e-5)
    layer.backward(dy, ds)
    for g, w in zip(layer.gradients, want[1:4]):
        np.testing.assert_allclose(g, 2 * w, atol=2e-5, rtol=1e-5)


def test_layer_defaults_and_initializers():
    nncore.set_random_seed(0)
    lstm = LSTM(16)
    lstm.build((None, 5, 3))
    k, r, b = lstm.get_weights()
    assert k.shape == (3, 64) and r.shape == (16, 64) and b.shape == (64,)
    np.testing.assert_array_equal(b, np.r_[np.zeros(16), np.ones(16), np.zeros(32)])  # unit_forget_bias
    np.testing.assert_allclose(r @ r.T, np.eye(16), atol=1e-5)  # orthogonal rows (Keras's Orthogonal)
    limit = np.sqrt(6.0 / (3 + 64))
    assert np.abs(k).max() <= limit and np.abs(k).max() > 0.5 * limit  # glorot_uniform
    gru = GRU(8)
    gru.build((None, 5, 20))
    k, r, b = gru.get_weights()
    assert k.shape == (20, 24) and r.shape == (8, 24) and b.shape == (2, 24) and not b.any()
    np.testing.assert_allclose(r @ r.T, np.eye(8), atol=1e-5)
    tall = SimpleRNN(4, recurrent_initializer="orthogonal", kernel_initializer="orthogonal")
    tall.build((None, 2, 10))
    k = tall.get_weights()[0]  # (10, 4): orthonormal columns
    np.testing.assert_allclose(k.T @ k, np.eye(4), atol=1e-5)
    assert LSTM(3, unit_forget_bias=False, use_bias=False).count_params() == 0  # not built yet
    no_bias = LSTM(3, use_bias=False)
    no_bias.build((None, 2, 2))
    assert [w.shape for w in no_bias.get_weights()] == [(2, 12), (3, 12)]


def test_return_sequences_passes_the_mask_on():
    # In a Sequential model a layer's output mask goes to the next layer: with return_sequences the second LSTM
    # sees the first one's mask; the last one drops it.
    rng = np.random.default_rng(10)
    x = rng.standard_normal((3, 6, 4)).astype(np.float32)
    first = LSTM(5, return_sequences=True)
    second = LSTM(3)
    first.build((None, 6, 4))
    second.build((None, 6, 5))
    mask = random_mask(3, 6, rng)
    h = first(x, mask=mask)
    k1, r1, b1 = first.get_weights()
    want_h, _ = np_rnn("lstm", x, k1, r1, b1, mask=mask)
    np.testing.assert_allclose(h, want_h, atol=FWD_TOL)
    y = second(h, mask=mask)
    k2, r2, b2 = second.get_weights()
    want_y, _ = np_rnn("lstm", want_h, k2, r2, b2, mask=mask, return_sequences=False)
    np.testing.assert_allclose(y, want_y, atol=FWD_TOL)
    assert first._impl.output_shape == [6, 5] and second._impl.output_shape == [3]


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave"])
@pytest.mark.parametrize("return_sequences,masked", [(True, False), (True, True), (False, False), (False, True)])
def test_bidirectional(merge_mode, return_sequences, masked):
    rng = np.random.default_rng(11)
    B, T, I, U = 3, 5, 4, 6
    x = rng.standard_normal((B, T, I)).astype(np.float32)
    mask = random_mask(B, T, rng) if masked else None
    layer = Bidirectional(LSTM(U, return_sequences=return_sequences, return_state=True), merge_mode=merge_mode)
    layer.build((None, T, I))
    weights = layer.get_weights()
    assert len(weights) == 6 and layer.backward_layer.go_backwards and not layer.forward_layer.go_backwards
    out, hf, cf, hb, cb = layer(x, mask=mask)
    kw = dict(mask=mask, return_sequences=return_sequences, zero_output_for_mask=return_sequences)
    yf, sf = np_rnn("lstm", x, *weights[:3], **kw)
    yb, sb = np_rnn("lstm", x, *weights[3:], go_backwards=True, **kw)
    if return_sequences:
        yb = yb[:, ::-1]  # back in input order
    merged = {"concat": lambda: np.concatenate([yf, yb], -1), "sum": lambda: yf + yb, "mul": lambda: yf * yb,
              "ave": lambda: (yf + yb) / 2}[merge_mode]()
    np.testing.assert_allclose(out, merged, atol=FWD_TOL)
    for got, want in zip([hf, cf, hb, cb], sf + sb):
        np.testing.assert_allclose(got, want, atol=FWD_TOL)
    # Gradients against central differences of the float64 reference (loss = <out, dy>).
    dy = rng.standard_normal(out.shape)

    def loss(ws):
        f, _ = np_rnn("lstm", x, *ws[:3], **kw)
        k, _ = np_rnn("lstm", x, *ws[3:], go_backwards=True, **kw)
        if return_sequences:
            k = k[:, ::-1]
        m = {"concat": lambda: np.concatenate([f, k], -1), "sum": lambda: f + k, "mul": lambda: f * k,
             "ave": lambda: (f + k) / 2}[merge_mode]()
        return float(np.sum(m * dy))

    layer.zero_grad()
    layer.backward(dy.astype(np.float32))
    for i, (w, g) in enumerate(zip(weights, layer.gradients)):
        num = numeric_grad(lambda a: loss(weights[:i] + [a] + weights[i + 1:]), w)
        np.testing.assert_allclose(g, num, atol=1e-4 * max(1.0, np.abs(num).max()), rtol=0, err_msg=f"weight {i}")


def test_bidirectional_in_a_model_trains():
    rng = np.random.default_rng(12)
    nncore.set_random_seed(0)
    x = rng.standard_normal((64, 8, 3)).astype(np.float32)
    y = (x[:, 0, 0] > x[:, -1, 0]).astype(np.float32).reshape(-1, 1)  # needs both ends of the sequence
    model = nncore.Sequential([Bidirectional(GRU(8), input_shape=(8, 3)), Dense(1, activation="sigmoid")])
    model.compile(nncore.optimizers.Adam(0.01), "binary_crossentropy", metrics=["accuracy"])
    first = model.evaluate(x, y, verbose=0)[0]
    model.fit(x, y, epochs=30, batch_size=16, verbose=0)
    loss, acc = model.evaluate(x, y, verbose=0)
    assert loss < 0.5 * first and acc > 0.9
    assert len(model.get_weights()) == 8


@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn"])
def test_dropout(cell):
    rng = np.random.default_rng(13)
    B, T, I, U = 6, 5, 8, 7
    x, kernel, rk, b = make_args(cell, B, T, I, U, rng)
    layer = LAYERS[cell](U, return_sequences=True, dropout=0.5, recurrent_dropout=0.3)
    layer.build((None, T, I))
    layer.set_weights([kernel, rk, b])
    want, _ = np_rnn(cell, x, kernel, rk, b)
    np.testing.assert_allclose(layer(x), want, atol=FWD_TOL)  # inference: no dropout
    y = layer(x, training=True)
    assert np.isfinite(y).all() and np.abs(y - want).max() > 1e-2
    dx = layer.backward(np.ones_like(y))
    # One input mask per (sample, feature), shared by every step: a dropped feature has no gradient at any step.
    dropped = np.all(dx == 0.0, axis=1)
    assert dropped.any() and not dropped.all()
    assert np.all(np.any(dx != 0.0, axis=1) | dropped)


# ---- bad input --------------------------------------------------------------------------------------------

def test_bad_input_names_the_layer():
    layer = LSTM(4, name="my_lstm")
    with pytest.raises(ValueError, match="my_lstm.*3-D input"):
        layer(np.zeros((2, 3), np.float32))
    layer(np.zeros((2, 5, 3), np.float32))
    with pytest.raises(ValueError, match=r"my_lstm.*\(None, 5, 3\).*\(2, 5, 4\)"):
        layer(np.zeros((2, 5, 4), np.float32))
    with pytest.raises(ValueError, match="my_lstm.*mask"):
        layer(np.zeros((2, 5, 3), np.float32), mask=np.ones((2, 4)))
    with pytest.raises(ValueError, match="3-D input"):
        nncore.Sequential([Dense(3, input_shape=(5,)), GRU(2, name="g")]).build((None, 5))
    model = nncore.Sequential([SimpleRNN(3, input_shape=(4, 2), name="rnn_in"), Dense(1)])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="rnn_in"):
        model.predict(np.zeros((3, 4, 5), np.float32))
    with pytest.raises(ValueError, match="return_state"):
        nncore.Sequential([LSTM(3, return_state=True, input_shape=(4, 2))])
    with pytest.raises(ValueError, match="units"):
        LSTM(0)
    with pytest.raises(ValueError, match="dropout"):
        GRU(3, dropout=1.5)
    with pytest.raises(ValueError, match="activation"):
        LSTM(3, activation="relu")
    with pytest.raises(ValueError, match="activation"):
        SimpleRNN(3, activation="softmax")
    with pytest.raises(ValueError, match="reset_after"):
        GRU(3, reset_after=False)
    with pytest.raises(ValueError, match="initializer"):
        LSTM(3, recurrent_initializer="nope")
    with pytest.raises(ValueError, match="merge_mode"):
        Bidirectional(LSTM(3), merge_mode="max")
    with pytest.raises(TypeError, match="Bidirectional"):
        Bidirectional(Dense(3))
    with pytest.raises(ValueError, match="backward called before forward"):
        LSTM(3, input_shape=(2, 2)).backward(np.zeros((1, 3), np.float32))


def test_op_shape_errors():
    x = np.zeros((2, 3, 4), np.float32)
    k, r = np.zeros((4, 20), np.float32), np.zeros((5, 20), np.float32)
    with pytest.raises(ValueError, match="lstm.*x"):
        ops.lstm(np.zeros((2, 4), np.float32), k, r)
    with pytest.raises(ValueError, match="lstm.*features"):
        ops.lstm(np.zeros((2, 3, 5), np.float32), k, r)
    with pytest.raises(ValueError, match="recurrent_kernel"):
        ops.lstm(x, k, np.zeros((4, 20), np.float32))
    with pytest.raises(ValueError, match="bias"):
        ops.lstm(x, k, r, np.zeros(16, np.float32))
    with pytest.raises(ValueError, match="gru.*bias"):
        ops.gru(x, np.zeros((4, 15), np.float32), np.zeros((5, 15), np.float32), np.zeros(15, np.float32))
    with pytest.raises(ValueError, match="mask"):
        ops.lstm(x, k, r, mask=np.ones((2, 4), np.float32))
    with pytest.raises(ValueError, match="initial state"):
        ops.lstm(x, k, r, initial_state=[np.zeros((2, 5), np.float32)])
    with pytest.raises(ValueError, match="dy"):
        ops.lstm_backward(np.zeros((2, 5), np.float32), x, k, r)
    with pytest.raises(ValueError, match="activation"):
        ops.simple_rnn(x, np.zeros((4, 5), np.float32), np.zeros((5, 5), np.float32), activation="gelu")


# ---- configs and model files ------------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda: SimpleRNN(5, activation="relu", return_sequences=True, go_backwards=True, dropout=0.1,
                      kernel_regularizer=nncore.regularizers.L2(0.01),
                      recurrent_regularizer=nncore.regularizers.L1(0.02)),
    lambda: LSTM(6, unit_forget_bias=False, return_state=True, recurrent_dropout=0.2, use_bias=False),
    lambda: GRU(4, return_sequences=True, bias_initializer="ones", trainable=False),
    lambda: Bidirectional(LSTM(3, return_sequences=True), merge_mode="ave"),
    lambda: Bidirectional(GRU(5, go_backwards=True), merge_mode="mul"),
])
def test_config_round_trip(make):
    rng = np.random.default_rng(14)
    layer = make()
    layer.build((None, 7, 3))
    config = layer.get_config()
    copy = type(layer).from_config(config)
    assert type(copy) is type(layer) and copy.get_config() == config
    copy.build((None, 7, 3))
    copy.set_weights(layer.get_weights())
    x = rng.standard_normal((2, 7, 3)).astype(np.float32)
    mask = random_mask(2, 7, rng)
    a, b = layer(x, mask=mask), copy(x, mask=mask)
    for u, v in zip(a if isinstance(a, list) else [a], b if isinstance(b, list) else [b]):
        np.testing.assert_array_equal(u, v)
    if "recurrent_regularizer" in config:
        assert config["recurrent_regularizer"] == {"l1": pytest.approx(0.02), "l2": 0.0}


def test_model_file_round_trip(tmp_path):
    rng = np.random.default_rng(15)
    nncore.set_random_seed(1)
    model = nncore.Sequential([Bidirectional(LSTM(4, return_sequences=True), input_shape=(6, 3)), GRU(5),
                               Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    x = rng.standard_normal((8, 6, 3)).astype(np.float32)
    model.fit(x, rng.integers(0, 2, 8).astype(np.float32), epochs=1, verbose=0)
    model.save(tmp_path / "rnn.nncore")
    loaded = nncore.load_model(tmp_path / "rnn.nncore")
    assert [type(l).__name__ for l in loaded.layers] == ["Bidirectional", "GRU", "Dense"]
    assert loaded.layers[0].backward_layer.go_backwards
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_embedding_mask_zero_feeds_the_rnn():
    # Post-padded id sequences through Embedding(mask_zero=True): each sequence's last output is the LSTM run over
    # its valid prefix alone, and a Bidirectional layer's backward half starts at the last valid step.
    rng = np.random.default_rng(16)
    lengths = [6, 2, 4]
    ids = np.zeros((3, 6), np.float32)
    for i, n in enumerate(lengths):
        ids[i, :n] = rng.integers(1, 20, n)
    for rnn in (LSTM(4), Bidirectional(GRU(3))):
        model = nncore.Sequential([Embedding(20, 5, mask_zero=True, input_shape=(6,)), rnn])
        out = model.predict(ids)
        emb = model.layers[0].get_weights()[0]
        weights = rnn.get_weights()
        for i, n in enumerate(lengths):
            seq = emb[ids[i:i + 1, :n].astype(int)]
            if isinstance(rnn, Bidirectional):
                f, _ = np_rnn("gru", seq, *weights[:3], return_sequences=False)
                b, _ = np_rnn("gru", seq, *weights[3:], return_sequences=False, go_backwards=True)
                want = np.concatenate([f, b], -1)
            else:
                want, _ = np_rnn("lstm", seq, *weights, return_sequences=False)
            np.testing.assert_allclose(out[i:i + 1], want, atol=FWD_TOL)
        # Called by itself afterwards, the layer runs unmasked (no stale mask from the model's last forward).
        seqs = emb[ids.astype(int)]
        alone = rnn(seqs)
        if isinstance(rnn, Bidirectional):
            f, _ = np_rnn("gru", seqs, *weights[:3], return_sequences=False)
            b, _ = np_rnn("gru", seqs, *weights[3:], return_sequences=False, go_backwards=True)
            np.testing.assert_allclose(alone, np.concatenate([f, b], -1), atol=FWD_TOL)
        else:
            np.testing.assert_allclose(alone, np_rnn("lstm", seqs, *weights, return_sequences=False)[0], atol=FWD_TOL)


def test_functional_model():
    rng = np.random.default_rng(17)
    ids = rng.integers(0, 10, (4, 6)).astype(np.float32)
    inp = nncore.Input((6,))
    h = Embedding(10, 5, mask_zero=True)(inp)
    h = Bidirectional(LSTM(3, return_sequences=True))(h)
    out = Dense(2)(GRU(4)(h))
    model = nncore.Model(inp, out)
    seq = nncore.Sequential([Embedding(10, 5, mask_zero=True, input_shape=(6,)),
                             Bidirectional(LSTM(3, return_sequences=True)), GRU(4), Dense(2)])
    seq.set_weights(model.get_weights())
    np.testing.assert_array_equal(model.predict(ids), seq.predict(ids))
    out, h, c = LSTM(3, return_state=True)(nncore.Input((6, 2)))  # [output, h, c], as Keras
    assert out.shape == h.shape == c.shape == (None, 3)
