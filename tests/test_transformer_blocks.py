"""The keras-io Transformer text classifier's custom layers (TransformerBlock, TokenAndPositionEmbedding) as written
there, with nncore's imports: traced into C++ (MultiHeadAttention, Embedding on ops.arange positions, a Sequential
feed-forward, LayerNormalization, Dropout), trained on a learnable synthetic text task, saved and loaded."""
import numpy as np

import nncore as keras
from nncore import layers, ops


class TransformerBlock(layers.Layer):
    def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1):
        super().__init__()
        self.att = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.ffn = keras.Sequential(
            [layers.Dense(ff_dim, activation="relu"), layers.Dense(embed_dim), ]
        )
        self.layernorm1 = layers.LayerNormalization(epsilon=1e-6)
        self.layernorm2 = layers.LayerNormalization(epsilon=1e-6)
        self.dropout1 = layers.Dropout(rate)
        self.dropout2 = layers.Dropout(rate)

    def call(self, inputs):
        attn_output = self.att(inputs, inputs)
        attn_output = self.dropout1(attn_output)
        out1 = self.layernorm1(inputs + attn_output)
        ffn_output = self.ffn(out1)
        ffn_output = self.dropout2(ffn_output)
        return self.layernorm2(out1 + ffn_output)


class TokenAndPositionEmbedding(layers.Layer):
    def __init__(self, maxlen, vocab_size, embed_dim):
        super().__init__()
        self.token_emb = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
        self.pos_emb = layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

    def call(self, x):
        maxlen = ops.shape(x)[-1]
        positions = ops.arange(start=0, stop=maxlen, step=1)
        positions = self.pos_emb(positions)
        x = self.token_emb(x)
        return x + positions


def polarity_reviews(n, maxlen, vocab_size, rng):
    """Ids 3-24 praise, 25-49 blame, 1 pads the end: the label is whether praise outweighs blame."""
    x = rng.integers(3, vocab_size, (n, maxlen))
    length = rng.integers(maxlen // 2, maxlen + 1, n)
    x[np.arange(maxlen)[None, :] >= length[:, None]] = 1
    score = np.where((x >= 3) & (x < 25), 1, np.where(x >= 25, -1, 0)).sum(1)
    return x.astype(np.float32), (score > 0).astype(np.float32)


def build(maxlen, vocab_size, embed_dim=32, num_heads=2, ff_dim=32):
    inputs = layers.Input(shape=(maxlen,))
    x = TokenAndPositionEmbedding(maxlen, vocab_size, embed_dim)(inputs)
    x = TransformerBlock(embed_dim, num_heads, ff_dim)(x)
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dropout(0.1)(x)
    x = layers.Dense(20, activation="relu")(x)
    x = layers.Dropout(0.1)(x)
    outputs = layers.Dense(2, activation="softmax")(x)
    return keras.Model(inputs=inputs, outputs=outputs)


def test_transformer_classifier_learns_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    maxlen, vocab_size = 24, 50
    x, y = polarity_reviews(3000, maxlen, vocab_size, rng)
    keras.utils.set_random_seed(0)
    model = build(maxlen, vocab_size)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    pos = [l for l in model.layers if isinstance(l, TokenAndPositionEmbedding)][0].pos_emb
    before = pos.get_weights()[0].copy()
    model.fit(x[:2500], y[:2500], batch_size=32, epochs=4, verbose=0)
    _, acc = model.evaluate(x[2500:], y[2500:], verbose=0)
    assert acc >= 0.85
    # The positional table (looked up at ops.arange's positions) trains.
    assert np.abs(pos.get_weights()[0] - before).max() > 1e-3
    model.save(tmp_path / "transformer.nncore")
    loaded = keras.load_model(tmp_path / "transformer.nncore", custom_objects={
        "TransformerBlock": TransformerBlock, "TokenAndPositionEmbedding": TokenAndPositionEmbedding})
    np.testing.assert_array_equal(loaded.predict(x[:64], verbose=0), model.predict(x[:64], verbose=0))
