"""ONNX export: every supported layer and option runs in ONNX Runtime with the outputs of ``model.predict``
(within 1e-5), the files pass ``onnx.checker``; unsupported layers, bad arguments and a missing ``onnx`` package
raise clear errors."""
import sys
from types import SimpleNamespace

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import nncore  # noqa: E402
from nncore import layers as L  # noqa: E402
from nncore.onnx_export import PENDING_LAYERS, SUPPORTED_LAYERS, export_onnx, model_graph  # noqa: E402

TOL = 1e-5


def randomize(model, seed=0):
    """Random weights everywhere, with BatchNormalization statistics far from (0, 1)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, nncore.layers.InputLayer):
            continue
        names = list(layer._impl.weight_names)
        new = []
        for name, w in zip(names, layer.get_weights()):
            if name == "moving_variance":
                new.append(rng.uniform(0.3, 3.0, w.shape))
            elif name == "moving_mean":
                new.append(rng.normal(0.0, 1.0, w.shape))
            elif name == "gamma":
                new.append(rng.uniform(0.5, 1.5, w.shape) * rng.choice([-1, 1], w.shape))
            else:
                new.append(rng.normal(0.0, 0.5, w.shape))
        layer.set_weights(new)
    return model


def run_onnx(path, xs):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {i.name: x for i, x in zip(sess.get_inputs(), xs)}
    return sess.run(None, feeds), sess


def check(model, xs, tmp_path, opset=17, tol=TOL):
    """Export, check the file, run it in ONNX Runtime and compare every output with predict."""
    xs = xs if isinstance(xs, list) else [xs]
    path = tmp_path / "model.onnx"
    model.export_onnx(path, opset=opset)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version == opset
    for value in list(proto.graph.input) + list(proto.graph.output):
        assert value.type.tensor_type.shape.dim[0].dim_param == "batch"
    got, sess = run_onnx(path, xs)
    want = model.predict(xs if len(xs) > 1 else xs[0], batch_size=len(xs[0]))
    want = want if isinstance(want, list) else [want]
    assert [o.name for o in sess.get_outputs()] == model.output_names
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)
    return proto


def images(shape, seed=1):
    return np.random.default_rng(seed).normal(0.0, 1.0, shape).astype(np.float32)


# ---- convolution and pooling -------------------------------------------------------------------------------------
@pytest.mark.parametrize("padding,strides,dilation", [
    ("valid", 1, 1), ("same", 1, 1), ("same", 2, 1), ("same", (2, 3), 1), ("valid", (3, 2), 1),
    ("same", 1, 2), ("valid", 1, (2, 3)), ("same", 1, (1, 3))])
def test_conv2d_options(tmp_path, padding, strides, dilation):
    model = randomize(nncore.Sequential([
        L.Conv2D(5, (3, 2), strides=strides, padding=padding, dilation_rate=dilation, input_shape=(11, 13, 3)),
        L.Conv2D(4, 1, padding=padding, activation="relu"),
        L.Flatten(), L.Dense(3)]))
    check(model, images((4, 11, 13, 3)), tmp_path)


@pytest.mark.parametrize("cls", [L.MaxPooling2D, L.AveragePooling2D])
@pytest.mark.parametrize("padding,pool,strides", [
    ("valid", 2, None), ("same", 2, None), ("same", (3, 2), (2, 3)), ("valid", (3, 2), (2, 1)),
    ("same", 3, 1), ("same", (2, 3), (3, 2))])
def test_pooling2d(tmp_path, cls, padding, pool, strides):
    # A shifted input makes the maximum and mean sensitive to how the padding is treated.
    model = nncore.Sequential([cls(pool, strides=strides, padding=padding, input_shape=(7, 10, 3))])
    check(model, images((3, 7, 10, 3)) - 2.0, tmp_path)


@pytest.mark.parametrize("cls", [L.GlobalAveragePooling2D, L.GlobalMaxPooling2D])
def test_global_pooling2d(tmp_path, cls):
    model = randomize(nncore.Sequential([L.Conv2D(4, 3, input_shape=(6, 7, 2)), cls(), L.Dense(2)]))
    check(model, images((3, 6, 7, 2)), tmp_path)
    first = nncore.Sequential([cls(input_shape=(5, 3, 4))])  # on the channels-last input itself
    check(first, images((2, 5, 3, 4)), tmp_path)


def test_zero_padding_both_layouts(tmp_path):
    model = randomize(nncore.Sequential([
        L.ZeroPadding2D(((1, 2), (0, 3)), input_shape=(5, 4, 2)),   # on the channels-last input
        L.Conv2D(3, 2),
        L.ZeroPadding2D(2),                                          # after a conv (channels first)
        L.MaxPooling2D(),
        L.ZeroPadding2D((1, 0)),
        L.Flatten(), L.Dense(4)]))
    check(model, images((3, 5, 4, 2)), tmp_path)


@pytest.mark.parametrize("padding,strides,kernel,output_padding,dilation", [
    ("valid", 1, 3, None, 1), ("same", 2, 3, None, 1), ("valid", 2, 4, None, 1), ("same", 3, 4, None, 1),
    ("valid", 3, 1, None, 1), ("same", (2, 3), (3, 2), None, 1), ("valid", 2, 3, 1, 1), ("same", 3, 2, (2, 1), 1),
    ("same", 3, 1, 2, 1), ("same", 1, 3, None, 2), ("valid", 2, 3, None, (2, 1))])
def test_conv2d_transpose(tmp_path, padding, strides, kernel, output_padding, dilation):
    """ConvTranspose with the kernel as (C_in, filters, k...), pads cut from the end or output_padding added to
    reach nncore's output size; on the channels-last input and after a conv (channels first)."""
    model = randomize(nncore.Sequential([
        L.Conv2DTranspose(4, kernel, strides=strides, padding=padding, output_padding=output_padding,
                          dilation_rate=dilation, input_shape=(5, 7, 3)),
        L.Conv2DTranspose(3, 3, strides=2, padding="same", activation="relu", use_bias=False),
        L.Conv2D(2, 3, strides=2)]))
    proto = check(model, images((3, 5, 7, 3)), tmp_path)
    assert "ConvTranspose" in op_types(proto)


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_upsampling2d(tmp_path, interpolation):
    """Resize on the spatial axes of either layout: nearest exactly o // size, bilinear with half-pixel centers."""
    model = randomize(nncore.Sequential([
        L.UpSampling2D((2, 3), interpolation=interpolation, input_shape=(4, 5, 2)),   # channels last
        L.Conv2D(3, 3, padding="same"),
        L.UpSampling2D(3, interpolation=interpolation),                              # channels first
        L.Conv2DTranspose(2, 3, strides=2, padding="same", activation="tanh"),
        L.UpSampling2D((1, 2), interpolation=interpolation)]))
    proto = check(model, images((2, 4, 5, 2)), tmp_path)
    assert "Resize" in op_types(proto)


