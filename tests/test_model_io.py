"""Model files: save/load round trips, resume training, weights by name, the safetensors format, atomic writes and
a fuzzed loader (truncated, bit-flipped and forged files must raise nncore.ModelFileError, never crash)."""
import json
import random
import struct

import numpy as np
import pytest

import nncore
from conftest import kill_during_saves
from model_files import forge
from nncore import _core
from nncore.layers import (Activation, AveragePooling1D, AveragePooling2D, BatchNormalization, Conv1D, Conv2D, Dense,
                           Dropout, Embedding, Flatten, GlobalAveragePooling1D, GlobalAveragePooling2D,
                           GlobalMaxPooling1D, GlobalMaxPooling2D, LayerNormalization, MaxPooling1D, MaxPooling2D,
                           Reshape, SpatialDropout2D, TimeDistributed, ZeroPadding2D, LSTM, GRU, SimpleRNN,
                           Bidirectional, Conv1DTranspose, Conv2DTranspose, UpSampling1D, UpSampling2D)

RNG = np.random.default_rng(0)


def cnn_model():
    return nncore.Sequential([
        ZeroPadding2D(((1, 0), (0, 1)), input_shape=(9, 8, 2)),
        nncore.layers.RandomFlip("horizontal", seed=1), nncore.layers.RandomRotation(0.1, fill_mode="nearest"),
        nncore.layers.RandomZoom((-0.2, 0.1), (0.0, 0.2), interpolation="nearest"),
        nncore.layers.RandomTranslation(0.1, 0.2, fill_mode="constant", fill_value=0.5),
        nncore.layers.RandomContrast(0.2, value_range=(0, 1)), nncore.layers.RandomBrightness((-0.1, 0.3)),
        nncore.layers.Resizing(12, 10), nncore.layers.CenterCrop(11, 9), nncore.layers.RandomCrop(10, 8),
        Conv2D(4, 3, activation="relu", kernel_regularizer="l2"),
        BatchNormalization(momentum=0.9),
        SpatialDropout2D(0.1),
        MaxPooling2D(),
        Conv2D(3, (2, 1), padding="same", strides=(1, 1), dilation_rate=1, bias_regularizer=nncore.regularizers.l1(0.01)),
        nncore.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, depthwise_regularizer="l2"),
        nncore.layers.SeparableConv2D(3, (2, 1), padding="same", activation="relu", pointwise_regularizer="l1"),
        AveragePooling2D(pool_size=(2, 2), strides=1, padding="same"),
        Activation("tanh"),
        Flatten(),
        Dropout(0.25),
        Dense(6, activation="relu", use_bias=False),
        Reshape((2, 3)),
        LayerNormalization(epsilon=1e-4),
        Flatten(),
        Dense(3, activation="softmax"),
    ])


def pooled_model():
    return nncore.Sequential([Conv2D(5, 2, input_shape=(6, 6, 3)), GlobalAveragePooling2D(), Dense(2)]), \
        nncore.Sequential([Conv2D(5, 2, input_shape=(6, 6, 3)), GlobalMaxPooling2D(), Dense(2)])


def decoder_model():
    """The upsampling layers: transposed convolutions and UpSampling, 2-D and 1-D."""
    return nncore.Sequential([
        Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu", input_shape=(4, 3, 2),
                        kernel_regularizer="l2"),
        UpSampling2D((1, 2), interpolation="bilinear"),
        Conv2DTranspose(2, 2, strides=(2, 1), output_padding=(1, 0), use_bias=False),
        UpSampling2D(2),
        Reshape((-1, 2)),
        Conv1DTranspose(3, 3, strides=2, padding="same", activation="tanh"),
        UpSampling1D(2),
        GlobalAveragePooling1D(),
        Dense(3, activation="softmax"),
    ])


def merge_model():
    """A functional model with every merge layer and a residual connection."""
    from nncore.layers import Add, Average, Concatenate, Multiply, Subtract
    x = nncore.Input((5, 4))
    a = Dense(4, activation="tanh")(x)
    b = Dense(4)(x)
    h = Add()([x, a])
    h = Concatenate(axis=1)([Subtract()([h, b]), Multiply()([a, b])])
    h = Average()([h, Concatenate(axis=-2)([b, a])])
    return nncore.Model(x, Dense(3, activation="softmax")(Flatten()(h)))


