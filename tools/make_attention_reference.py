"""Writes tests/data/attention_reference.npz: Keras 3's MultiHeadAttention outputs (and attention scores) for a few
configurations, with the weights and inputs that produced them, so tests check nncore against Keras without Keras.

    KERAS_BACKEND=torch python tools/make_attention_reference.py

(Keras 3 with any backend; run once, the file is committed.)
"""
import os

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras  # noqa: E402

CASES = {
    "self": dict(num_heads=2, key_dim=8),
    "cross_value_dim": dict(num_heads=3, key_dim=4, value_dim=5, output_shape=7),
    "no_bias": dict(num_heads=2, key_dim=6, use_bias=False),
}


def main() -> None:
    rng = np.random.default_rng(0)
    out = {}
    for name, kwargs in CASES.items():
        layer = keras.layers.MultiHeadAttention(**kwargs)
        q = rng.standard_normal((3, 6, 10)).astype(np.float32)
        v = q if name == "self" else rng.standard_normal((3, 9, 12)).astype(np.float32)
        S = v.shape[1]
        mask = rng.random((3, 6, S)) > 0.3
        mask[0, 2] = False  # a query with no key
        y, scores = layer(q, v, attention_mask=mask, return_attention_scores=True)
        weights = [np.asarray(keras.ops.convert_to_numpy(w)) for w in layer.get_weights()]
        rnd = [rng.standard_normal(w.shape).astype(np.float32) * 0.3 for w in weights]
        layer.set_weights(rnd)  # random biases too, so that their layout is checked
        y, scores = layer(q, v, attention_mask=mask, return_attention_scores=True)
        yc = layer(q, v, use_causal_mask=True)
        out[f"{name}/query"], out[f"{name}/value"], out[f"{name}/mask"] = q, v, mask
        out[f"{name}/output"] = keras.ops.convert_to_numpy(y)
        out[f"{name}/scores"] = keras.ops.convert_to_numpy(scores)
        out[f"{name}/causal_output"] = keras.ops.convert_to_numpy(yc)
        for i, w in enumerate(rnd):
            out[f"{name}/weight_{i}"] = w
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "attention_reference.npz")
    np.savez_compressed(path, **out)
    print("wrote", path, "keras", keras.__version__)


if __name__ == "__main__":
    main()