@pytest.mark.parametrize("padding,strides,dilation", [("same", 1, 1), ("valid", 2, 1), ("same", 1, 2)])
def test_depthwise_and_separable(tmp_path, padding, strides, dilation):
    """DepthwiseConv2D as a grouped Conv (group = channels); SeparableConv2D adds a 1 x 1 Conv with the bias."""
    model = randomize(nncore.Sequential([
        L.DepthwiseConv2D(3, strides=strides, padding=padding, dilation_rate=dilation, depth_multiplier=2,
                          activation="relu", input_shape=(9, 8, 3)),
        L.SeparableConv2D(5, (3, 2), padding="same", depth_multiplier=2, activation="tanh"),
        L.SeparableConv2D(4, 2, use_bias=False),
        L.DepthwiseConv2D(1, use_bias=False)]))
    proto = check(model, images((2, 9, 8, 3)), tmp_path)
    assert sum(node.op_type == "Conv" for node in proto.graph.node) >= 6


def test_depthwise_and_separable_1d(tmp_path):
    model = randomize(nncore.Sequential([
        nncore.Input((12, 3)), L.SeparableConv1D(4, 3, padding="same", activation="relu", depth_multiplier=2),
        L.DepthwiseConv1D(2, padding="causal", dilation_rate=2), L.DepthwiseConv1D(3, strides=2, use_bias=False)]))
    check(model, np.random.default_rng(3).standard_normal((2, 12, 3)).astype(np.float32), tmp_path)


@pytest.mark.parametrize("first", [
    dict(kind="Resizing", height=7, width=12), dict(kind="Resizing", height=20, width=9, interpolation="nearest"),
    dict(kind="Resizing", height=8, width=8, crop_to_aspect_ratio=True),
    dict(kind="Resizing", height=12, width=6, pad_to_aspect_ratio=True, fill_value=0.5),
    dict(kind="CenterCrop", height=6, width=8), dict(kind="CenterCrop", height=12, width=16),
    dict(kind="RandomCrop", height=6, width=8)])
def test_resizing_layers(tmp_path, first):
    """Slice / Pad, then Resize with half-pixel centres: equal to nncore's resampling (the inference of RandomCrop;
    the augmentation layers export as the identity)."""
    kw = dict(first)
    cls = getattr(L, kw.pop("kind"))
    model = randomize(nncore.Sequential([nncore.Input((10, 14, 3)), L.RandomFlip(), cls(**kw),
                                         L.Conv2D(2, 3, padding="same"), L.CenterCrop(4, 4)]))
    check(model, images((2, 10, 14, 3)), tmp_path)


def test_grouped_convolutions(tmp_path):
    model = randomize(nncore.Sequential([
        L.Conv2D(6, 3, padding="same", groups=3, activation="relu", input_shape=(7, 8, 6)),
        L.Conv2D(4, (2, 3), strides=2, groups=2), L.Reshape((-1, 4)), L.Conv1D(4, 2, groups=4)]))
    check(model, images((2, 7, 8, 6)), tmp_path)


def test_conv1d_transpose_and_upsampling1d(tmp_path):
    model = randomize(nncore.Sequential([
        L.UpSampling1D(2, input_shape=(6, 3)),
        L.Conv1DTranspose(4, 3, strides=2, padding="same", activation="tanh"),
        L.Conv1D(3, 2),
        L.UpSampling1D(3),
        L.Conv1DTranspose(2, 2, strides=3, output_padding=1),
        L.Conv1DTranspose(2, 3, dilation_rate=2, use_bias=False)]))
    check(model, images((3, 6, 3)), tmp_path)
    # After Embedding(mask_zero=True) both drop the mask, in nncore and in the export: the mean is over all steps.
    ids = np.random.default_rng(9).integers(0, 12, (4, 6)).astype(np.float32)
    ids[0, 3:] = 0
    for layer in (L.UpSampling1D(2), L.Conv1DTranspose(3, 2, strides=2)):
        masked = randomize(nncore.Sequential([L.Embedding(12, 3, mask_zero=True, input_length=6), layer,
                                              L.GlobalAveragePooling1D()]))
        check(masked, ids, tmp_path)


