"""The keras-io Transformer text classifier (text_classification_with_transformer: vocab 20,000, embed 32, 2 heads of
key_dim 32, feed-forward 32, sequence 200) in nncore (the keras-io program's layers with only the imports changed:
custom TransformerBlock and TokenAndPositionEmbedding, traced into C++) and its PyTorch twin, for the benchmarks
that time it (bench_attention.py: training, bench_inference.py: inference)."""
from __future__ import annotations

VOCAB, MAXLEN, EMBED, HEADS, FF = 20000, 200, 32, 2, 32


def nncore_classifier():
    """The uncompiled keras-io model: ids (batch, MAXLEN) -> class probabilities (batch, 2)."""
    import nncore as keras
    from nncore import layers, ops

    class TransformerBlock(layers.Layer):
        def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1):
            super().__init__()
            self.att = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
            self.ffn = keras.Sequential([layers.Dense(ff_dim, activation="relu"), layers.Dense(embed_dim)])
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

    inputs = layers.Input(shape=(MAXLEN,))
    x = TokenAndPositionEmbedding(MAXLEN, VOCAB, EMBED)(inputs)
    x = TransformerBlock(EMBED, HEADS, FF)(x)
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dropout(0.1)(x)
    x = layers.Dense(20, activation="relu")(x)
    x = layers.Dropout(0.1)(x)
    outputs = layers.Dense(2, activation="softmax")(x)
    return keras.Model(inputs=inputs, outputs=outputs)


def torch_classifier():
    """The same architecture in PyTorch (F.scaled_dot_product_attention; Keras's per-head key_dim layout): long ids ->
    logits."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class MHA(nn.Module):  # Keras's layout: key_dim per head, projections to heads * key_dim
        def __init__(self):
            super().__init__()
            self.q, self.k, self.v = (nn.Linear(EMBED, HEADS * EMBED) for _ in range(3))
            self.o = nn.Linear(HEADS * EMBED, EMBED)

        def forward(self, x):
            B, T, _ = x.shape
            split = lambda t: t.view(B, T, HEADS, EMBED).transpose(1, 2)  # noqa: E731
            a = F.scaled_dot_product_attention(split(self.q(x)), split(self.k(x)), split(self.v(x)))
            return self.o(a.transpose(1, 2).reshape(B, T, HEADS * EMBED))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok, self.pos = nn.Embedding(VOCAB, EMBED), nn.Embedding(MAXLEN, EMBED)
            self.att = MHA()
            self.ffn = nn.Sequential(nn.Linear(EMBED, FF), nn.ReLU(), nn.Linear(FF, EMBED))
            self.ln1, self.ln2 = nn.LayerNorm(EMBED, eps=1e-6), nn.LayerNorm(EMBED, eps=1e-6)
            self.drop = nn.Dropout(0.1)
            self.head = nn.Sequential(nn.Dropout(0.1), nn.Linear(EMBED, 20), nn.ReLU(), nn.Dropout(0.1),
                                      nn.Linear(20, 2))

        def forward(self, ids):
            x = self.tok(ids) + self.pos(torch.arange(ids.shape[1]))
            out1 = self.ln1(x + self.drop(self.att(x)))
            x = self.ln2(out1 + self.drop(self.ffn(out1)))
            return self.head(x.mean(1))

    return Net()
