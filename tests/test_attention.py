"""Scaled dot-product attention (kernels/attention.cpp, nncore.ops.dot_product_attention): the fused kernel and
its plain-loop twin against NumPy float64, forward and backward, with masks (key padding, full, constant), causal,
fully masked rows, biases and dropout; finite differences in a model; 1 vs 2 threads; save/load."""
import numpy as np
import pytest

import nncore
from nncore import _core, ops
from nncore.layers import Dense, Flatten, Reshape


def ref_attention(q, k, v, mask=None, bias=None, causal=False, scale=None):
    """float64 forward (out, probs) and the gradient function of sum(dout * out)."""
    q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
    B, T, H, D = q.shape
    S = k.shape[1]
    scale = 1 / np.sqrt(D) if scale is None else scale
    s = np.einsum("bthd,bshd->bhts", q, k) * scale
    if bias is not None:
        s = s + np.broadcast_to(bias, s.shape)
    allow = np.ones(s.shape, bool)
    if mask is not None:
        allow &= np.broadcast_to(np.asarray(mask) != 0, s.shape)
    if causal:
        allow &= np.tril(np.ones((T, S), bool))
    s = np.where(allow, s, -np.inf)
    m = s.max(-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    e = np.where(allow, np.exp(s - m), 0)
    den = e.sum(-1, keepdims=True)
    p = np.where(den > 0, e / np.where(den > 0, den, 1), 0)
    out = np.einsum("bhts,bshd->bthd", p, v)

    def grads(dout):
        g = np.asarray(dout, np.float64)
        dv = np.einsum("bhts,bthd->bshd", p, g)
        dp = np.einsum("bthd,bshd->bhts", g, v)
        ds = p * (dp - (p * dp).sum(-1, keepdims=True)) * scale
        return np.einsum("bhts,bshd->bthd", ds, k), np.einsum("bhts,bthd->bshd", ds, q), dv
    return out, p, grads


def qkv(rng, B, T, S, H, D, Dv):
    f = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    return f(B, T, H, D), f(B, S, H, D), f(B, S, H, Dv)


CASES = [  # B, T, S, H, D, Dv
    (1, 1, 1, 1, 1, 1), (2, 7, 5, 3, 8, 4), (2, 65, 130, 2, 17, 16), (3, 130, 64, 1, 16, 3), (1, 200, 200, 2, 32, 32)]


@pytest.mark.parametrize("B,T,S,H,D,Dv", CASES)
@pytest.mark.parametrize("masking", ["none", "keys", "full", "constant", "causal", "causal+keys"])
@pytest.mark.parametrize("reference", [False, True])
def test_forward_and_backward_match_numpy(B, T, S, H, D, Dv, masking, reference):
    rng = np.random.default_rng(B * 1000 + T + S + H + D)
    q, k, v = qkv(rng, B, T, S, H, D, Dv)
    mask, causal = None, "causal" in masking
    if "keys" in masking:  # key padding: (B, 1, 1, S), the last keys of row 0 padded
        mask = np.ones((B, 1, 1, S), np.float32)
        mask[0, ..., S // 2:] = 0
    elif masking == "full":
        mask = (rng.random((B, H, T, S)) > 0.4).astype(np.float32)
        mask[:, :, 0, :] = 0  # a query that may attend nothing: zeros
    elif masking == "constant":
        mask = (rng.random((T, S)) > 0.3).astype(np.float32)
    out, lse = _core.dot_product_attention(q, k, v, mask, None, 0.0, causal, reference=reference)
    want, _, grads = ref_attention(q, k, v, mask, causal=causal)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=2e-6)
    if masking == "full":
        assert np.all(out[:, 0] == 0) and np.all(np.isneginf(lse[:, :, 0]))
    g = rng.standard_normal(out.shape).astype(np.float32)
    dq, dk, dv = _core.dot_product_attention_backward(q, k, v, lse, g, mask, None, 0.0, causal, reference=reference)
    for got, ref in zip((dq, dk, dv), grads(g)):
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=2e-5)


