"""The graph as calls of layers: shared layers (one layer, many calls, gradients summed over the calls), layers
with several inputs and outputs (recurrent return_state / initial_state), and an LSTM encoder-decoder."""
from __future__ import annotations

import numpy as np
import pytest

import nncore
from nncore.layers import (LSTM, GRU, Bidirectional, Concatenate, Dense, Embedding, Flatten, GlobalAveragePooling1D,
                           Multiply, SimpleRNN, Subtract)

from graph_helpers import gradient_errors, seeded  # noqa: F401 - seeded: an autouse fixture
from test_recurrent import np_rnn


def two_tower_model(shared: bool):
    """Two inputs through one Dense (shared) or two Dense layers of the same weights (unshared)."""
    a, b = nncore.Input((5,), name="a"), nncore.Input((5,), name="b")
    tower = Dense(4, activation="tanh", name="tower")
    other = tower if shared else Dense(4, activation="tanh", name="tower_copy")
    h = Concatenate()([tower(a), other(b)])
    return nncore.Model([a, b], Dense(1, name="head")(h)), tower, other


def test_shared_layer_gradient_is_the_sum_over_its_calls():
    rng = np.random.default_rng(0)
    xa, xb = rng.standard_normal((6, 5)).astype(np.float32), rng.standard_normal((6, 5)).astype(np.float32)
    y = rng.standard_normal((6, 1)).astype(np.float32)
    shared, tower, _ = two_tower_model(True)
    split, t1, t2 = two_tower_model(False)
    # the shared layer is listed once; the two InputLayers come first, as in Keras
    assert len(shared.layers) == 5 and len(split.layers) == 6
    t1.set_weights(tower.get_weights())
    t2.set_weights(tower.get_weights())
    split.get_layer("head").set_weights(shared.get_layer("head").get_weights())
    for m in (shared, split):
        m.compile("sgd", "mse")
    np.testing.assert_allclose(shared.predict([xa, xb]), split.predict([xa, xb]), rtol=1e-6)
    shared.compute_gradients([xa, xb], y)
    split.compute_gradients([xa, xb], y)
    for g, g1, g2 in zip(tower.gradients, t1.gradients, t2.gradients):
        np.testing.assert_allclose(g, g1 + g2, rtol=1e-5, atol=1e-7)
    errors = gradient_errors(shared, [xa, xb], y)
    assert max(errors.values()) < 1e-2, errors


def test_same_layer_on_one_input_twice_and_on_two_branches():
    """Dense(d)(Dense(d)(x)) with one layer: the second call reads the first's output (a chain through itself)."""
    rng = np.random.default_rng(1)
    x = nncore.Input((3,))
    d = Dense(3, activation="tanh")
    out = Dense(2)(d(d(x)))
    model = nncore.Model(x, out)
    model.compile("sgd", "mse")
    xs, ys = rng.standard_normal((5, 3)).astype(np.float32), rng.standard_normal((5, 2)).astype(np.float32)
    W, b = [w.astype(np.float64) for w in d.get_weights()]
    W2, b2 = [w.astype(np.float64) for w in model.layers[-1].get_weights()]
    h = np.tanh(np.tanh(xs @ W + b) @ W + b)
    np.testing.assert_allclose(model.predict(xs), h @ W2 + b2, rtol=1e-5, atol=1e-6)
    errors = gradient_errors(model, xs, ys)
    assert max(errors.values()) < 1e-2, errors


def siamese_data(n, rng):
    centers = rng.standard_normal((4, 8)) * 2
    ca, cb = rng.integers(0, 4, n), rng.integers(0, 4, n)
    same = rng.random(n) < 0.5
    cb = np.where(same, ca, cb)
    a = centers[ca] + 0.3 * rng.standard_normal((n, 8))
    b = centers[cb] + 0.3 * rng.standard_normal((n, 8))
    return a.astype(np.float32), b.astype(np.float32), (ca == cb).astype(np.float32)


def test_siamese_network_trains():
    nncore.set_random_seed(2)
    rng = np.random.default_rng(2)
    a, b, y = siamese_data(1200, rng)
    ia, ib = nncore.Input((8,)), nncore.Input((8,))
    t1, t2 = Dense(16, activation="relu", name="t1"), Dense(8, name="t2")
    ea, eb = t2(t1(ia)), t2(t1(ib))
    diff = Subtract()([ea, eb])
    out = Dense(1, activation="sigmoid")(Multiply()([diff, diff]))
    model = nncore.Model([ia, ib], out)
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    model.fit([a[:1000], b[:1000]], y[:1000], epochs=15, batch_size=32, verbose=0)
    _, acc = model.evaluate([a[1000:], b[1000:]], y[1000:], verbose=0)
    assert acc > 0.9, acc


