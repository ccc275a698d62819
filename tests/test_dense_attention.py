"""layers.Attention (Luong) and layers.AdditiveAttention (Bahdanau): Keras 3's math against a NumPy float64
reference (and Keras itself with KERAS_BACKEND=torch where it is installed), on arrays and traced into C++ graphs;
masks given or arriving by themselves from Embedding(mask_zero=True), Masking and recurrent layers; the causal mask;
dropout; finite-difference gradients; config round trip and save/load."""
import os

import numpy as np
import pytest

import nncore
from nncore import layers
from graph_helpers import gradient_errors, seeded  # noqa: F401 - seeded: an autouse fixture

# (class, constructor arguments, weights to set: None keeps the layer's)
CONFIGS = [
    (layers.Attention, {}, []),
    (layers.Attention, {"use_scale": True}, [np.float32(0.7)]),
    (layers.Attention, {"score_mode": "concat"}, [np.float32(1.3)]),
    (layers.Attention, {"use_scale": True, "score_mode": "concat"}, [np.float32(0.6), np.float32(-1.1)]),
    (layers.AdditiveAttention, {}, "random"),
    (layers.AdditiveAttention, {"use_scale": False}, []),
]


def reference(cls, kwargs, weights, q, v, k=None, q_mask=None, v_mask=None, causal=False):
    """Keras 3's attention.py / additive_attention.py in float64: (output, attention weights)."""
    q, v = q.astype(np.float64), v.astype(np.float64)
    k = v if k is None else k.astype(np.float64)
    w = [np.asarray(a, np.float64) for a in weights]
    if cls is layers.AdditiveAttention:
        scale = w[0] if kwargs.get("use_scale", True) else 1.0
        scores = np.sum(scale * np.tanh(q[:, :, None, :] + k[:, None, :, :]), axis=-1)
    elif kwargs.get("score_mode", "dot") == "dot":
        scores = q @ np.swapaxes(k, 1, 2)
        if kwargs.get("use_scale"):
            scores = scores * w[0]
    else:
        summed = q[:, :, None, :] + k[:, None, :, :]
        if kwargs.get("use_scale"):
            summed = w[0] * summed
        scores = w[-1] * np.sum(np.tanh(summed), axis=-1)
    allowed = np.ones(scores.shape, bool)
    if v_mask is not None:
        allowed &= np.asarray(v_mask, bool)[:, None, :]
    if causal:
        allowed &= np.tril(np.ones(scores.shape[1:], bool))
    scores = np.where(allowed, scores, scores - 1e9)
    e = np.exp(scores - scores.max(-1, keepdims=True))
    probs = e / e.sum(-1, keepdims=True)
    out = probs @ v
    if q_mask is not None:
        out = np.where(np.asarray(q_mask, bool)[:, :, None], out, 0.0)
    return out, probs


def make(cls, kwargs, weights, dim):
    layer = cls(**kwargs)
    layer.build([(None, 3, dim), (None, 4, dim)])
    if isinstance(weights, str):
        weights = [np.random.default_rng(5).uniform(-1, 1, dim).astype(np.float32)]
    layer.set_weights(weights)
    return layer, layer.get_weights()


def data(rng, B=3, Tq=4, Tv=6, dim=5):
    q = rng.standard_normal((B, Tq, dim)).astype(np.float32)
    v = rng.standard_normal((B, Tv, dim)).astype(np.float32)
    k = rng.standard_normal((B, Tv, dim)).astype(np.float32)
    q_mask = rng.random((B, Tq)) > 0.3
    v_mask = rng.random((B, Tv)) > 0.3
    v_mask[:, 0] = True  # every query keeps a key (fully masked rows: test_fully_masked_query)
    return q, v, k, q_mask, v_mask