def test_reshape_and_flatten_keep_channels_last_order(tmp_path):
    # Dense -> image -> conv -> Flatten -> Reshape: the flatten order must be nncore's (H, W, C).
    model = randomize(nncore.Sequential([
        L.Dense(24, input_shape=(5,), use_bias=False),
        L.Reshape((3, 4, 2)),
        L.Conv2D(3, 2, padding="same", use_bias=False),
        L.Reshape((-1, 3)),
        L.Dense(2),
        L.Flatten()]))
    check(model, images((4, 5)), tmp_path)


# ---- activations ---------------------------------------------------------------------------------------------------
ACTIVATIONS = ["linear", "relu", "sigmoid", "tanh", "softmax", "leaky_relu", "gelu", "elu"]


def test_activation_list_matches_nncore():
    assert sorted(ACTIVATIONS) == sorted(nncore._core.activation_names())


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_activations(tmp_path, act):
    x = np.random.default_rng(3).normal(0.0, 3.0, (4, 3, 5)).astype(np.float32)
    model = randomize(nncore.Sequential([
        L.Activation(act, input_shape=(3, 5)),
        L.Dense(6, activation=act),                 # Dense on a rank-3 input
        L.Reshape((3, 3, 2)),
        L.Conv2D(4, 2, padding="same", activation=act),   # the activation on a channels-first tensor
        L.Activation(act),
        L.Flatten(), L.Dense(3, activation=act)]))
    check(model, x, tmp_path)


@pytest.mark.parametrize("relu", [dict(), dict(negative_slope=0.2), dict(max_value=6.0), dict(threshold=0.3),
                                  dict(max_value=1.2, negative_slope=0.1, threshold=0.2)])
def test_activation_layers(tmp_path, relu):
    """ReLU (Relu, LeakyRelu, or Where/Min for its other arguments), LeakyReLU, ELU, Softmax and PReLU, on
    channels-last tensors and on channels-first ones (after a conv)."""
    x = np.random.default_rng(3).normal(0.0, 2.0, (4, 6, 5, 2)).astype(np.float32)
    model = randomize(nncore.Sequential([
        L.ReLU(**relu, input_shape=(6, 5, 2)),
        L.Conv2D(4, 3, padding="same"),
        L.ReLU(**relu),                             # channels first
        L.PReLU(shared_axes=[1, 2]),               # alpha (1, 1, 4) on a channels-first tensor
        L.LeakyReLU(0.15),
        L.Conv2D(3, 2),
        L.ELU(0.6),
        L.Softmax(),                               # over nncore's last axis, channels first
        L.Reshape((5 * 4, 3)),
        L.PReLU(),                                 # alpha (20, 3), channels last
        L.LeakyReLU(),
        L.Flatten(), L.Dense(3), L.Softmax(axis=1)]))
    proto = check(model, x, tmp_path)
    assert {"PRelu", "LeakyRelu", "Elu", "Softmax"} <= op_types(proto)


def test_reshaping_utility_layers(tmp_path):
    """RepeatVector (Tile), Permute (Transpose), Cropping1D and Cropping2D (Slice) in both layouts."""
    x = images((3, 9, 8, 2))
    model = randomize(nncore.Sequential([
        L.Cropping2D(((1, 2), (0, 3)), input_shape=(9, 8, 2)),   # channels last: (6, 5, 2)
        L.Conv2D(4, 2, padding="same"),
        L.Cropping2D(1),                                          # channels first: (4, 3, 4)
        L.Permute((3, 1, 2)),                                     # (4, 4, 3)
        L.Reshape((16, 3)),
        L.Conv1D(5, 3, padding="same"),
        L.Cropping1D((2, 1)),                                     # after Conv1D: channels first, (13, 5)
        L.Cropping1D(3),                                          # (7, 5)
        L.Permute((2, 1)),                                        # (5, 7)
        L.Flatten(), L.Dense(4),
        L.RepeatVector(3),                                        # (3, 4)
        L.Cropping1D((0, 1)), L.Flatten(), L.Dense(2)]))
    proto = check(model, x, tmp_path)
    assert {"Tile", "Transpose", "Slice"} <= op_types(proto)
    # After Embedding(mask_zero=True) the reshaping layers drop the mask, in nncore and in the export.
    ids = np.random.default_rng(9).integers(0, 12, (4, 6)).astype(np.float32)
    ids[0, 3:] = 0
    for layer in (L.Cropping1D(1), L.Permute((1, 2))):
        masked = randomize(nncore.Sequential([L.Embedding(12, 3, mask_zero=True, input_length=6), layer,
                                              L.GlobalAveragePooling1D()]))
        check(masked, ids, tmp_path)