def test_one_embedding_for_two_inputs():
    """Keras's functional guide: one Embedding reads two token inputs."""
    rng = np.random.default_rng(3)
    q, d = nncore.Input((6,)), nncore.Input((6,))
    emb = Embedding(20, 4, name="shared_emb")
    feats = Concatenate()([GlobalAveragePooling1D()(emb(q)), GlobalAveragePooling1D()(emb(d))])
    model = nncore.Model([q, d], Dense(1)(feats))
    model.compile("sgd", "mse")
    xq = rng.integers(0, 20, (4, 6)).astype(np.float32)
    xd = rng.integers(0, 20, (4, 6)).astype(np.float32)
    E = emb.get_weights()[0].astype(np.float64)
    W, b = [w.astype(np.float64) for w in model.layers[-1].get_weights()]
    ref = np.concatenate([E[xq.astype(int)].mean(1), E[xd.astype(int)].mean(1)], 1) @ W + b
    np.testing.assert_allclose(model.predict([xq, xd]), ref, rtol=1e-5, atol=1e-6)
    errors = gradient_errors(model, [xq, xd], rng.standard_normal((4, 1)).astype(np.float32))
    assert max(errors.values()) < 1e-2, errors


def test_shared_layers_save_load_summary(tmp_path):
    rng = np.random.default_rng(4)
    model, _, _ = two_tower_model(True)
    model.compile("adam", "mse")
    xs = [rng.standard_normal((7, 5)).astype(np.float32) for _ in range(2)]
    model.fit(xs, rng.standard_normal((7, 1)).astype(np.float32), epochs=2, verbose=0)
    model.save(tmp_path / "shared.nncore")
    loaded = nncore.load_model(tmp_path / "shared.nncore")
    np.testing.assert_array_equal(loaded.predict(xs), model.predict(xs))
    config = loaded.get_config()
    assert config == model.get_config()
    names = [n["layer"] for n in config["nodes"]]
    assert names[:2] == ["tower", "tower"] and names[2].startswith("concatenate") and names[3] == "head"
    assert config["nodes"][1]["inbound"] == [["b", 0, 0]]
    assert config["nodes"][2]["inbound"] == [["tower", 0, 0], ["tower", 1, 0]]
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert text.count("tower (Dense)") == 1
    assert "a, b" in text and "tower, tower[1][0]" in text
    clone = nncore.Model.from_config(config)
    assert len(clone.layers) == 5 and clone.get_config()["nodes"] == config["nodes"]