# ---- arrays ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls,kwargs,weights", CONFIGS)
def test_arrays_match_numpy(cls, kwargs, weights):
    rng = np.random.default_rng(0)
    q, v, k, q_mask, v_mask = data(rng)
    layer, w = make(cls, kwargs, weights, q.shape[-1])
    out = layer([q, v])
    assert out.dtype == np.float32 and out.shape == (3, 4, 5)
    np.testing.assert_allclose(out, reference(cls, kwargs, w, q, v)[0], rtol=1e-5, atol=1e-5)
    out, probs = layer([q, v, k], mask=[q_mask, v_mask], return_attention_scores=True)
    ref_out, ref_probs = reference(cls, kwargs, w, q, v, k, q_mask, v_mask)
    np.testing.assert_allclose(out, ref_out, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(probs, ref_probs, rtol=1e-5, atol=1e-6)
    assert np.all(probs[~np.broadcast_to(v_mask[:, None, :], probs.shape)] == 0)
    out = layer([q, v], mask=[None, v_mask], use_causal_mask=True)
    np.testing.assert_allclose(out, reference(cls, kwargs, w, q, v, None, None, v_mask, True)[0], rtol=1e-5, atol=1e-5)


def test_weights_as_keras():
    att = layers.Attention(use_scale=True, score_mode="concat")
    att.build([(None, 2, 8), (None, 3, 8)])
    assert [w.shape for w in att.get_weights()] == [(), ()]
    assert [w.name for w in att.weights] == ["scale", "concat_score_weight"]
    assert all(float(w) == 1.0 for w in att.get_weights())  # Keras initializes both to ones
    add = layers.AdditiveAttention()
    add.build([(None, 2, 48), (None, 3, 48)])
    (scale,) = add.get_weights()
    assert scale.shape == (48,) and np.abs(scale).max() <= np.sqrt(6 / 96) + 1e-6 and scale.std() > 0.05
    assert layers.AdditiveAttention(use_scale=False).get_weights() == []


def test_fully_masked_query():
    """Keras adds -1e9 to masked scores in float32, where s - 1e9 rounds to -1e9: a query whose keys are all masked
    (here by the value mask and the causal mask together) gets equal weights on every key, not zeros."""
    rng = np.random.default_rng(1)
    q, v, _, _, _ = data(rng, B=2, Tq=3, Tv=4, dim=3)
    v_mask = np.ones((2, 4), bool)
    v_mask[0, 0] = False  # query 0 of sample 0 may only see key 0 (causal), which is masked
    out, probs = layers.Attention()([q, v], mask=[None, v_mask], use_causal_mask=True, return_attention_scores=True)
    np.testing.assert_allclose(probs[0, 0], np.full(4, 0.25), rtol=1e-6)
    np.testing.assert_allclose(out[0, 0], v[0].mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(probs[0, 1], [0, 1, 0, 0], atol=1e-7)


# ---- in models ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls,kwargs,weights", CONFIGS)
def test_model_matches_numpy_and_gradients_check(cls, kwargs, weights):
    rng = np.random.default_rng(2)
    q, v, k, q_mask, v_mask = data(rng)
    layer, w = make(cls, kwargs, weights, q.shape[-1])
    qi, vi, ki = nncore.Input((None, 5)), nncore.Input((None, 5)), nncore.Input((None, 5))
    out, probs = layer([qi, vi, ki], return_attention_scores=True)
    model = nncore.Model([qi, vi, ki], [out, probs])
    got_out, got_probs = model.predict([q, v, k], verbose=0)
    ref_out, ref_probs = reference(cls, kwargs, w, q, v, k)
    np.testing.assert_allclose(got_out, ref_out, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got_probs, ref_probs, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer([q, v, k]), got_out, rtol=1e-6, atol=1e-6)  # eager agrees with the graph
    # Gradients through the attention reach the projections before it (and the layer's own weights).
    xq, xv = nncore.Input((4, 3)), nncore.Input((6, 3))
    att = cls(**kwargs)
    h = att([layers.Dense(5, name="q_proj")(xq), layers.Dense(5, name="v_proj")(xv)])
    grad_model = nncore.Model([xq, xv], layers.Dense(2, name="head")(layers.Flatten()(h)))
    grad_model.compile("sgd", "mse")
    x = [rng.standard_normal((4, 4, 3)).astype(np.float32), rng.standard_normal((4, 6, 3)).astype(np.float32)]
    errors = gradient_errors(grad_model, x, rng.standard_normal((4, 2)).astype(np.float32))
    assert {"q_proj", "v_proj", "head"} <= set(errors) and max(errors.values()) < 1e-2, errors
    if att.weights:
        assert att.name in errors


def test_masks_arrive_from_embedding():
    """Embedding(mask_zero=True) masks reach the layer by themselves; the output carries the query's mask on
    (GlobalAveragePooling1D then averages the valid query steps, as in Keras)."""
    rng = np.random.default_rng(3)
    ids_q, ids_v = nncore.Input((None,), dtype="int32"), nncore.Input((None,), dtype="int32")
    emb = layers.Embedding(20, 6, mask_zero=True)
    att = layers.Attention(use_scale=True)
    seq = att([emb(ids_q), emb(ids_v)])
    model = nncore.Model([ids_q, ids_v], [seq, layers.GlobalAveragePooling1D()(seq)])
    xq = rng.integers(1, 20, (4, 5)).astype(np.float32)
    xv = rng.integers(1, 20, (4, 7)).astype(np.float32)
    xq[:, 3:] = 0
    xv[0, 2:] = 0
    xv[1, 5:] = 0
    att.scale.assign(0.5)
    table = emb.get_weights()[0]
    ref, _ = reference(layers.Attention, {"use_scale": True}, [0.5], table[xq.astype(int)], table[xv.astype(int)],
                       None, xq != 0, xv != 0)
    seq_out, pooled = model.predict([xq, xv], verbose=0)
    np.testing.assert_allclose(seq_out, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pooled, ref[:, :3].mean(1), rtol=1e-5, atol=1e-6)
    # The same masks given explicitly give the same model.
    att2 = layers.Attention(use_scale=True)
    eq, ev = emb(ids_q), emb(ids_v)
    explicit = att2([eq, ev], mask=[nncore.ops.not_equal(ids_q, 0), nncore.ops.not_equal(ids_v, 0)])
    att2.set_weights([np.float32(0.5)])
    np.testing.assert_allclose(nncore.Model([ids_q, ids_v], explicit).predict([xq, xv], verbose=0), ref,
                               rtol=1e-5, atol=1e-6)


def test_masks_through_recurrent_and_masking_layers():
    rng = np.random.default_rng(4)
    ids = nncore.Input((6,))
    emb = layers.Embedding(10, 4, mask_zero=True)(ids)
    enc = layers.LSTM(4, return_sequences=True)(emb)   # passes the mask on
    feats = nncore.Input((5, 3))
    dec = layers.Masking(0.0)(feats)
    add = layers.AdditiveAttention()
    out, probs = add([layers.Dense(4)(dec), enc], return_attention_scores=True)
    model = nncore.Model([ids, feats], [out, probs])
    x_ids = rng.integers(1, 10, (3, 6)).astype(np.float32)
    x_ids[0, 4:] = 0
    x_ids[2, 1:] = 0
    x_feats = rng.standard_normal((3, 5, 3)).astype(np.float32)
    x_feats[1, 3:] = 0
    got, got_probs = model.predict([x_ids, x_feats], verbose=0)
    v_mask, q_mask = x_ids != 0, np.any(x_feats != 0, -1)
    assert np.all(got_probs[~np.broadcast_to(v_mask[:, None, :], got_probs.shape)] == 0)
    assert np.all(got[~q_mask] == 0) and np.all(np.abs(got[q_mask]).sum(-1) > 0)
    # The mask is found, not given: a model without the Masking layer differs exactly at the masked steps.
    np.testing.assert_allclose(got_probs.sum(-1), 1.0, rtol=1e-6)


class MaskedTokenEmbedding(layers.Layer):
    """A custom layer whose output carries the mask of the Embedding inside it (traced: the mask is found there)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.emb = layers.Embedding(15, 4, mask_zero=True)

    def call(self, x):
        return self.emb(x) * 2.0


def test_masks_found_inside_custom_layers_and_nested_models():
    rng = np.random.default_rng(5)
    ids = nncore.Input((6,))
    inner_in = nncore.Input((6,))
    nested = nncore.Model(inner_in, layers.Dense(4)(layers.Embedding(15, 4, mask_zero=True)(inner_in)))
    q, v = MaskedTokenEmbedding()(ids), nested(ids)
    att = layers.Attention()
    model = nncore.Model(ids, att([q, v], return_attention_scores=True))
    x = rng.integers(1, 15, (3, 6)).astype(np.float32)
    x[0, 4:] = 0
    x[1, 1:] = 0
    out, probs = model.predict(x, verbose=0)
    keep = x != 0
    assert np.all(probs[~np.broadcast_to(keep[:, None, :], probs.shape)] == 0)
    assert np.all(out[~keep] == 0) and np.all(np.abs(out[keep]).sum(-1) > 0)


def test_causal_mask_in_a_model():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 5, 4)).astype(np.float32)
    inp = nncore.Input((5, 4))
    att = layers.Attention()
    model = nncore.Model(inp, att([inp, inp], use_causal_mask=True))
    ref, _ = reference(layers.Attention, {}, [], x, x, causal=True)
    np.testing.assert_allclose(model.predict(x, verbose=0), ref, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"use_causal_mask=True.*use_causal_mask=False"):
        att([inp, inp])
    unknown = nncore.Input((None, 4))
    with pytest.raises(ValueError, match="use_causal_mask in a model needs the query and value lengths"):
        layers.Attention()([unknown, unknown], use_causal_mask=True)


def test_dropout_in_training_only():
    rng = np.random.default_rng(7)
    q, v, _, _, _ = data(rng, B=2, Tq=8, Tv=10, dim=4)
    att = layers.Attention(dropout=0.5, seed=3)
    plain, probs = att([q, v], return_attention_scores=True)
    np.testing.assert_allclose(plain, reference(layers.Attention, {}, [], q, v)[0], rtol=1e-5, atol=1e-5)
    _, dropped = att([q, v], training=True, return_attention_scores=True)
    zeroed = dropped == 0
    assert 0.3 < zeroed.mean() < 0.7
    np.testing.assert_allclose(dropped[~zeroed], 2 * probs[~zeroed], rtol=1e-5)
    qi, vi = nncore.Input((8, 4)), nncore.Input((10, 4))
    model = nncore.Model([qi, vi], layers.Attention(dropout=0.5)([qi, vi]))
    np.testing.assert_allclose(model.predict([q, v], verbose=0), plain, rtol=1e-5, atol=1e-6)
    model.compile("sgd", "mse")
    trained = model.train_on_batch([q, v], np.zeros_like(q))
    assert trained > 0


def test_learns_to_attend():
    """A pointer task: the query names a position (one-hot), the answer is the value there."""
    rng = np.random.default_rng(8)
    n, T = 512, 6
    pos = rng.integers(0, T, n)
    vals = rng.standard_normal((n, T, 1)).astype(np.float32)
    query = np.eye(T, dtype=np.float32)[pos][:, None, :]
    keys = np.broadcast_to(np.eye(T, dtype=np.float32), (n, T, T)).copy()
    qi, vi, ki = nncore.Input((1, T)), nncore.Input((T, 1)), nncore.Input((T, T))
    att = layers.Attention(use_scale=True)
    model = nncore.Model([qi, vi, ki], layers.Flatten()(att([qi, vi, ki])))
    model.compile(nncore.optimizers.Adam(0.1), "mse")
    target = vals[np.arange(n), pos]
    before = model.evaluate([query, vals, keys], target, verbose=0)
    model.fit([query, vals, keys], target, epochs=20, batch_size=64, verbose=0)
    assert float(att.scale.numpy()) > 4  # the scale sharpens the softmax onto the named position
    assert model.evaluate([query, vals, keys], target, verbose=0) < 0.05 * before


# ---- configuration, saving ------------------------------------------------------------------------------------------
def test_config_round_trip_and_errors():
    att = layers.Attention(use_scale=True, score_mode="concat", dropout=0.25, seed=4, name="luong")
    config = att.get_config()
    assert config == {"name": "luong", "trainable": True, "dtype": "float32", "use_scale": True,
                      "score_mode": "concat", "dropout": 0.25, "seed": 4}
    clone = layers.Attention.from_config({**config, "name": "luong2"})
    assert (clone.use_scale, clone.score_mode, clone.dropout, clone.seed) == (True, "concat", 0.25, 4)
    add = layers.AdditiveAttention(use_scale=False, name="bahdanau")
    assert add.get_config() == {"name": "bahdanau", "trainable": True, "dtype": "float32", "use_scale": False,
                                "dropout": 0.0, "seed": None}
    again = layers.deserialize(layers.serialize(add))
    assert type(again) is layers.AdditiveAttention and again.use_scale is False
    with pytest.raises(ValueError, match="Expected one of {'dot', 'concat'}"):
        layers.Attention(score_mode="general")
    with pytest.raises(ValueError, match="dropout must be a number in"):
        layers.Attention(dropout=1.5)
    x = np.zeros((1, 2, 3), np.float32)
    with pytest.raises(ValueError, match="must be called on a list of inputs"):
        layers.Attention()(x)
    with pytest.raises(ValueError, match="inputs list of length 2 or 3"):
        layers.Attention()([x])
    with pytest.raises(ValueError, match="mask must be a list"):
        layers.Attention()([x, x], mask=x[..., 0])
    with pytest.raises(ValueError, match=r"query must be \(batch, length, dim\)"):
        layers.Attention()([x[0], x])


def test_save_and_load(tmp_path):
    rng = np.random.default_rng(9)
    ids_q, ids_v = nncore.Input((5,)), nncore.Input((7,))
    q = layers.Embedding(12, 6, mask_zero=True)(ids_q)
    v = layers.Embedding(12, 6, mask_zero=True)(ids_v)
    h = layers.Attention(use_scale=True, score_mode="concat", name="luong")([q, v])
    h2 = layers.AdditiveAttention(name="bahdanau")([layers.Dense(6)(h), v], use_causal_mask=True)
    model = nncore.Model([ids_q, ids_v], layers.Dense(1)(layers.GlobalAveragePooling1D()(h2)))
    model.compile("adam", "mse")
    xq = rng.integers(0, 12, (16, 5)).astype(np.float32)
    xv = rng.integers(0, 12, (16, 7)).astype(np.float32)
    xv[:, 0] = 1
    y = rng.standard_normal((16, 1)).astype(np.float32)
    model.fit([xq, xv], y, epochs=3, verbose=0)
    path = tmp_path / "attention.nncore"
    model.save(path)
    loaded = nncore.load_model(path)  # no custom_objects: the classes are nncore's
    np.testing.assert_array_equal(loaded.predict([xq, xv], verbose=0), model.predict([xq, xv], verbose=0))
    luong = loaded.get_layer("luong")
    assert type(luong) is layers.Attention and luong.get_config()["score_mode"] == "concat"
    assert [w.shape for w in luong.get_weights()] == [(), ()] and luong.scale is not None
    for a, b in zip(loaded.get_layer("bahdanau").get_weights(), model.get_layer("bahdanau").get_weights()):
        np.testing.assert_array_equal(a, b)
    loaded.fit([xq, xv], y, epochs=1, verbose=0)  # training resumes


def test_onnx_export_when_available(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from nncore.onnx_export import export_onnx
    rng = np.random.default_rng(11)
    ids_q, feats = nncore.Input((5,)), nncore.Input((7, 6))
    q = layers.Embedding(12, 6, mask_zero=True)(ids_q)
    v = layers.Masking(0.0)(feats)
    h = layers.Attention(use_scale=True, score_mode="concat")([q, v])
    h = layers.AdditiveAttention()([h, v], use_causal_mask=True)
    model = nncore.Model([ids_q, feats], layers.GlobalAveragePooling1D()(h))
    xq = rng.integers(0, 12, (4, 5)).astype(np.float32)
    xq[:, 3:] = 0
    xv = rng.standard_normal((4, 7, 6)).astype(np.float32)
    xv[1, 2:] = 0
    export_onnx(model, tmp_path / "att.onnx")
    session = ort.InferenceSession(str(tmp_path / "att.onnx"))
    names = [i.name for i in session.get_inputs()]
    np.testing.assert_allclose(session.run(None, dict(zip(names, [xq, xv])))[0], model.predict([xq, xv], verbose=0),
                               rtol=1e-5, atol=1e-6)


# ---- Keras ----------------------------------------------------------------------------------------------------------
def test_matches_keras_when_available():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(10)
    q, v, k, q_mask, v_mask = data(rng)
    v_mask[0] = False  # sample 0: no key at all (Keras's uniform weights)
    v_mask[0, 0] = True
    v_mask[1, :] = False
    for cls, kwargs, weights in CONFIGS:
        ours, _ = make(cls, kwargs, weights, q.shape[-1])
        theirs = getattr(keras.layers, cls.__name__)(**kwargs)
        theirs.build([(None, 4, 5), (None, 6, 5)])
        theirs.set_weights(ours.get_weights())
        for args in ({}, {"mask": [q_mask, v_mask]}, {"mask": [None, v_mask], "use_causal_mask": True},
                     {"use_causal_mask": True}):
            want = [keras.ops.convert_to_numpy(a) for a in theirs([q, v, k], return_attention_scores=True, **args)]
            got = ours([q, v, k], return_attention_scores=True, **args)
            np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-5, err_msg=f"{cls.__name__} {kwargs}")
            np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-6, err_msg=f"{cls.__name__} {kwargs}")
        assert ours.get_config() == {**{k: v for k, v in theirs.get_config().items() if k not in ("dtype", "name")},
                                     "name": ours.name, "dtype": "float32"}