def sequence_model():
    # Input: token ids in [0, 9) (the round trip floors RNG.random(...) * 9), 0 being padding.
    return nncore.Sequential([
        Embedding(9, 6, mask_zero=True, input_length=12, embeddings_regularizer="l2"),
        TimeDistributed(Dense(5, activation="relu", kernel_regularizer=nncore.regularizers.l1(0.01))),
        GlobalAveragePooling1D(),
        Reshape((5, 1)),
        Conv1D(4, 2, padding="causal", dilation_rate=2, activation="tanh"),
        MaxPooling1D(2, padding="same"),
        Conv1D(3, (2,), strides=1),
        nncore.layers.SeparableConv1D(4, 2, padding="same", depth_multiplier=2),
        nncore.layers.DepthwiseConv1D(2, padding="causal", activation="relu"),
        AveragePooling1D(pool_size=1, strides=1),
        GlobalMaxPooling1D(),
        Dense(3, activation="softmax"),
    ])


def recurrent_model():
    return nncore.Sequential([
        Bidirectional(LSTM(4, return_sequences=True, recurrent_regularizer="l2"), merge_mode="sum",
                      input_shape=(5, 3)),
        SimpleRNN(3, activation="relu", return_sequences=True, go_backwards=True),
        LSTM(3, unit_forget_bias=False, return_sequences=True),
        GRU(2, dropout=0.1),
    ])


def nested_model():
    """Models as layers: a frozen Sequential (its BatchNormalization in inference mode) and a functional model
    called twice (shared), inside a functional model."""
    base = nncore.Sequential([Dense(6, activation="relu", input_shape=(4,)), BatchNormalization()], name="base")
    base.trainable = False
    t_in = nncore.Input((6,))
    tower = nncore.Model(t_in, Dense(5, activation="tanh")(t_in), name="tower")
    x = nncore.Input((4,))
    h = base(x, training=False)
    from nncore.layers import Add
    return nncore.Model(x, Dense(3, activation="softmax")(Add()([tower(h), tower(Dense(6)(h))])))


def ops_model():
    """Ops on KerasTensors: every op layer class, with constants (weights of the op) and numbers (config)."""
    from nncore import ops
    x = nncore.Input((3, 4))
    w = np.linspace(-1, 1, 20, dtype=np.float32).reshape(4, 5)
    h = ops.tanh(x @ w + np.arange(5, dtype=np.float32) / 10)          # MatMulOp, BinaryOp with a constant
    h = ops.transpose(h, (0, 2, 1))[:, 1:4, ::2]                        # TransposeOp, SliceOp
    h = ops.mean(ops.square(h - 0.5), axis=-1) + ops.max(h, axis=2)     # ReduceOp, UnaryOp
    h = nncore.layers.Lambda(lambda t: t * 2 + ops.sigmoid(t))(h)       # TracedLayer (a custom layer)
    return nncore.Model(x, Dense(3, activation="softmax")(h))


def utility_model():
    """The activation layers with arguments, the reshaping, merging and regularization utilities."""
    from nncore.layers import (ELU, PReLU, ReLU, ActivityRegularization, Cropping1D, Cropping2D, GaussianDropout,
                               GaussianNoise, LeakyReLU, Maximum, Minimum, Permute, RepeatVector, Rescaling, Softmax)
    x = nncore.Input((6, 5, 2))
    h = Rescaling(2.0, offset=-1.0)(x)
    h = Cropping2D(((1, 0), (0, 2)))(Conv2D(3, 2, padding="same")(h))
    h = PReLU(shared_axes=[1, 2], alpha_regularizer="l2")(h)
    h = Reshape((15, 3))(GaussianDropout(0.2, seed=4)(h))
    h = Permute((2, 1))(Cropping1D((2, 1))(LeakyReLU(0.1)(h)))
    a = ReLU(max_value=2.0, negative_slope=0.05)(Dense(4)(h))
    b = ELU(0.5)(Dense(4)(h))
    h = Flatten()(Minimum()([Maximum()([a, b]), GaussianNoise(0.1)(b)]))
    h = ActivityRegularization(l1=1e-3, l2=1e-3)(Dense(4)(h))
    h = Flatten()(RepeatVector(2)(h))
    return nncore.Model(x, Softmax()(Dense(3)(h)))