def test_utility_merges_rescaling_and_noise(tmp_path):
    """Maximum and Minimum (Max, Min) of channels-last and channels-first tensors, Rescaling (Mul, Add), and the
    noise and activity layers as the identity (no random op in the file)."""
    img = nncore.Input((6, 5, 3))
    a = L.Conv2D(3, 3, padding="same")(img)
    b = L.Conv2D(3, 1)(img)
    m = L.Maximum()([a, b, img])                    # two channels-first tensors and the channels-last input
    n = L.minimum([L.Rescaling(0.5, offset=-0.2)(a), m])
    h = L.GaussianNoise(0.3)(L.Rescaling(2.0)(n))
    h = L.ActivityRegularization(l1=0.1, l2=0.1)(L.GaussianDropout(0.4)(h))
    out = L.Dense(2)(L.Flatten()(L.maximum([h, L.Rescaling(-1.0)(h)])))
    model = randomize(nncore.Model(img, out))
    proto = check(model, images((4, 6, 5, 3)), tmp_path)
    ops = op_types(proto)
    assert {"Max", "Min", "Mul", "Add"} <= ops
    assert not ops & {"RandomNormal", "RandomNormalLike", "Dropout"}


# ---- normalization and dropout ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("center,scale", [(True, True), (False, True), (True, False), (False, False)])
def test_batch_normalization(tmp_path, center, scale):
    def bn():
        return L.BatchNormalization(center=center, scale=scale, epsilon=1e-2)
    model = randomize(nncore.Sequential([
        L.Conv2D(4, 3, input_shape=(7, 6, 2)), bn(),      # channels first after a conv
        L.Reshape((5 * 4, 4)), bn(),                      # (batch, steps, C) channels last
        L.Flatten(), L.Dense(5), bn(),                    # (batch, C)
        L.Dense(2)]))
    check(model, images((5, 7, 6, 2)), tmp_path)


@pytest.mark.parametrize("center,scale", [(True, True), (False, False)])
def test_layer_normalization(tmp_path, center, scale):
    model = randomize(nncore.Sequential([
        L.Conv2D(6, 2, input_shape=(5, 4, 3)),
        L.LayerNormalization(epsilon=1e-4, center=center, scale=scale),   # over the channels of an image
        L.Flatten(), L.Dense(7),
        L.LayerNormalization(center=center, scale=scale)]))
    check(model, images((3, 5, 4, 3)), tmp_path)


def test_dropout_is_identity(tmp_path):
    model = randomize(nncore.Sequential([
        L.Conv2D(4, 3, input_shape=(6, 6, 1)), L.SpatialDropout2D(0.5), L.Flatten(), L.Dropout(0.5), L.Dense(3)]))
    proto = check(model, images((3, 6, 6, 1)), tmp_path)
    assert not any(n.op_type == "Dropout" for n in proto.graph.node)


def test_trained_cnn(tmp_path):
    """A model after fit: trained weights and BatchNormalization moving statistics updated by training."""
    nncore.set_random_seed(7)
    rng = np.random.default_rng(7)
    x = rng.normal(0.0, 1.0, (64, 8, 8, 1)).astype(np.float32) * 2.0 + 1.0
    y = (x.mean(axis=(1, 2, 3)) > 1.0).astype(np.float32)
    model = nncore.Sequential([
        L.Conv2D(4, 3, padding="same", input_shape=(8, 8, 1)), L.BatchNormalization(momentum=0.5),
        L.Activation("relu"), L.MaxPooling2D(), L.Flatten(), L.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    mean = model.layers[1].get_weights()[2]
    assert np.abs(mean).max() > 0.05  # the moving statistics moved
    check(model, x[:10], tmp_path)
    model.save(tmp_path / "trained.nncore")   # a loaded model exports the same
    check(nncore.load_model(tmp_path / "trained.nncore"), x[:10], tmp_path)


# ---- sequences ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("padding,strides,dilation", [
    ("valid", 1, 1), ("same", 1, 1), ("causal", 1, 1), ("same", 2, 1), ("causal", 3, 1), ("causal", 1, 2),
    ("valid", 1, 3), ("same", 1, 2)])
def test_conv1d_and_pooling1d(tmp_path, padding, strides, dilation):
    ids = np.random.default_rng(5).integers(0, 20, (4, 13)).astype(np.float32)
    pool_padding = "same" if padding != "valid" else "valid"
    model = randomize(nncore.Sequential([
        L.Embedding(20, 6, input_length=13),
        L.Conv1D(5, 3, strides=strides, padding=padding, dilation_rate=dilation, activation="tanh"),
        L.MaxPooling1D(2, padding=pool_padding),
        L.Conv1D(4, 2, padding="same", use_bias=False),
        L.AveragePooling1D(3, strides=2, padding=pool_padding),
        L.TimeDistributed(L.Dense(3)),
        L.Flatten(), L.Dense(2)]))
    check(model, ids, tmp_path)


@pytest.mark.parametrize("cls", [L.GlobalAveragePooling1D, L.GlobalMaxPooling1D])
def test_global_pooling1d(tmp_path, cls):
    model = randomize(nncore.Sequential([L.Conv1D(4, 2, input_shape=(9, 3)), cls(), L.Dense(2)]))
    check(model, images((3, 9, 3)), tmp_path)