def test_shared_layer_exports_to_onnx(tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    rng = np.random.default_rng(5)
    model, _, _ = two_tower_model(True)
    xs = [rng.standard_normal((3, 5)).astype(np.float32) for _ in range(2)]
    model.export_onnx(tmp_path / "shared.onnx")
    sess = ort.InferenceSession(str(tmp_path / "shared.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"a": xs[0], "b": xs[1]})[0]
    np.testing.assert_allclose(got, model.predict(xs), rtol=1e-5, atol=1e-6)


# ---- several outputs and inputs per layer: return_state, initial_state ----------------------------------------------
@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn"])
def test_return_state_and_initial_state_match_numpy(cell):
    rng = np.random.default_rng(6)
    cls = {"lstm": LSTM, "gru": GRU, "simple_rnn": SimpleRNN}[cell]
    n_states = 2 if cell == "lstm" else 1
    x = rng.standard_normal((3, 4, 2)).astype(np.float32)
    states = [rng.standard_normal((3, 5)).astype(np.float32) for _ in range(n_states)]
    inp = nncore.Input((4, 2))
    sin = [nncore.Input((5,)) for _ in range(n_states)]
    layer = cls(5, return_sequences=True, return_state=True)
    outs = layer(inp, initial_state=sin)
    assert isinstance(outs, list) and len(outs) == 1 + n_states
    assert outs[0].shape == (None, 4, 5) and all(s.shape == (None, 5) for s in outs[1:])
    model = nncore.Model([inp, *sin], outs)
    got = model.predict([x, *states])
    ref_y, ref_states = np_rnn(cell, x, *layer.get_weights(), initial_state=states)
    np.testing.assert_allclose(got[0], ref_y, rtol=1e-4, atol=1e-5)
    for g, r in zip(got[1:], ref_states):
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-5)
    # On arrays, as Keras: layer(x, initial_state=[...]) returns [output, *states].
    eager = layer(x, initial_state=states)
    for g, e in zip(got, eager):
        np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-7)


def test_gradients_flow_into_initial_states():
    """The decoder's loss reaches the encoder only through the states it hands over."""
    rng = np.random.default_rng(7)
    enc_in, dec_in = nncore.Input((5, 3)), nncore.Input((4, 2))
    _, h, c = LSTM(6, return_state=True, name="encoder")(enc_in)
    dec = LSTM(6, return_sequences=True, name="decoder")(dec_in, initial_state=[h, c])
    out = Dense(3, activation="softmax")(dec)
    model = nncore.Model([enc_in, dec_in], out)
    model.compile("sgd", "sparse_categorical_crossentropy")
    xe = rng.standard_normal((4, 5, 3)).astype(np.float32)
    xd = rng.standard_normal((4, 4, 2)).astype(np.float32)
    y = rng.integers(0, 3, (4, 4)).astype(np.float32)
    model.compute_gradients([xe, xd], y)
    assert np.abs(model.get_layer("encoder").gradients[0]).max() > 0
    errors = gradient_errors(model, [xe, xd], y)
    assert max(errors.values()) < 1e-2, errors


def test_lstm_seq2seq_learns_to_reverse():
    """Keras's lstm_seq2seq shape on a toy task: the encoder reads a sequence of symbols, its states start the
    decoder, which (teacher-forced) emits the sequence reversed."""
    nncore.set_random_seed(8)
    rng = np.random.default_rng(8)
    n, T, V = 1500, 5, 6
    seqs = rng.integers(1, V, (n, T))
    target = seqs[:, ::-1]
    onehot = np.eye(V, dtype=np.float32)
    enc_x = onehot[seqs]
    dec_x = onehot[np.concatenate([np.zeros((n, 1), int), target[:, :-1]], 1)]  # start symbol 0, then shifted
    enc_in, dec_in = nncore.Input((T, V)), nncore.Input((T, V))
    _, h, c = LSTM(32, return_state=True)(enc_in)
    dec = LSTM(32, return_sequences=True)(dec_in, initial_state=[h, c])
    out = Dense(V, activation="softmax")(dec)
    model = nncore.Model([enc_in, dec_in], out)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit([enc_x[:1200], dec_x[:1200]], target[:1200].astype(np.float32), epochs=25, batch_size=32, verbose=0)
    _, acc = model.evaluate([enc_x[1200:], dec_x[1200:]], target[1200:].astype(np.float32), verbose=0)
    assert acc > 0.9, acc


def test_bidirectional_return_state():
    rng = np.random.default_rng(9)
    inp = nncore.Input((4, 3))
    bi = Bidirectional(LSTM(5, return_state=True))
    outs = bi(inp)
    assert len(outs) == 5 and outs[0].shape == (None, 10)
    model = nncore.Model(inp, outs)
    x = rng.standard_normal((2, 4, 3)).astype(np.float32)
    got = model.predict(x)
    wf, wb = bi.get_weights()[:3], bi.get_weights()[3:]
    yf, (hf, cf) = np_rnn("lstm", x, *wf, return_sequences=False)
    yb, (hb, cb) = np_rnn("lstm", x, *wb, return_sequences=False, go_backwards=True)
    for g, r in zip(got, [np.concatenate([yf, yb], 1), hf, cf, hb, cb]):
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-5)
    # Initial states: the forward layer's, then the backward layer's.
    states = [nncore.Input((5,)) for _ in range(4)]
    bi2 = Bidirectional(LSTM(5, return_sequences=True))
    y = bi2(inp, initial_state=states)
    m2 = nncore.Model([inp, *states], y)
    s = [rng.standard_normal((2, 5)).astype(np.float32) for _ in range(4)]
    wf, wb = bi2.get_weights()[:3], bi2.get_weights()[3:]
    yf, _ = np_rnn("lstm", x, *wf, initial_state=s[:2])
    yb, _ = np_rnn("lstm", x, *wb, initial_state=s[2:], go_backwards=True)
    np.testing.assert_allclose(m2.predict([x, *s]), np.concatenate([yf, yb[:, ::-1]], -1), rtol=1e-4, atol=1e-5)


def test_return_state_in_a_sequential_model_is_refused():
    with pytest.raises(ValueError, match="return_state"):
        nncore.Sequential([LSTM(3, return_state=True, input_shape=(4, 2))])


