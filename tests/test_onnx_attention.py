"""ONNX export of attention: MultiHeadAttention layers and ops.dot_product_attention nodes run in ONNX Runtime with
the outputs of ``model.predict`` (rtol 1e-5, atol 1e-6), masks, causal masking, fully masked rows (zeros) and the
attention scores included."""
import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import nncore  # noqa: E402
from nncore import layers as L  # noqa: E402
from nncore import ops  # noqa: E402
from nncore.onnx_export import SUPPORTED_LAYERS, export_onnx  # noqa: E402

RTOL, ATOL = 1e-5, 1e-6
B, T, S = 4, 6, 5


def randomize(model, seed=0):
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if layer.get_weights() and not type(layer).__name__.endswith("Op"):   # ops' constants are data
            layer.set_weights([rng.normal(0.0, 0.5, w.shape) for w in layer.get_weights()])
    return model


def normal(shape, seed=1):
    return np.random.default_rng(seed).normal(0.0, 1.0, shape).astype(np.float32)


def check(model, xs, tmp_path, opset=17):
    """Export, check the file, run it in ONNX Runtime and compare every output with predict."""
    xs = xs if isinstance(xs, list) else [xs]
    path = tmp_path / "model.onnx"
    model.export_onnx(path, opset=opset)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {i.name: x for i, x in zip(sess.get_inputs(), xs)})
    want = model.predict(xs if len(xs) > 1 else xs[0], batch_size=len(xs[0]))
    want = want if isinstance(want, list) else [want]
    names = [o.name for o in sess.get_outputs()]
    assert names[0] == model.output_names[0] and len(set(names)) == len(names)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)
    return proto, got


def test_attention_is_supported():
    assert {"MultiHeadAttention", "DotProductAttentionOp"} <= set(SUPPORTED_LAYERS)


# ---- MultiHeadAttention -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,causal", [
    (dict(num_heads=2, key_dim=3, value_dim=5), False),
    (dict(num_heads=3, key_dim=4, value_dim=2, output_shape=7), False),
    (dict(num_heads=2, key_dim=3, value_dim=4, use_bias=False), False),
    (dict(num_heads=2, key_dim=5), True),
    (dict(num_heads=1, key_dim=3, value_dim=6, output_shape=(4,), use_bias=False, dropout=0.3), True)])
def test_mha_self_attention(tmp_path, kwargs, causal):
    x = nncore.Input((T, 8))
    y = L.MultiHeadAttention(**kwargs)(x, x, use_causal_mask=causal)
    model = randomize(nncore.Model(x, y))
    proto, _ = check(model, normal((B, T, 8)), tmp_path)
    op_types = {n.op_type for n in proto.graph.node}
    assert "Softmax" in op_types and ("LessOrEqual" in op_types) == causal


@pytest.mark.parametrize("causal", [False, True])
def test_mha_cross_attention_with_separate_key(tmp_path, causal):
    """Query (T, 6), value (S, 5) and key (S, 3) of different lengths and widths; a layer shared by two calls."""
    q, v, k = nncore.Input((T, 6)), nncore.Input((S, 5)), nncore.Input((S, 3))
    mha = L.MultiHeadAttention(num_heads=2, key_dim=4, value_dim=3, output_shape=5)
    y1 = mha(q, v, k, use_causal_mask=causal)
    y2 = mha(q, v, k, use_causal_mask=causal)
    model = randomize(nncore.Model([q, v, k], L.Add()([y1, y2])))
    check(model, [normal((B, T, 6)), normal((B, S, 5), 2), normal((B, S, 3), 3)], tmp_path)


@pytest.mark.parametrize("causal", [False, True])
def test_mha_attention_mask_input(tmp_path, causal):
    """attention_mask (B, T, S) from the graph, 0/1 floats with some rows all 0: those queries get the output bias."""
    q, v, m = nncore.Input((T, 4)), nncore.Input((S, 6)), nncore.Input((T, S))
    y = L.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=2)(q, v, attention_mask=m, use_causal_mask=causal)
    model = randomize(nncore.Model([q, v, m], y))
    mask = (np.random.default_rng(4).random((B, T, S)) > 0.4).astype(np.float32)
    mask[0, 1] = 0.0
    mask[2] = 0.0
    mask[1, :, 0] = 1.0
    _, (got,) = check(model, [normal((B, T, 4)), normal((B, S, 6), 2), mask], tmp_path)
    bias = model.layers[-1].get_weights()[-1]
    np.testing.assert_allclose(got[2], np.broadcast_to(bias, got[2].shape), rtol=RTOL, atol=ATOL)