def test_masked_average(tmp_path):
    """Embedding(mask_zero) -> TimeDistributed -> Dropout -> GlobalAveragePooling1D averages the valid steps only,
    0 for a sample without any; the max ignores the mask."""
    ids = np.random.default_rng(6).integers(1, 15, (5, 8)).astype(np.float32)
    ids[0, 5:] = 0
    ids[1, :] = 0
    ids[2, ::2] = 0
    x = nncore.Input((8,))
    h = L.Dropout(0.3)(L.TimeDistributed(L.Dense(4, activation="relu"))(L.Embedding(15, 3, mask_zero=True)(x)))
    avg = L.GlobalAveragePooling1D()(h)
    mx = L.GlobalMaxPooling1D()(h)
    model = randomize(nncore.Model(x, [avg, mx]))
    check(model, ids, tmp_path)
    assert np.all(model.predict(ids)[0][1] == 0.0)


def test_time_distributed_other_layers(tmp_path):
    # Time folded into the batch around a conv and a flatten: (batch, time, steps, C).
    model = randomize(nncore.Sequential([
        L.TimeDistributed(L.Conv1D(3, 2, padding="same"), input_shape=(4, 6, 2)),
        L.TimeDistributed(L.MaxPooling1D(2)),
        L.TimeDistributed(L.Flatten()),
        L.TimeDistributed(L.Dense(2, activation="softmax"))]))
    check(model, images((3, 4, 6, 2)), tmp_path)


# ---- recurrent layers --------------------------------------------------------------------------------------------
RNN_T, RNN_U, RNN_VOCAB = 7, 5, 11
RNN_ONNX_OPS = {"SimpleRNN": "RNN", "LSTM": "LSTM", "GRU": "GRU"}


def padded_ids(seed=8):
    """(5, 7) ids with padding (id 0) at the start, in the middle, at the end, everywhere and nowhere."""
    ids = np.random.default_rng(seed).integers(1, RNN_VOCAB, (5, RNN_T)).astype(np.float32)
    ids[0, :3] = 0            # leading steps masked: zeros out until the first valid step
    ids[1, [1, 2, 5]] = 0     # holes in the middle: the state is carried over them
    ids[2, 4:] = 0            # trailing padding
    ids[3, :] = 0             # nothing valid
    return ids                # row 4 has no padding


def recurrent(cls, merge_mode=None, input_shape=None, **kwargs):
    """A SimpleRNN/LSTM/GRU of RNN_U units, wrapped in a Bidirectional when merge_mode is given."""
    if merge_mode is None:
        return getattr(L, cls)(RNN_U, input_shape=input_shape, **kwargs)
    return L.Bidirectional(getattr(L, cls)(RNN_U, **kwargs), merge_mode=merge_mode, input_shape=input_shape)


def op_types(proto):
    return {n.op_type for n in proto.graph.node}


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("merge_mode", [None, "concat", "sum", "mul", "ave"])
@pytest.mark.parametrize("cls", ["SimpleRNN", "LSTM", "GRU"])
def test_recurrent(tmp_path, cls, merge_mode, return_sequences, go_backwards):
    """Each cell alone and in a Bidirectional of each merge mode: on a plain sequence as ONNX's RNN/LSTM/GRU op;
    after Embedding(mask_zero=True) as a Scan that honours padding anywhere in the sequence."""
    options = dict(return_sequences=return_sequences, go_backwards=go_backwards)
    plain = randomize(nncore.Sequential([recurrent(cls, merge_mode, input_shape=(RNN_T, 3), **options)]), seed=11)
    proto = check(plain, images((4, RNN_T, 3)), tmp_path)
    assert RNN_ONNX_OPS[cls] in op_types(proto) and "Scan" not in op_types(proto)

    masked = randomize(nncore.Sequential([L.Embedding(RNN_VOCAB, 3, mask_zero=True, input_length=RNN_T),
                                          recurrent(cls, merge_mode, **options)]), seed=12)
    ids = padded_ids()
    proto = check(masked, ids, tmp_path)
    assert "Scan" in op_types(proto) and RNN_ONNX_OPS[cls] not in op_types(proto)
    unmasked = nncore.Sequential([L.Embedding(RNN_VOCAB, 3, input_length=RNN_T), recurrent(cls, merge_mode, **options)])
    unmasked.set_weights(masked.get_weights())
    assert not np.allclose(unmasked.predict(ids), masked.predict(ids), atol=1e-3)   # the mask matters


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid", "linear"])
def test_simple_rnn_activations(tmp_path, activation):
    for merge_mode in (None, "concat"):
        plain = randomize(nncore.Sequential([
            recurrent("SimpleRNN", merge_mode, activation=activation, return_sequences=True,
                      input_shape=(RNN_T, 3))]), seed=13)
        check(plain, images((3, RNN_T, 3)), tmp_path)
        masked = randomize(nncore.Sequential([
            L.Embedding(RNN_VOCAB, 3, mask_zero=True, input_length=RNN_T),
            recurrent("SimpleRNN", merge_mode, activation=activation, go_backwards=True)]), seed=14)
        check(masked, padded_ids(), tmp_path)