def test_bias_scale_and_probabilities():
    rng = np.random.default_rng(1)
    q, k, v = qkv(rng, 2, 9, 11, 3, 6, 5)
    bias = rng.standard_normal((1, 3, 9, 11)).astype(np.float32)
    out, lse, probs = _core.dot_product_attention(q, k, v, None, bias, 0.7, False, return_probs=True)
    want, p, grads = ref_attention(q, k, v, bias=bias, scale=0.7)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=2e-6)
    np.testing.assert_allclose(probs, p, rtol=1e-5, atol=1e-7)
    g = rng.standard_normal(out.shape).astype(np.float32)
    got = _core.dot_product_attention_backward(q, k, v, lse, g, None, bias, 0.7, False)
    for a, b in zip(got, grads(g)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-5)


def test_dropout_is_reproducible_and_differentiable():
    rng = np.random.default_rng(2)
    q, k, v = qkv(rng, 2, 33, 40, 2, 8, 8)
    fast = _core.dot_product_attention(q, k, v, None, None, 0.0, False, 0.3, 42)
    ref = _core.dot_product_attention(q, k, v, None, None, 0.0, False, 0.3, 42, reference=True)
    np.testing.assert_allclose(fast[0], ref[0], rtol=1e-5, atol=2e-6)  # the same keep decisions
    other = _core.dot_product_attention(q, k, v, None, None, 0.0, False, 0.3, 43)[0]
    assert not np.allclose(fast[0], other)
    g = rng.standard_normal(fast[0].shape).astype(np.float32)
    dq, dk, dv = _core.dot_product_attention_backward(q, k, v, fast[1], g, None, None, 0.0, False, 0.3, 42)
    ref_grads = _core.dot_product_attention_backward(q, k, v, ref[1], g, None, None, 0.0, False, 0.3, 42,
                                                     reference=True)
    for a, b in zip((dq, dk, dv), ref_grads):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-5)
    # Finite differences of sum(g * out) through the dropped probabilities, in float64 around float32 points.
    def loss(qq, kk, vv):
        return float(np.sum(g.astype(np.float64) *
                            _core.dot_product_attention(qq, kk, vv, None, None, 0.0, False, 0.3, 42)[0]))
    eps = 1e-2
    for arr, grad in ((q, dq), (k, dk), (v, dv)):
        for idx in [(0, 3, 1, 2), (1, 20, 0, 7), (1, 32, 1, 0)]:
            plus, minus = arr.copy(), arr.copy()
            plus[idx] += eps
            minus[idx] -= eps
            args_p = [plus if a is arr else a for a in (q, k, v)]
            args_m = [minus if a is arr else a for a in (q, k, v)]
            num = (loss(*args_p) - loss(*args_m)) / (2 * eps)
            assert grad[idx] == pytest.approx(num, rel=2e-2, abs=2e-3)


def test_one_and_two_threads_give_the_same_bits():
    rng = np.random.default_rng(3)
    q, k, v = qkv(rng, 4, 100, 90, 4, 16, 16)
    g = rng.standard_normal((4, 100, 4, 16)).astype(np.float32)
    results = []
    old = nncore.get_num_threads()
    try:
        for n in (1, 2):
            nncore.set_num_threads(n)
            out, lse = _core.dot_product_attention(q, k, v, None, None, 0.0, True, 0.1, 7)
            results.append((out, *_core.dot_product_attention_backward(q, k, v, lse, g, None, None, 0.0, True, 0.1, 7)))
    finally:
        nncore.set_num_threads(old)
    for a, b in zip(*results):
        assert np.array_equal(a, b)


