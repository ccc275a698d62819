"""Sequence-to-sequence and Transformer programs from keras-io, run on nncore as written: examples/
translation_seq2seq.py (lstm_seq2seq: an encoder-decoder trained with return_state / initial_state, saved, loaded,
and taken apart into an encoder model and a decoder model fed its states step by step) and examples/
text_transformer.py (text_classification_with_transformer: custom TransformerBlock and TokenAndPositionEmbedding
layers); both in their quick form (NNCORE_EXAMPLE_QUICK=1, a few seconds each). And an encoder-decoder with
Luong attention over the encoder's outputs (layers.Attention), masks from Embedding(mask_zero=True)."""
from __future__ import annotations

import re

import numpy as np

import nncore
from nncore import layers
from example_helpers import EXAMPLES, run_example, squash  # noqa: F401


def test_lstm_seq2seq_example(tmp_path):
    out = run_example("translation_seq2seq.py", tmp_path)
    loss, bound = map(float, re.search(r"final training loss: ([0-9.]+) \(bound ([0-9.]+)\)", out).groups())
    train_ok = int(re.search(r"decoded exactly: (\d+)/40 training", out).group(1))
    assert loss < bound <= 0.05, out[-2000:]
    assert train_ok >= 20, out[-2000:]  # measured: 33 of 40
    assert (tmp_path / "s2s_model.keras").is_file()


def test_lstm_seq2seq_example_is_the_keras_io_program():
    body = squash((EXAMPLES / "translation_seq2seq.py").read_text(encoding="utf-8"))
    for line in [
        'encoder_inputs = keras.Input(shape=(None, num_encoder_tokens))',
        'encoder = keras.layers.LSTM(latent_dim, return_state=True)',
        'encoder_outputs, state_h, state_c = encoder(encoder_inputs)',
        'decoder_lstm = keras.layers.LSTM(latent_dim, return_sequences=True, return_state=True)',
        'decoder_outputs, _, _ = decoder_lstm(decoder_inputs, initial_state=encoder_states)',
        'decoder_dense = keras.layers.Dense(num_decoder_tokens, activation="softmax")',
        'model = keras.Model([encoder_inputs, decoder_inputs], decoder_outputs)',
        'optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"]',
        'validation_split=0.2,',
        'model.save("s2s_model.keras")',
        'model = keras.models.load_model("s2s_model.keras")',
        'encoder_inputs = model.input[0]',
        'encoder_model = keras.Model(encoder_inputs, encoder_states)',
        'decoder_outputs, state_h_dec, state_c_dec = decoder_lstm(decoder_inputs, initial_state=decoder_states_inputs)',
        'decoder_model = keras.Model([decoder_inputs] + decoder_states_inputs, [decoder_outputs] + decoder_states)',
        'states_value = encoder_model.predict(input_seq, verbose=0)',
        'output_tokens, h, c = decoder_model.predict([target_seq] + states_value, verbose=0)',
        'sampled_token_index = np.argmax(output_tokens[0, -1, :])',
    ]:
        assert squash(line) in body, f"examples/translation_seq2seq.py lacks: {line}"


def test_text_transformer_example(tmp_path):
    out = run_example("text_transformer.py", tmp_path)
    accuracy = float(re.search(r"validation accuracy: ([0-9.]+)", out).group(1))
    assert accuracy >= 0.85, out[-2000:]  # measured: 0.93


def test_text_transformer_example_is_the_keras_io_program():
    body = squash((EXAMPLES / "text_transformer.py").read_text(encoding="utf-8"))
    for line in [
        "self.att = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)",
        'self.ffn = keras.Sequential([layers.Dense(ff_dim, activation="relu"), layers.Dense(embed_dim),])',
        "attn_output = self.att(inputs, inputs)",
        "out1 = self.layernorm1(inputs + attn_output)",
        "return self.layernorm2(out1 + ffn_output)",
        "maxlen = ops.shape(x)[-1]",
        "positions = ops.arange(start=0, stop=maxlen, step=1)",
        "return x + positions",
        "x_train = keras.utils.pad_sequences(x_train, maxlen=maxlen)",
        "x = layers.GlobalAveragePooling1D()(x)",
        'outputs = layers.Dense(2, activation="softmax")(x)',
        'optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"]',
        "x_train, y_train, batch_size=32, epochs=2, validation_data=(x_val, y_val)",
    ]:
        assert squash(line) in body, f"examples/text_transformer.py lacks: {line}"


def reversal_data(rng, n, max_len, vocab):
    """Digit strings (ids 3..vocab-1, 0 pads) and their reversals; decoder input starts with 1, targets end with 2."""
    lengths = rng.integers(2, max_len + 1, n)
    src = np.zeros((n, max_len), np.float32)
    dec_in = np.zeros((n, max_len + 1), np.float32)
    target = np.zeros((n, max_len + 1), np.float32)
    for i, L in enumerate(lengths):
        s = rng.integers(3, vocab, L)
        src[i, :L] = s
        dec_in[i, 0], dec_in[i, 1:L + 1] = 1, s[::-1]
        target[i, :L], target[i, L] = s[::-1], 2
    return src, dec_in, target


def test_attention_seq2seq_learns_reversal(tmp_path):
    """Encoder LSTM over the source (padding masked), decoder LSTM started from the encoder's states, Luong attention
    of the decoder's outputs over the encoder's (the source mask arrives by itself), then a softmax over the
    vocabulary: learns to reverse strings, and greedy decoding with the trained layers reverses unseen ones."""
    rng = np.random.default_rng(0)
    nncore.utils.set_random_seed(0)
    vocab, max_len, units = 10, 6, 48
    src, dec_in, target = reversal_data(rng, 2000, max_len, vocab)
    enc_ids, dec_ids = nncore.Input((max_len,)), nncore.Input((max_len + 1,))
    enc_seq, h, c = layers.LSTM(units, return_sequences=True, return_state=True)(
        layers.Embedding(vocab, 16, mask_zero=True)(enc_ids))
    dec_seq = layers.LSTM(units, return_sequences=True)(layers.Embedding(vocab, 16)(dec_ids), initial_state=[h, c])
    context = layers.Attention(use_scale=True)([dec_seq, enc_seq])
    probs = layers.Dense(vocab, activation="softmax")(layers.Concatenate()([dec_seq, context]))
    model = nncore.Model([enc_ids, dec_ids], probs)
    model.compile(nncore.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit([src[:1800], dec_in[:1800]], target[:1800], batch_size=64, epochs=12, verbose=0)
    assert history.history["loss"][-1] < 0.05, history.history["loss"]  # measured: 0.001
    # Greedy decoding of held-out strings with the trained model, one step at a time.
    test_src, _, test_target = src[1800:1900], dec_in[1800:1900], target[1800:1900]
    seq = np.zeros((100, max_len + 1), np.float32)
    seq[:, 0] = 1
    for t in range(max_len):
        step = model.predict([test_src, seq], verbose=0)[:, t].argmax(-1)
        seq[:, t + 1] = step
    lengths = (test_src != 0).sum(1)
    correct = [np.array_equal(seq[i, 1:lengths[i] + 1], test_target[i, :lengths[i]]) for i in range(100)]
    assert np.mean(correct) >= 0.9, np.mean(correct)  # measured: 1.0
    model.save(tmp_path / "reverse.nncore")
    loaded = nncore.load_model(tmp_path / "reverse.nncore")
    np.testing.assert_array_equal(loaded.predict([test_src, seq], verbose=0), model.predict([test_src, seq], verbose=0))