@pytest.mark.parametrize("cls", ["SimpleRNN", "LSTM", "GRU"])
def test_recurrent_without_bias(tmp_path, cls):
    for merge_mode in (None, "sum"):
        plain = randomize(nncore.Sequential([recurrent(cls, merge_mode, use_bias=False, input_shape=(RNN_T, 3))]))
        check(plain, images((3, RNN_T, 3)), tmp_path)
        masked = randomize(nncore.Sequential([L.Embedding(RNN_VOCAB, 3, mask_zero=True, input_length=RNN_T),
                                              recurrent(cls, merge_mode, use_bias=False, return_sequences=True)]))
        check(masked, padded_ids(), tmp_path)


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_zero_output_for_mask(tmp_path, return_sequences, go_backwards):
    """A layer set to output zeros at masked steps (Bidirectional sets it on its halves when it returns sequences;
    here on a layer of its own), also for the last output of a sequence whose last processed step is padding."""
    lstm = L.LSTM(RNN_U, return_sequences=return_sequences, go_backwards=go_backwards)
    model = randomize(nncore.Sequential([L.Embedding(RNN_VOCAB, 3, mask_zero=True, input_length=RNN_T), lstm]))
    lstm._impl.zero_output_for_mask = True
    ids = padded_ids()
    ids[1, 0] = ids[4, -1] = 0   # a padded last processed step either way
    check(model, ids, tmp_path)


def test_recurrent_functional_stack(tmp_path):
    """A functional model where the mask flows through stacked recurrent layers, Dropout and TimeDistributed into
    GlobalAveragePooling1D, with several outputs, other batch sizes and the newest opset."""
    ids_in = nncore.Input((RNN_T,), name="ids")
    feats = nncore.Input((RNN_T, 2), name="features")
    e = L.Embedding(RNN_VOCAB, 4, mask_zero=True)(ids_in)
    h = L.Bidirectional(L.LSTM(6, return_sequences=True), merge_mode="concat")(e)
    h = L.Dropout(0.2)(h)
    h = L.GRU(RNN_U, return_sequences=True, go_backwards=True)(h)
    steps = L.TimeDistributed(L.Dense(3, activation="tanh"), name="steps")(h)
    pooled = L.GlobalAveragePooling1D(name="pooled")(L.Bidirectional(L.SimpleRNN(4, return_sequences=True),
                                                                      merge_mode="ave")(steps))
    last = L.Bidirectional(L.GRU(3), merge_mode="mul", name="last")(steps)
    plain = L.LSTM(4, go_backwards=True)(L.Conv1D(3, 2, padding="causal")(feats))   # no mask on this branch
    out = L.Dense(2, name="out")(L.Concatenate()([pooled, last, plain]))
    model = randomize(nncore.Model([ids_in, feats], [out, steps, pooled]), seed=15)
    ids = padded_ids()
    x = images((5, RNN_T, 2), seed=16)
    check(model, [ids, x], tmp_path)
    check(model, [ids[:1], x[:1]], tmp_path)
    check(model, [ids[1:4], x[1:4]], tmp_path, opset=min(onnx.defs.onnx_opset_version(), 21))