def test_ops_on_arrays_with_boolean_masks():
    rng = np.random.default_rng(4)
    q, k, v = qkv(rng, 2, 6, 8, 2, 4, 3)
    mask = rng.random((2, 1, 6, 8)) > 0.3
    out = ops.dot_product_attention(q, k, v, mask=mask, scale=0.5)
    np.testing.assert_allclose(out, ref_attention(q, k, v, mask, scale=0.5)[0], rtol=1e-5, atol=2e-6)
    with pytest.raises(ValueError, match=r"query must have 4 axes \(batch, length, heads, dim\), got shape \(6, 2, 4\)"):
        ops.dot_product_attention(q[0], k, v)
    with pytest.raises(ValueError, match=r"same number of heads"):
        ops.dot_product_attention(q, k[:, :, :1], v[:, :, :1])
    with pytest.raises(ValueError, match=r"mask of shape \(3, 8\) does not broadcast to \(batch, heads, T, S\)"):
        ops.dot_product_attention(q, k, v, mask=np.ones((3, 8), bool))
    with pytest.raises(ValueError, match=r"attn_logits_soft_cap is not supported"):
        ops.dot_product_attention(q, k, v, attn_logits_soft_cap=50.0)


def _attention_model(T=7, S=9, H=2, D=4, masked=False, causal=False):
    x = nncore.Input((T, 6))
    y = nncore.Input((S, 5))
    q = Reshape((T, H, D))(Dense(H * D, name="q")(x))
    k = Reshape((S, H, D))(Dense(H * D, name="k")(y))
    v = Reshape((S, H, 3))(Dense(H * 3, name="v")(y))
    inputs = [x, y]
    mask = None
    if masked:
        mask = nncore.Input((1, 1, S))
        inputs.append(mask)
    a = ops.dot_product_attention(q, k, v, mask=mask, is_causal=causal)
    out = Dense(2, name="out")(Flatten()(a))
    return nncore.Model(inputs, out)


@pytest.mark.parametrize("masked,causal", [(False, False), (True, False), (False, True)])
def test_finite_differences_in_a_model(masked, causal):
    nncore.utils.set_random_seed(5)
    rng = np.random.default_rng(5)
    model = _attention_model(masked=masked, causal=causal)
    model.compile("sgd", "mse")
    x = [rng.standard_normal((3, 7, 6)).astype(np.float32), rng.standard_normal((3, 9, 5)).astype(np.float32)]
    if masked:
        m = np.ones((3, 1, 1, 9), np.float32)
        m[1, ..., 5:] = 0
        x.append(m)
    errors = nncore.gradient_check(model, x, rng.standard_normal((3, 2)).astype(np.float32), epsilon=1e-2)
    assert max(errors.values()) < 1e-2, errors


def test_model_trains_saves_and_loads(tmp_path):
    nncore.utils.set_random_seed(6)
    rng = np.random.default_rng(6)
    model = _attention_model(masked=True)
    x = [rng.standard_normal((64, 7, 6)).astype(np.float32), rng.standard_normal((64, 9, 5)).astype(np.float32),
         (rng.random((64, 1, 1, 9)) > 0.2).astype(np.float32)]
    y = rng.standard_normal((64, 2)).astype(np.float32)
    model.compile("adam", "mse")
    h = model.fit(x, y, epochs=5, batch_size=16, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]
    model.save(tmp_path / "att.nncore")
    loaded = nncore.load_model(tmp_path / "att.nncore")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_matches_keras_when_available():
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(7)
    q, k, v = qkv(rng, 2, 6, 8, 2, 4, 4)
    mask = rng.random((2, 1, 6, 8)) > 0.3
    for kwargs in ({}, {"mask": mask}, {"is_causal": True}, {"scale": 0.3}):
        theirs = keras.ops.convert_to_numpy(keras.ops.dot_product_attention(q, k, v, **kwargs))
        np.testing.assert_allclose(ops.dot_product_attention(q, k, v, **kwargs), theirs, rtol=1e-5, atol=1e-6)