def masking_dot_norm_model():
    """Masking in front of an LSTM, Dot in its plain and cosine forms, Normalization adapted and given (inverted)."""
    from nncore.layers import Concatenate, Dot, Masking, Normalization
    x = nncore.Input((5, 4))
    norm = Normalization()
    norm.adapt(np.random.default_rng(1).random((20, 5, 4)).astype(np.float32))
    h = Masking(mask_value=0.5)(norm(x))
    a = LSTM(3, return_sequences=True)(h)
    b = Dense(3)(h)
    s = Flatten()(Dot(axes=2)([a, b]))
    c = Flatten()(Dot(axes=(1, 1), normalize=True)([a, b]))
    h = Normalization(axis=None, mean=0.5, variance=2.0, invert=True)(Dense(4)(Concatenate()([s, c])))
    return nncore.Model(x, Dense(3, activation="softmax")(h))


def attention_model():
    """MultiHeadAttention (causal, value_dim) and ops.dot_product_attention on its projections."""
    from nncore.layers import MultiHeadAttention, Reshape
    x = nncore.Input((6, 4))
    h = MultiHeadAttention(num_heads=2, key_dim=3, value_dim=2, output_shape=5)(x, x, use_causal_mask=True)
    q = Reshape((6, 2, 3))(Dense(6)(h))
    a = nncore.ops.dot_product_attention(q, q, q, is_causal=True)
    return nncore.Model(x, Dense(3, activation="softmax")(Flatten()(a)))


def random_model():
    """keras.random in a graph (draws differ per call, so no bit-identical round trip; see test_random_ops)."""
    x = nncore.Input((4,))
    return nncore.Model(x, nncore.random.dropout(x * 1.0, 0.5))


def test_every_registered_layer_class_is_covered_here():
    models = [cnn_model(), *pooled_model(), decoder_model(), merge_model(), sequence_model(), recurrent_model(),
              nested_model(), ops_model(), random_model(), utility_model(), masking_dot_norm_model(), attention_model()]
    covered = {l._impl.class_name for m in models for l in m.layers if hasattr(l, "_impl")}
    missing = set(_core.layer_class_names()) - covered
    assert not missing, f"add these layer classes to the round-trip models: {sorted(missing)}"


@pytest.mark.parametrize("make", [cnn_model, lambda: pooled_model()[0], lambda: pooled_model()[1], decoder_model,
                                  merge_model, sequence_model, recurrent_model, nested_model, ops_model,
                                  utility_model, masking_dot_norm_model, attention_model])
def test_save_load_round_trip_is_bit_identical(tmp_path, make):
    nncore.set_random_seed(3)
    model = make()
    model.compile(optimizer=nncore.optimizers.Adam(learning_rate=3e-3, clipnorm=2.0), loss="sparse_categorical_crossentropy"
                  if model.output_shape[-1] == 3 else "mse", metrics=["accuracy"] if model.output_shape[-1] == 3 else [])
    x = RNG.random((40, *model.input_shape[1:])).astype(np.float32)
    if isinstance(model.layers[0], Embedding):
        x = np.floor(x * 9)  # token ids
    y = RNG.integers(0, 3, 40).astype(np.float32) if model.output_shape[-1] == 3 else \
        RNG.random((40, 2)).astype(np.float32)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    path = tmp_path / "m.nncore"
    model.save(path)
    loaded = nncore.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert loaded.get_config() == model.get_config()
    assert [l.name for l in loaded.layers] == [l.name for l in model.layers]
    assert [type(l) for l in loaded.layers] == [type(l) for l in model.layers]
    assert loaded.metrics_names == model.metrics_names
    assert type(loaded.loss) is type(model.loss)
    assert loaded.optimizer.iterations == model.optimizer.iterations == 10
    assert loaded.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)


def test_layer_configs_round_trip():
    for layer in (cnn_model().layers + sequence_model().layers + decoder_model().layers + utility_model().layers
                  + masking_dot_norm_model().layers):
        config = layer.get_config()
        clone = type(layer).from_config(config)
        assert type(clone) is type(layer)
        assert clone.get_config() == config
    reg = Dense(4, kernel_regularizer=nncore.regularizers.l1_l2(l1=0.5, l2=0.25)).get_config()
    assert reg["kernel_regularizer"] == {"l1": 0.5, "l2": 0.25}
    assert Dense(3, trainable=False).get_config()["trainable"] is False


def test_from_config_gives_a_fresh_model_of_the_same_architecture():
    model = cnn_model()
    clone = nncore.Sequential.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    assert [w.shape for w in clone.get_weights()] == [w.shape for w in model.get_weights()]