def test_trained_recurrent_model_and_loaded(tmp_path):
    nncore.set_random_seed(3)
    rng = np.random.default_rng(3)
    ids = rng.integers(0, RNN_VOCAB, (48, RNN_T)).astype(np.float32)
    y = (ids[:, -1] > RNN_VOCAB / 2).astype(np.float32)
    model = nncore.Sequential([L.Embedding(RNN_VOCAB, 4, mask_zero=True, input_length=RNN_T),
                               L.Bidirectional(L.GRU(RNN_U, return_sequences=True)),
                               L.LSTM(RNN_U, go_backwards=True), L.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(ids, y, epochs=2, batch_size=16, verbose=0)
    check(model, padded_ids(), tmp_path)
    model.save(tmp_path / "rnn.nncore")
    check(nncore.load_model(tmp_path / "rnn.nncore"), padded_ids(), tmp_path)


def test_recurrent_unsupported_configs(tmp_path):
    """Configs nncore's own layers cannot produce (a hand-written graph around a real layer) fail naming the layer."""
    lstm = L.LSTM(RNN_U)
    lstm.build((None, RNN_T, 3))

    def export(**changes):
        config = dict(lstm.get_config(), **changes)
        fake = SimpleNamespace(name="fake", get_layer=lambda name: lstm,
                               get_config=lambda: {"class_name": "Sequential", "name": "fake",
                                                   "input_shape": [RNN_T, 3],
                                                   "layers": [{"class_name": "LSTM", "config": config}]})
        export_onnx(fake, tmp_path / "bad.onnx")

    export()   # as it is, it exports
    with pytest.raises(ValueError, match=r"layer '\w+' \(LSTM\): return_state=True is not supported"):
        export(return_state=True)
    with pytest.raises(ValueError, match=r"\(LSTM\): only activation 'tanh' with recurrent_activation 'sigmoid'"):
        export(recurrent_activation="hard_sigmoid")
    with pytest.raises(ValueError, match=r"\(LSTM\): stateful=True is not supported"):
        export(stateful=True)
    with pytest.raises(ValueError, match=r"do not fit LSTM\(7\)"):
        export(units=7)


# ---- Masking, Dot, Normalization ---------------------------------------------------------------------------------
def padded_sequences(shape, value=0.0, seed=3):
    """Sequences padded with steps of `value` at the start, in the middle, at the end, everywhere and nowhere."""
    x = images(shape, seed)
    x[0, :2] = value
    x[1, [1, 3]] = value
    x[2, shape[1] - 3:] = value
    x[3] = value
    x[4, 2, 0] = value          # one feature at the value: not a masked step
    return x


@pytest.mark.parametrize("merge_mode", [None, "concat"])
@pytest.mark.parametrize("cls", ["SimpleRNN", "LSTM", "GRU"])
def test_masking_then_recurrent(tmp_path, cls, merge_mode):
    """Masking's mask reaches the recurrent layers (a Scan that skips masked steps), through a Dense in between,
    and GlobalAveragePooling1D (the mean of the valid steps), as Embedding(mask_zero=True)'s does."""
    x = padded_sequences((6, RNN_T, 3), value=-1.0)
    model = randomize(nncore.Sequential([L.Masking(-1.0, input_shape=(RNN_T, 3)), recurrent(cls, merge_mode),
                                         L.Dense(2)]), seed=15)
    proto = check(model, x, tmp_path)
    assert "Scan" in op_types(proto) and RNN_ONNX_OPS[cls] not in op_types(proto)
    pooled = randomize(nncore.Sequential([L.Masking(input_shape=(RNN_T, 3)), L.Dense(4, activation="tanh"),
                                          recurrent(cls, merge_mode, return_sequences=True),
                                          L.GlobalAveragePooling1D()]), seed=16)
    check(pooled, padded_sequences((6, RNN_T, 3)), tmp_path)
    assert not np.allclose(pooled.predict(x), pooled.predict(np.where(x == -1.0, 0.0, x)), atol=1e-3)


def test_dot(tmp_path):
    """Dot on rank 2 and 3 inputs (each end of each axis, transposed or not), a middle axis of a rank 4 tensor in
    either layout, vectors, and normalize."""
    a, b, u, img = nncore.Input((5, 4)), nncore.Input((6, 4)), nncore.Input((4,)), nncore.Input((3, 4, 2))
    c = L.Dense(3)(a)                                        # (5, 3)
    outs = []
    for normalize in (False, True):
        outs += [L.Dot(axes=2, normalize=normalize)([a, b]),                   # (5, 6)
                 L.Dot(axes=(1, 1), normalize=normalize)([a, c]),              # (4, 3)
                 L.Dot(axes=(1, 2), normalize=normalize)([u, b]),              # (6,)
                 L.Dot(axes=(2, 1), normalize=normalize)([a, u]),              # (5,)
                 L.dot([u, L.Dense(4)(u)], axes=1, normalize=normalize),       # (1,)
                 L.Dot(axes=(2, 1), normalize=normalize)([img, L.Permute((2, 1))(a)]),                  # (3, 2, 5)
                 L.Dot(axes=(-2, 1), normalize=normalize)([L.Conv2D(2, 1)(img), L.Permute((2, 1))(a)])]  # (3, 2, 5)
    h = L.Concatenate()([o if len(o.shape) == 2 else L.Flatten()(o) for o in outs])
    model = randomize(nncore.Model([a, b, u, img], L.Dense(3)(h)), seed=17)
    proto = check(model, [images((4, 5, 4), 1), images((4, 6, 4), 2), images((4, 4), 3), images((4, 3, 4, 2), 4)],
                  tmp_path, tol=1e-4)
    assert "MatMul" in op_types(proto)


def test_normalization(tmp_path):
    """Adapted and given statistics on trailing, leading and all axes, invert, and after a Conv1D (channels first in
    the export); a zero variance divides by 1e-7."""
    x = images((8, 5, 3), 5) * 3.0 + 1.0
    inp = nncore.Input((5, 3))
    last, both = L.Normalization(), L.Normalization(axis=(1, 2))
    last.adapt(x)
    both.adapt(x * 2.0)
    h = both(last(inp))
    h = L.Normalization(axis=1, mean=np.linspace(-1, 1, 5), variance=np.linspace(0.5, 2, 5))(h)
    h = L.Conv1D(4, 2, padding="same")(h)
    h = L.Normalization(mean=[0.1, 0.2, 0.3, 0.4], variance=[1.0, 0.0, 4.0, 9.0], invert=True)(h)
    h = L.Normalization(axis=None, mean=0.5, variance=3.0)(L.Conv1D(2, 3)(h))
    model = nncore.Model(inp, L.Dense(2)(L.Flatten()(h)))
    proto = check(model, x, tmp_path, tol=1e-4)
    assert {"Div", "Sub"} <= op_types(proto)


# ---- functional models -------------------------------------------------------------------------------------------
def test_functional_residual_and_merges(tmp_path):
    """A residual CNN with two inputs and three outputs: Add of a channels-last input and conv outputs,
    Subtract, Multiply, Average, Concatenate over channels and over a spatial axis."""
    img = nncore.Input((8, 7, 3), name="image")
    vec = nncore.Input((5,), name="features")
    h = L.Conv2D(3, 3, padding="same", activation="relu")(img)
    h = L.BatchNormalization()(h)
    r = L.Conv2D(3, 3, padding="same")(h)
    h = L.Activation("relu")(L.Add()([h, r, img]))             # the input is channels last, the convs are not
    d = L.Subtract()([h, L.Conv2D(3, 1)(h)])
    m = L.Multiply()([d, L.Activation("sigmoid")(h)])
    a = L.Average()([m, h])
    c = L.Concatenate()([a, img])                               # over the channels
    s = L.Concatenate(axis=1)([c, L.Conv2D(6, (2, 1), strides=(2, 1))(c)])   # over the height
    p = L.GlobalAveragePooling2D()(s)
    f = L.Dense(4, activation="relu")(vec)
    joined = L.Concatenate()([p, f])
    out1 = L.Dense(3, activation="softmax", name="probs")(joined)
    out2 = L.Dense(1, name="score")(L.Add()([f, L.Dense(4)(p)]))
    model = randomize(nncore.Model([img, vec], [out1, out2, s]))
    proto = check(model, [images((4, 8, 7, 3)), images((4, 5), seed=2)], tmp_path)
    assert [i.name for i in proto.graph.input] == ["image", "features"]


def test_functional_hand_written_config_and_unsupported_layer(tmp_path):
    """model_graph reads any object with get_config()/get_layer(): here a hand-written functional config around
    real layers, then one with a layer the exporter does not know."""
    d1 = L.Dense(4, activation="tanh")
    d2 = L.Dense(4)
    add = L.Add()
    d1.build((None, 3))
    d2.build((None, 3))
    add.forward([np.zeros((1, 4), np.float32), np.zeros((1, 4), np.float32)])
    seq_ref = [d1, d2, add]
    randomize(SimpleNamespace(layers=seq_ref))

    class Fake:
        name = "fake"

        def __init__(self, extra=None):
            self.extra = extra

        def get_config(self):
            layers = [{"class_name": type(l).__name__, "config": l.get_config(), "inbound": ib}
                      for l, ib in ((add, [d1.name, d2.name]), (d1, ["x"]), (d2, ["x"]))]   # any order
            outputs = [add.name]
            if self.extra:
                layers.append({"class_name": "Discretization",   # a Keras layer nncore does not have
                               "config": {"name": "discretization_7", "bin_boundaries": [0.0]}, "inbound": [add.name]})
                outputs = ["discretization_7"]
            return {"class_name": "Functional", "name": "fake", "inputs": [{"name": "x", "shape": [3]}],
                    "layers": layers, "outputs": outputs}

        def get_layer(self, name):
            return {l.name: l for l in seq_ref}.get(name, self.extra)

    inputs, nodes, outputs = model_graph(Fake())
    assert inputs == [("x", (3,))] and outputs == [add.name]
    assert [n.output for n in nodes][-1] == add.name
    export_onnx(Fake(), tmp_path / "fake.onnx")
    x = images((3, 3))
    got, _ = run_onnx(tmp_path / "fake.onnx", [x])
    np.testing.assert_allclose(got[0], d1.forward(x) + d2.forward(x), rtol=TOL, atol=TOL)

    with pytest.raises(ValueError) as err:
        export_onnx(Fake(extra=object()), tmp_path / "bad.onnx")
    msg = str(err.value)
    assert "'discretization_7' (Discretization) has no ONNX export;" in msg and "LSTM" in msg and "Conv2D" in msg
    assert not (tmp_path / "bad.onnx").exists()


# ---- the file and the arguments ----------------------------------------------------------------------------------
def test_symbolic_batch_and_newer_opset(tmp_path):
    model = randomize(nncore.Sequential([
        L.Conv2D(3, 3, padding="same", input_shape=(5, 5, 2)), L.BatchNormalization(), L.LayerNormalization(),
        L.AveragePooling2D(padding="same"), L.Flatten(), L.Dense(2, activation="gelu")]))
    for batch in (1, 7):
        check(model, images((batch, 5, 5, 2)), tmp_path)
    newest = min(onnx.defs.onnx_opset_version(), 21)
    check(model, images((3, 5, 5, 2)), tmp_path, opset=newest)


def test_bad_opset_and_unbuilt_model(tmp_path):
    model = nncore.Sequential([L.Dense(2, input_shape=(3,))])
    for opset in (16, onnx.defs.onnx_opset_version() + 1, "17", True):
        with pytest.raises(ValueError, match="opset"):
            model.export_onnx(tmp_path / "m.onnx", opset=opset)
    with pytest.raises(ValueError, match="not built"):
        nncore.Sequential([L.Dense(2)]).export_onnx(tmp_path / "m.onnx")


def test_missing_onnx_package(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)   # makes `import onnx` raise ImportError
    model = nncore.Sequential([L.Dense(2, input_shape=(3,))])
    with pytest.raises(ImportError, match="pip install onnx"):
        model.export_onnx(tmp_path / "m.onnx")


def test_every_nncore_layer_class_is_covered():
    """Each layer class in nncore.layers exports (none is pending now); a layer class added later must be added to
    the exporter or to PENDING_LAYERS."""
    # Attention and AdditiveAttention are written with ops (traced: their nodes export as ops, tested in
    # test_dense_attention.py).
    public = {name for name in L.__all__ if name not in ("Layer", "Input", "InputLayer", "Attention",
                                                         "AdditiveAttention")   # inputs: graph inputs
              and isinstance(getattr(L, name), type)}   # classes, not the functional forms (layers.add, ...)
    assert public - set(SUPPORTED_LAYERS) <= set(PENDING_LAYERS)
    assert not set(SUPPORTED_LAYERS) & set(PENDING_LAYERS)
    assert {"SimpleRNN", "LSTM", "GRU", "Bidirectional"} <= set(SUPPORTED_LAYERS)