def test_bad_calls_name_the_layer_and_the_values():
    inp = nncore.Input((4, 2))
    with pytest.raises(ValueError, match=r"LSTM 'enc'.*initial state 1 must have shape \(None, 3\), got \(None, 4\)"):
        LSTM(3, name="enc")(inp, initial_state=[nncore.Input((3,)), nncore.Input((4,))])
    with pytest.raises(ValueError, match=r"LSTM 'enc2'.*optionally 2 initial state\(s\), got 2 inputs"):
        LSTM(3, name="enc2")(inp, initial_state=[nncore.Input((3,))])
    with pytest.raises(ValueError, match=r"Bidirectional '.*'.*4 initial states.*got 3 inputs"):
        Bidirectional(LSTM(3))(inp, initial_state=[nncore.Input((3,)), nncore.Input((3,))])
    d = Dense(2, name="dd")
    d(nncore.Input((3,)))
    with pytest.raises(ValueError, match=r"Layer 'dd': already built for input shape \(None, 3\), got \(None, 5\)"):
        d(nncore.Input((5,)))
    with pytest.raises(ValueError, match=r"Dense 'dd' takes one input, got 2|Dense 'dd' takes 1 input\(s\), got 2"):
        d([nncore.Input((3,)), nncore.Input((3,))])
    model = nncore.Model(inp, Flatten()(inp))
    with pytest.raises(ValueError, match=r"predict: x: layer 'flatten.*' \(Flatten\) expected input of shape \(None, 4, 2\), got \(3, 4, 3\)"):
        model.predict(np.zeros((3, 4, 3), np.float32))


# ---- models as layers -----------------------------------------------------------------------------------------------
def make_base():
    return nncore.Sequential([Dense(8, activation="relu", input_shape=(4,)), nncore.layers.BatchNormalization(),
                              Dense(6, activation="tanh")], name="base")


def test_frozen_base_model_trains_only_the_head():
    """Keras's transfer-learning recipe: base.trainable = False; x = base(inputs, training=False); new head."""
    rng = np.random.default_rng(10)
    base = make_base()
    x = rng.standard_normal((64, 4)).astype(np.float32)
    base.compile("adam", "mse")
    base.fit(x, rng.standard_normal((64, 6)).astype(np.float32), epochs=2, verbose=0)  # "pretraining"
    base.trainable = False
    inp = nncore.Input((4,))
    feats = base(inp, training=False)
    head = Dense(2, name="head")
    model = nncore.Model(inp, head(feats))
    assert model.layers[1] is base
    model.compile("adam", "mse")
    before = base.get_weights()
    head_before = head.get_weights()
    out_before = base.predict(x)
    model.fit(x, rng.standard_normal((64, 2)).astype(np.float32), epochs=3, batch_size=16, verbose=0)
    for a, b in zip(before, base.get_weights()):  # moving statistics included: the BN ran in inference mode
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(base.predict(x), out_before)
    assert not np.array_equal(head_before[0], head.get_weights()[0])
    # The model's output is the head on the base's output.
    W, b = head.get_weights()
    np.testing.assert_allclose(model.predict(x), base.predict(x) @ W + b, rtol=1e-5, atol=1e-6)
    assert model.count_params() == base.count_params() + 14
    # Unfrozen (fine-tuning), the base's weights move too.
    base.trainable = True
    model.compile("adam", "mse")
    model.fit(x, rng.standard_normal((64, 2)).astype(np.float32), epochs=1, batch_size=16, verbose=0)
    assert not np.array_equal(before[0], base.get_weights()[0])


def test_nested_model_gradients_and_a_model_called_twice():
    rng = np.random.default_rng(11)
    t_in = nncore.Input((3,))
    tower = nncore.Model(t_in, Dense(4, activation="tanh", name="tw")(t_in), name="tower")
    a, b = nncore.Input((3,)), nncore.Input((3,))
    out = Dense(1)(Concatenate()([tower(a), tower(b)]))
    model = nncore.Model([a, b], out)
    model.compile("sgd", "mse")
    xs = [rng.standard_normal((5, 3)).astype(np.float32) for _ in range(2)]
    y = rng.standard_normal((5, 1)).astype(np.float32)
    W, bias = tower.layers[1].get_weights()
    W2, b2 = model.layers[-1].get_weights()
    ref = np.concatenate([np.tanh(xs[0] @ W + bias), np.tanh(xs[1] @ W + bias)], 1) @ W2 + b2
    np.testing.assert_allclose(model.predict(xs), ref, rtol=1e-5, atol=1e-6)
    errors = gradient_errors(model, xs, y)
    assert max(errors.values()) < 1e-2, errors
    assert [l.name for l in model.layers][2:3] == ["tower"] and len(model.weights) == 4