@pytest.mark.parametrize("optimizer", ["adam", "sgd_momentum", "rmsprop_centered", "adagrad", "adamw_schedule"])
def test_resume_training_equals_uninterrupted_training(tmp_path, optimizer):
    def make_optimizer():
        return {
            "adam": lambda: nncore.optimizers.Adam(learning_rate=0.01, amsgrad=True),
            "sgd_momentum": lambda: nncore.optimizers.SGD(learning_rate=0.05, momentum=0.9, nesterov=True),
            "rmsprop_centered": lambda: nncore.optimizers.RMSprop(learning_rate=0.01, momentum=0.5, centered=True),
            "adagrad": lambda: nncore.optimizers.Adagrad(learning_rate=0.05),
            "adamw_schedule": lambda: nncore.optimizers.AdamW(
                learning_rate=nncore.optimizers.schedules.ExponentialDecay(0.01, 5, 0.5), weight_decay=0.01),
        }[optimizer]()

    x = RNG.random((96, 10)).astype(np.float32)
    y = RNG.integers(0, 4, 96).astype(np.float32)

    def fresh():
        nncore.set_random_seed(11)
        m = nncore.Sequential([Dense(16, activation="relu", input_shape=(10,)), BatchNormalization(),
                               Dense(4, activation="softmax")])
        m.compile(make_optimizer(), "sparse_categorical_crossentropy", metrics=["accuracy"])
        return m

    straight = fresh()
    nncore.set_random_seed(5)
    h_straight = straight.fit(x, y, epochs=2, batch_size=16, verbose=0)

    first = fresh()
    nncore.set_random_seed(5)
    first.fit(x, y, epochs=1, batch_size=16, verbose=0)
    first.save(tmp_path / "half.nncore")
    resumed = nncore.load_model(tmp_path / "half.nncore")
    nncore.set_random_seed(5)
    h_resumed = resumed.fit(x, y, epochs=2, initial_epoch=1, batch_size=16, verbose=0)

    for a, b in zip(resumed.get_weights(), straight.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert h_resumed.history["loss"][-1] == h_straight.history["loss"][-1]
    assert resumed.optimizer.iterations == straight.optimizer.iterations


def test_without_optimizer_state_or_compile(tmp_path):
    model = nncore.Sequential([Dense(3, input_shape=(2,))])
    model.compile("adam", "mse")
    model.fit(np.ones((8, 2)), np.zeros((8, 3)), epochs=1, verbose=0)
    model.save(tmp_path / "a.nncore", include_optimizer=False)
    loaded = nncore.load_model(tmp_path / "a.nncore")
    assert loaded.optimizer.iterations == 0
    assert not any(k.startswith("optimizer/") for k in _safetensors_keys(tmp_path / "a.nncore"))
    uncompiled = nncore.load_model(tmp_path / "a.nncore", compile=False)
    with pytest.raises(RuntimeError, match="compiled"):
        uncompiled.evaluate(np.ones((2, 2)), np.zeros((2, 3)))
    np.testing.assert_array_equal(uncompiled.predict(np.ones((2, 2))), model.predict(np.ones((2, 2))))
    with pytest.raises(FileExistsError):
        model.save(tmp_path / "a.nncore", overwrite=False)


def _safetensors_keys(path):
    safetensors = pytest.importorskip("safetensors")
    with safetensors.safe_open(str(path), "np") as f:
        return list(f.keys())


def test_file_is_safetensors_with_named_weights_and_json_metadata(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    from safetensors import safe_open
    model = cnn_model()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(RNG.random((8, 9, 8, 2)), RNG.integers(0, 3, 8), epochs=1, verbose=0)
    path = tmp_path / "m.nncore"
    model.save(path)
    tensors = st.load_file(str(path))
    expected = {f"{l.name}/{n}": w for l in model.layers for n, w in zip(l._impl.weight_names, l.get_weights())}
    weights = {k: v for k, v in tensors.items() if not k.startswith("optimizer/")}
    assert weights.keys() == expected.keys()
    for k, v in expected.items():
        assert tensors[k].dtype == np.float32
        np.testing.assert_array_equal(tensors[k], v)
    assert any(k.startswith("optimizer/conv2d") and k.endswith("/m") for k in tensors)
    with safe_open(str(path), "np") as f:
        meta = f.metadata()
    assert meta["format"] == "nncore" and meta["format_version"] == "2"
    config = json.loads(meta["model_config"])
    assert config == model.get_config()
    compile_config = json.loads(meta["compile_config"])
    assert compile_config["loss"] == {"name": "sparse_categorical_crossentropy", "from_logits": False}
    assert compile_config["metrics"] == ["accuracy"]
    assert compile_config["optimizer"]["class_name"] == "Adam"


def test_weights_only_files_match_by_name(tmp_path):
    nncore.set_random_seed(1)
    a = nncore.Sequential([Dense(4, input_shape=(3,), name="hidden"), Dense(2, name="out")])
    b = nncore.Sequential([Dense(4, input_shape=(3,), name="hidden"), Dense(2, name="out")])
    a.save_weights(tmp_path / "w.safetensors")
    b.load_weights(tmp_path / "w.safetensors")
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)

    other = nncore.Sequential([Dense(4, input_shape=(3,), name="hidden"), Dense(2, name="head")])
    with pytest.raises(nncore.ModelFileError) as e:
        other.load_weights(tmp_path / "w.safetensors")
    msg = str(e.value)
    assert "missing from the file: head/kernel, head/bias" in msg
    assert "unexpected in the file: out/kernel, out/bias" in msg

    wider = nncore.Sequential([Dense(5, input_shape=(3,), name="hidden"), Dense(2, name="out")])
    with pytest.raises(nncore.ModelFileError, match=r"shape mismatch: hidden/kernel \(model \(3, 5\), file \(3, 4\)\)"):
        wider.load_weights(tmp_path / "w.safetensors")
    with pytest.raises(nncore.ModelFileError, match="weights-only file"):
        nncore.load_model(tmp_path / "w.safetensors")


def test_weights_from_a_foreign_safetensors_file(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    model = nncore.Sequential([Dense(2, input_shape=(3,), name="d")])
    k = RNG.random((3, 2)).astype(np.float32)
    st.save_file({"d/kernel": k, "d/bias": np.ones(2, np.float32)}, str(tmp_path / "f.safetensors"))
    model.load_weights(tmp_path / "f.safetensors")
    np.testing.assert_array_equal(model.get_weights()[0], k)


def test_duplicate_layer_names_are_refused():
    with pytest.raises(ValueError, match="unique names; 'x' is already the name of a layer"):
        nncore.Sequential([Dense(2, input_shape=(2,), name="x"), Dense(2, name="x")])
    x = nncore.Input((2,), name="x")
    with pytest.raises(ValueError, match="the name 'x' is used twice"):
        nncore.Model(x, Dense(2, name="x")(x))


def test_missing_and_non_model_files(tmp_path):
    with pytest.raises(nncore.ModelFileError, match="cannot open"):
        nncore.load_model(tmp_path / "nope.nncore")
    with pytest.raises(nncore.ModelFileError):
        nncore.load_model(tmp_path)
    assert issubclass(nncore.ModelFileError, ValueError)


# ---- atomic writes --------------------------------------------------------------------------------------------

WRITER = r"""
import sys, time, numpy as np, nncore
from nncore.layers import Dense
m = nncore.Sequential([Dense(1024, input_shape=(512,)), Dense(1024)])
m.compile("adam", "mse")
m.fit(np.ones((4, 512), np.float32), np.zeros((4, 1024), np.float32), epochs=1, verbose=0)
m.layers[1].set_weights([np.zeros((1024, 1024), np.float32), np.zeros(1024, np.float32)])
t0 = time.perf_counter()
m.save(sys.argv[1])  # one complete file (marker 0) before any kill
print("ready", time.perf_counter() - t0, flush=True)
for i in range(1, 100):
    sys.stdin.readline()
    m.layers[1].set_weights([np.full((1024, 1024), i, np.float32), np.full(1024, i, np.float32)])
    print("saving", i, flush=True)
    m.save(sys.argv[1])
    print("saved", i, flush=True)
"""


def test_killing_a_writer_at_50_points_leaves_the_old_or_the_new_file(tmp_path):
    path = tmp_path / "model.nncore"
    inside = 0
    for old, new, finished in kill_during_saves(tmp_path, WRITER, path, trials=50):
        m = nncore.load_model(path)  # complete and checksum-valid, or it would raise
        w = m.layers[1].get_weights()
        assert np.all(w[0] == w[0].flat[0]) and np.all(w[1] == w[0].flat[0])
        marker = int(w[0].flat[0])
        # The new file once its save finished; until then the old one or, after the rename, the new one.
        assert marker == int(new) if finished else marker in (int(old or 0), int(new)), (old, new, finished, marker)
        inside += not finished
    assert inside >= 10, f"only {inside} of 50 kills landed inside a save"


# ---- fuzzing the loader --------------------------------------------------------------------------------------

def small_model_file(tmp_path) -> bytes:
    nncore.set_random_seed(2)
    model = nncore.Sequential([Conv2D(2, 2, input_shape=(4, 4, 1)), BatchNormalization(), Flatten(), Dense(3)])
    model.compile("adam", "mse")
    model.fit(np.ones((4, 4, 4, 1)), np.zeros((4, 3)), epochs=1, verbose=0)
    model.save(tmp_path / "small.nncore")
    return (tmp_path / "small.nncore").read_bytes()


def expect_model_file_error(tmp_path, blob: bytes, count: list) -> None:
    p = tmp_path / "fuzz.nncore"
    p.write_bytes(blob)
    with pytest.raises(nncore.ModelFileError):
        nncore.load_model(p)
    count[0] += 1


def test_fuzz_truncated_files(tmp_path):
    blob = small_model_file(tmp_path)
    count = [0]
    for n in sorted(set(range(0, 64)) | set(range(0, len(blob), 7)) | {len(blob) - 1}):
        expect_model_file_error(tmp_path, blob[:n], count)
    assert count[0] >= 250


def test_fuzz_bit_flips_anywhere_are_detected(tmp_path):
    blob = small_model_file(tmp_path)
    rnd = random.Random(1)
    count = [0]
    for _ in range(500):
        b = bytearray(blob)
        pos = rnd.randrange(len(b))
        b[pos] ^= 1 << rnd.randrange(8)
        expect_model_file_error(tmp_path, bytes(b), count)
    assert count[0] == 500


def test_fuzz_forged_headers(tmp_path):
    blob = small_model_file(tmp_path)
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    data = blob[8 + n:]
    meta = header["__metadata__"]
    del meta["nncore_checksum"]
    config = json.loads(meta["model_config"])
    count = [0]
    cases = []
    # Header lengths that lie.
    for length in [0, 1, 7, n - 1, n + 1, len(blob), 2**31, 2**40, 2**63, 2**64 - 1]:
        cases.append(struct.pack("<Q", length) + blob[8:])
    # Valid checksum, broken content: each tensor entry mangled in turn.
    tensors = [k for k in header if k != "__metadata__"]
    mangles = [
        lambda e: e.update(dtype="F64"), lambda e: e.update(dtype="I32"), lambda e: e.update(dtype=7),
        lambda e: e.update(shape=[-1]), lambda e: e.update(shape=[2**40, 2**40]), lambda e: e.update(shape="x"),
        lambda e: e.update(shape=[1.5]), lambda e: e.update(shape=[2**62, 4]), lambda e: e.update(shape=[0]),
        lambda e: e.update(data_offsets=[0, 2**62]), lambda e: e.update(data_offsets=[8, 4]),
        lambda e: e.update(data_offsets=[-4, 0]), lambda e: e.update(data_offsets=[0]),
        lambda e: e.update(data_offsets=[e["data_offsets"][0] + 4, e["data_offsets"][1] + 4]),
        lambda e: e.pop("dtype"), lambda e: e.pop("shape"), lambda e: e.pop("data_offsets"),
    ]
    for name in tensors:
        for mangle in mangles:
            h = json.loads(json.dumps(header))
            mangle(h[name])
            cases.append(forge(h, data))
    # Architectures that ask for too much or make no sense.
    def with_config(edit):
        h = json.loads(json.dumps(header))
        c = json.loads(json.dumps(config))
        edit(c)
        h["__metadata__"]["model_config"] = json.dumps(c)
        return forge(h, data)
    dense = next(i for i, l in enumerate(config["layers"]) if l["class_name"] == "Dense")
    conv = next(i for i, l in enumerate(config["layers"]) if l["class_name"] == "Conv2D")
    for units in [10**12, 2**40, -3, 0, 1.5, "3", None, 4, 2]:
        cases.append(with_config(lambda c, u=units: c["layers"][dense]["config"].update(units=u)))
    for filters in [10**9, 2**31, 0, -1]:
        cases.append(with_config(lambda c, f=filters: c["layers"][conv]["config"].update(filters=f)))
    for shape in [[10**6, 10**6, 10**6], [2**40, 4, 1], [-4, 4, 1], [4, 4], [], "x", [4, 4, 1, 1], [4, 4, 2]]:
        cases.append(with_config(lambda c, s=shape: c.update(input_shape=s)))
    cases.append(with_config(lambda c: c.update(input_shape=None)))
    cases.append(with_config(lambda c: c["layers"][0].update(class_name="Nope")))
    cases.append(with_config(lambda c: c["layers"][0].pop("config")))
    cases.append(with_config(lambda c: c["layers"].append({"class_name": "Dense", "config": {"units": 10**10}})))
    cases.append(with_config(lambda c: c["layers"].append({"class_name": "Dense", "config": {"units": 2, "name": "d2"}})))
    cases.append(with_config(lambda c: c["layers"][conv]["config"].update(kernel_size=[9, 9])))
    cases.append(with_config(lambda c: c["layers"][conv]["config"].update(padding="diagonal")))
    cases.append(with_config(lambda c: c["layers"][dense]["config"].update(activation="sparkle")))
    cases.append(with_config(lambda c: c["layers"][dense]["config"].update(kernel_regularizer=[1, 2])))
    cases.append(with_config(lambda c: c.update(layers={})))
    cases.append(with_config(lambda c: c.update(class_name="Graph")))
    # Metadata problems.
    for key, value in [("format", "keras"), ("format_version", "99"), ("format_version", "x"), ("format_version", "0"),
                       ("model_config", "{"), ("model_config", "[]"), ("model_config", "1e999"),
                       ("model_config", "[" * 10000 + "]" * 10000), ("compile_config", "{}"),
                       ("compile_config", '{"loss": {"name": "nope"}, "metrics": [], "optimizer": {}}'),
                       ("optimizer_iterations", "-5"), ("optimizer_iterations", "abc")]:
        h = json.loads(json.dumps(header))
        h["__metadata__"][key] = value
        cases.append(forge(h, data))
    h = json.loads(json.dumps(header))
    h["__metadata__"]["format_version"] = 1
    cases.append(forge(h, data))
    h = json.loads(json.dumps(header))
    del h["__metadata__"]["format"]
    cases.append(forge(h, data))
    # Structurally broken headers.
    for text in [b"", b"{", b"[]", b"null", b'{"a": 1}', b'{"a": {"dtype": "F32"}}', b"{" * 5000,
                 b'{"__metadata__": 5}', b'{"__metadata__": {"format": 5}}', b'{"x": {"dtype": "F32", "shape": [], '
                 b'"data_offsets": [0, 4]}, "x": {}}', b"\xff\xfe{}", b'{"a":"\\ud800"}', b'{"a":"\x01"}']:
        pad = text + b" " * ((8 - len(text) % 8) % 8)
        cases.append(struct.pack("<Q", len(pad)) + pad + data)
    # Without a checksum an nncore file is refused; foreign files without format still need a model_config.
    cases.append(forge(header, data, checksum=False))
    h = json.loads(json.dumps(header))
    h["__metadata__"] = {}
    cases.append(forge(h, data, checksum=False))
    # Gaps and overlaps between otherwise valid tensors.
    h = json.loads(json.dumps(header))
    cases.append(forge(h, data + b"\0" * 4))
    cases.append(forge(h, data[:-4]))
    for case in cases:
        expect_model_file_error(tmp_path, case, count)
    assert count[0] >= 250


def test_load_weights_in_file_order(tmp_path):
    a = nncore.Sequential([Dense(4, input_shape=(3,)), Dense(2)])
    b = nncore.Sequential([Dense(4, input_shape=(3,)), Dense(2)])  # auto-named dense_N differently
    a.save_weights(tmp_path / "w.safetensors")
    with pytest.raises(nncore.ModelFileError, match="by_name=false"):
        b.load_weights(tmp_path / "w.safetensors")
    b.load_weights(tmp_path / "w.safetensors", by_name=False)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    c = nncore.Sequential([Dense(4, input_shape=(3,)), Dense(3)])
    with pytest.raises(nncore.ModelFileError, match=r"weight 2 of model .* \(kernel\) has shape \(4, 3\)"):
        c.load_weights(tmp_path / "w.safetensors", by_name=False)
    d = nncore.Sequential([Dense(4, input_shape=(3,))])
    with pytest.raises(nncore.ModelFileError, match="holds 4 weight tensors, model .* has 2"):
        d.load_weights(tmp_path / "w.safetensors", by_name=False)