def ids(shape, vocab, seed=5):
    """Token ids with padding (0) at the end of rows, one sample all padding."""
    rng = np.random.default_rng(seed)
    x = rng.integers(1, vocab, shape).astype(np.float32)
    for b in range(shape[0]):
        x[b, rng.integers(1, shape[1] + 1):] = 0.0
    x[1] = 0.0
    x[0, 0] = 0.0   # padding at the start too
    return x


def test_mha_embedding_padding_masks(tmp_path):
    """Query and value from Embedding(mask_zero=True) with their own padding, a key through Masking, and an
    attention_mask: combined with AND; fully padded samples and padded queries give zeros + the output bias."""
    qi, vi, k, m = nncore.Input((T,)), nncore.Input((S,)), nncore.Input((S, 3)), nncore.Input((T, S))
    query = L.Embedding(11, 4, mask_zero=True)(qi)
    value = L.Embedding(9, 5, mask_zero=True)(vi)
    key = L.Masking(mask_value=0.0)(k)
    mha = L.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=4)
    y = mha(query, value, key, attention_mask=m)
    model = randomize(nncore.Model([qi, vi, k, m], y))
    kx = normal((B, S, 3), 6)
    kx[0, 2] = 0.0
    kx[3, :] = 0.0    # a sample whose keys are all masked
    mask = (np.random.default_rng(7).random((B, T, S)) > 0.2).astype(np.float32)
    check(model, [ids((B, T), 11), ids((B, S), 9, seed=8), kx, mask], tmp_path)