def test_sequential_inside_sequential_and_input_gradients():
    rng = np.random.default_rng(12)
    inner = nncore.Sequential([Dense(5, activation="relu"), Dense(3)])
    outer = nncore.Sequential([Dense(4, input_shape=(2,)), inner, Dense(1)])
    x = rng.standard_normal((6, 2)).astype(np.float32)
    h = outer.layers[0].forward(x)
    for layer in inner.layers:
        h = layer.forward(h)
    np.testing.assert_allclose(outer.predict(x), outer.layers[2].forward(h), rtol=1e-5, atol=1e-6)
    outer.compile("sgd", "mse")
    y = rng.standard_normal((6, 1)).astype(np.float32)
    errors = gradient_errors(outer, x, y)
    assert max(errors.values()) < 1e-2, errors


def test_encoder_reused_in_an_autoencoder_and_alone(tmp_path):
    nncore.set_random_seed(13)
    rng = np.random.default_rng(13)
    codes = rng.standard_normal((400, 3))
    data = np.tanh(codes @ rng.standard_normal((3, 12))).astype(np.float32)  # 12-D data on a 3-D manifold
    enc_in = nncore.Input((12,))
    encoder = nncore.Model(enc_in, Dense(3, name="code")(Dense(16, activation="tanh")(enc_in)), name="encoder")
    dec_in = nncore.Input((3,))
    decoder = nncore.Model(dec_in, Dense(12)(Dense(16, activation="tanh")(dec_in)), name="decoder")
    ae_in = nncore.Input((12,))
    autoencoder = nncore.Model(ae_in, decoder(encoder(ae_in)), name="autoencoder")
    autoencoder.compile("adam", "mse")
    first = autoencoder.evaluate(data, data, verbose=0)
    autoencoder.fit(data, data, epochs=40, batch_size=32, verbose=0)
    last = autoencoder.evaluate(data, data, verbose=0)
    assert last < 0.25 * first, (first, last)
    # The encoder alone is the trained one.
    np.testing.assert_allclose(decoder.predict(encoder.predict(data)), autoencoder.predict(data), rtol=1e-5,
                               atol=1e-6)
    lines = []
    autoencoder.summary(print_fn=lines.append)
    assert "encoder (Functional)" in "\n".join(lines) and "decoder (Functional)" in "\n".join(lines)
    autoencoder.save(tmp_path / "ae.nncore")
    loaded = nncore.load_model(tmp_path / "ae.nncore")
    np.testing.assert_array_equal(loaded.predict(data), autoencoder.predict(data))
    assert [type(l).__name__ for l in loaded.layers] == ["InputLayer", "Model", "Model"]
    np.testing.assert_array_equal(loaded.get_layer("encoder").predict(data), encoder.predict(data))


def test_nested_models_export_to_onnx(tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    rng = np.random.default_rng(14)
    base = make_base()
    inp = nncore.Input((4,))
    model = nncore.Model(inp, Dense(2)(base(inp)))
    stacked = nncore.Sequential([make_base(), Dense(3)])
    x = rng.standard_normal((5, 4)).astype(np.float32)
    for m, name in ((model, "functional.onnx"), (stacked, "sequential.onnx")):
        m.export_onnx(tmp_path / name)
        sess = ort.InferenceSession(str(tmp_path / name), providers=["CPUExecutionProvider"])
        got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        np.testing.assert_allclose(got, m.predict(x), rtol=1e-5, atol=1e-5)


def test_calling_a_model_on_the_wrong_shape_names_it():
    base = make_base()
    with pytest.raises(ValueError, match=r"Sequential 'base'.*shape \(None, 4\).*\(None, 5\)"):
        base(nncore.Input((5,)))
    t_in = nncore.Input((3,), name="t_in")
    tower = nncore.Model(t_in, Dense(2)(t_in), name="tw_model")
    with pytest.raises(ValueError, match=r"Functional 'tw_model': input 't_in' has shape \(None, 3\), called on a "
                                         r"tensor of shape \(None, 4\)"):
        tower(nncore.Input((4,)))
    with pytest.raises(ValueError, match=r"Functional 'tw_model' takes 1 input\(s\), got 2"):
        tower([nncore.Input((3,)), nncore.Input((3,))])