@pytest.mark.parametrize("causal", [False, True])
def test_mha_self_attention_over_padding(tmp_path, causal):
    x = nncore.Input((T,))
    e = L.Embedding(13, 8, mask_zero=True)(x)
    y = L.MultiHeadAttention(num_heads=2, key_dim=4)(e, e, use_causal_mask=causal)
    model = randomize(nncore.Model(x, y))
    _, (got,) = check(model, ids((B, T), 13), tmp_path)
    bias = model.layers[-1].get_weights()[-1]
    np.testing.assert_allclose(got[1], np.broadcast_to(bias, got[1].shape), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("causal", [False, True])
def test_mha_return_attention_scores(tmp_path, causal):
    q, v, m = nncore.Input((T, 4)), nncore.Input((S, 6)), nncore.Input((T, S))
    y, scores = L.MultiHeadAttention(num_heads=3, key_dim=2, value_dim=3)(
        q, v, attention_mask=m, return_attention_scores=True, use_causal_mask=causal)
    model = randomize(nncore.Model([q, v, m], [L.Dense(2)(y), scores]))
    mask = (np.random.default_rng(9).random((B, T, S)) > 0.3).astype(np.float32)
    mask[1, 2] = 0.0
    proto, (_, probs) = check(model, [normal((B, T, 4)), normal((B, S, 6), 2), mask], tmp_path)
    assert probs.shape == (B, 3, T, S)
    assert np.all(probs[1, :, 2] == 0.0)
    assert [d.dim_value for d in proto.graph.output[1].type.tensor_type.shape.dim[1:]] == [3, T, S]


def test_mha_scores_inside_nested_model(tmp_path):
    """A nested model whose MultiHeadAttention returns scores (used inside it) is inlined with both outputs."""
    x = nncore.Input((T, 5))
    y, scores = L.MultiHeadAttention(num_heads=2, key_dim=3)(x, x, return_attention_scores=True)   # (2, T, T)
    per_query = L.Dense(5)(L.Reshape((T, 2 * T))(L.Permute((2, 1, 3))(scores)))
    inner = nncore.Model(x, L.Add()([y, per_query]))
    outer_in = nncore.Input((T, 5))
    model = randomize(nncore.Model(outer_in, L.Dense(3)(inner(outer_in))))
    check(model, normal((B, T, 5)), tmp_path)


def test_mha_unknown_length_raises(tmp_path):
    x = nncore.Input((None, 8))
    model = nncore.Model(x, L.MultiHeadAttention(num_heads=2, key_dim=4)(x, x))
    with pytest.raises(ValueError, match="unknown length"):
        export_onnx(model, tmp_path / "m.onnx")


# ---- ops.dot_product_attention ------------------------------------------------------------------------------------
H, D, DV = 3, 4, 5


def qkv_inputs(t=T, s=S):
    return nncore.Input((t, H, D)), nncore.Input((s, H, D)), nncore.Input((s, H, DV))


def qkv_arrays(t=T, s=S, seed=10):
    return [normal((B, t, H, D), seed), normal((B, s, H, D), seed + 1), normal((B, s, H, DV), seed + 2)]


@pytest.mark.parametrize("scale,causal", [(None, False), (0.7, False), (None, True), (0.25, True)])
@pytest.mark.parametrize("t,s", [(T, S), (S, T), (T, T)])
def test_dpa_scale_and_causal(tmp_path, scale, causal, t, s):
    q, k, v = qkv_inputs(t, s)
    model = nncore.Model([q, k, v], ops.dot_product_attention(q, k, v, scale=scale, is_causal=causal))
    check(model, qkv_arrays(t, s), tmp_path)


@pytest.mark.parametrize("shape", [(S,), (T, S), (H, 1, S), (1, H, T, S), (B, 1, T, 1)])
def test_dpa_constant_mask(tmp_path, shape):
    """Constant masks of any shape that broadcasts against (B, H, T, S), with rows that allow no key."""
    rng = np.random.default_rng(11)
    mask = rng.random(shape) > 0.4
    mask.reshape(-1)[: max(1, mask.size // 4)] = False
    if len(shape) >= 2:
        mask[..., 0, :] = False      # a query row with no key
    q, k, v = qkv_inputs()
    model = nncore.Model([q, k, v], ops.dot_product_attention(q, k, v, mask=mask))
    check(model, qkv_arrays(), tmp_path)


@pytest.mark.parametrize("mask_shape", [(H, T, S), (1, T, S), (1, 1, S), (H, 1, 1)])
@pytest.mark.parametrize("causal", [False, True])
def test_dpa_graph_mask(tmp_path, mask_shape, causal):
    q, k, v = qkv_inputs()
    m = nncore.Input(mask_shape)
    model = nncore.Model([q, k, v, m], ops.dot_product_attention(q, k, v, mask=m, is_causal=causal))
    mask = (np.random.default_rng(12).random((B, *mask_shape)) > 0.4).astype(np.float32)
    mask[1] = 0.0   # a sample where nothing is allowed: zeros
    _, (got,) = check(model, qkv_arrays() + [mask], tmp_path)
    assert np.all(got[1] == 0.0)


@pytest.mark.parametrize("bias_shape", [(S,), (T, S), (H, T, S), (B, H, T, S)])
def test_dpa_bias(tmp_path, bias_shape):
    bias = normal(bias_shape, 13)
    q, k, v = qkv_inputs()
    m = nncore.Input((1, T, S))
    y = ops.dot_product_attention(q, k, v, bias=bias, mask=m, scale=0.5, is_causal=True)
    model = nncore.Model([q, k, v, m], y)
    mask = (np.random.default_rng(14).random((B, 1, T, S)) > 0.3).astype(np.float32)
    check(model, qkv_arrays() + [mask], tmp_path)
    model = nncore.Model([q, k, v], ops.dot_product_attention(q, k, v, bias=bias))
    check(model, qkv_arrays(), tmp_path)


def test_dpa_between_layers(tmp_path):
    """Heads made by Dense + Reshape, attention, merged by Reshape + Dense (a hand-made multi-head attention)."""
    x = nncore.Input((T, 8))
    heads = [L.Reshape((T, 2, 3))(L.Dense(6)(x)) for _ in range(3)]
    o = ops.dot_product_attention(*heads, is_causal=True)
    model = randomize(nncore.Model(x, L.Dense(4)(L.Reshape((T, 6))(o))))
    check(model, normal((B, T, 8)), tmp_path)


# ---- a Transformer block -----------------------------------------------------------------------------------------
def test_transformer_encoder(tmp_path):
    """Embedding(mask_zero) + MultiHeadAttention + residual Add + LayerNormalization + Dense feed-forward +
    GlobalAveragePooling1D (masked mean) + a classifier, with padded and fully padded sequences."""
    x = nncore.Input((T,))
    e = L.Embedding(20, 8, mask_zero=True)(x)
    a = L.MultiHeadAttention(num_heads=2, key_dim=4, dropout=0.1)(e, e)
    h = L.LayerNormalization(epsilon=1e-6)(L.Add()([e, a]))
    f = L.Dense(8)(L.Dense(16, activation="relu")(h))
    h = L.LayerNormalization(epsilon=1e-6)(L.Add()([h, L.Dropout(0.1)(f)]))
    y = L.Dense(3, activation="softmax")(L.GlobalAveragePooling1D()(h))
    model = randomize(nncore.Model(x, y))
    check(model, ids((B, T), 20), tmp_path)
    check(model, ids((B, T), 20), tmp_path, opset=min(onnx.defs.onnx_opset_version(), 21))
