"""The TensorBoard callback: event files under <log_dir>/train and <log_dir>/validation with Keras's tags, steps
and values, parsed back record by record (TFRecord framing and CRCs checked, tensorboardX's protobuf classes) and,
when the tensorboard package is installed, read by TensorBoard's own EventAccumulator and graph plugin; the
arguments nncore cannot honor; the ImportError without tensorboardX."""
from __future__ import annotations

import json
import os
import struct
import sys
from collections import defaultdict

import numpy as np
import pytest

import nncore
from nncore import callbacks as cbs
from nncore.layers import Conv2D, Dense, Flatten, GlobalAveragePooling2D

tensorboardX = pytest.importorskip("tensorboardX")
from tensorboardX.crc32c import crc32c  # noqa: E402
from tensorboardX.proto.event_pb2 import Event  # noqa: E402


# --------------------------------------------------------------- reading event files without TensorBoard

def _masked(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def read_events(path: str) -> list:
    """Every Event of one file, checking the TFRecord framing: u64 length, masked CRC32C of it, data, its CRC."""
    events = []
    with open(path, "rb") as f:
        blob = f.read()
    pos = 0
    while pos < len(blob):
        header = blob[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        (header_crc,) = struct.unpack("<I", blob[pos + 8:pos + 12])
        assert header_crc == _masked(header), f"{path}: bad length CRC at byte {pos}"
        data = blob[pos + 12:pos + 12 + length]
        (data_crc,) = struct.unpack("<I", blob[pos + 12 + length:pos + 16 + length])
        assert len(data) == length and data_crc == _masked(data), f"{path}: bad data CRC at byte {pos}"
        events.append(Event.FromString(data))
        pos += 16 + length
    return events


def summaries(log_dir: str) -> dict:
    """{(run, kind, tag): [(step, value)...]} for every summary value under log_dir; kind is the value's oneof."""
    found = defaultdict(list)
    for root, _, files in os.walk(log_dir):
        for name in sorted(files):
            assert name.startswith("events.out.tfevents."), name
            events = read_events(os.path.join(root, name))
            assert events[0].file_version == "brain.Event:2"
            for event in events:
                for value in event.summary.value:
                    kind = value.WhichOneof("value")
                    payload = {"simple_value": lambda v: v.simple_value, "histo": lambda v: v.histo,
                               "image": lambda v: v.image, "tensor": lambda v: v}[kind](value)
                    found[(os.path.relpath(root, log_dir), kind, value.tag)].append((event.step, payload))
    return dict(found)


def scalar_tags(found: dict) -> set:
    return {(run, tag) for run, kind, tag in found if kind == "simple_value"}


def small_model(metrics=()) -> nncore.Sequential:
    nncore.set_random_seed(0)
    model = nncore.Sequential([Flatten(input_shape=(4, 4, 1)), Dense(1)])
    model.compile("sgd", "mse", metrics=list(metrics))
    return model


X = np.random.default_rng(0).standard_normal((10, 4, 4, 1)).astype(np.float32)
Y = X.reshape(10, -1).mean(axis=1, keepdims=True)


# --------------------------------------------------------------- tags, steps, values

def test_epoch_scalars_have_keras_tags_steps_and_values(tmp_path):
    model = small_model(metrics=["mae"])
    history = model.fit(X, Y, batch_size=2, epochs=2, validation_data=(X, Y), verbose=0,
                        callbacks=[cbs.TensorBoard(tmp_path)])
    found = summaries(str(tmp_path))
    # Keras's test_TensorBoard_basic, with a metric.
    assert scalar_tags(found) == {("train", "epoch_loss"), ("train", "epoch_mae"), ("train", "epoch_learning_rate"),
                                  ("validation", "epoch_loss"), ("validation", "epoch_mae"),
                                  ("validation", "evaluation_loss_vs_iterations"),
                                  ("validation", "evaluation_mae_vs_iterations")}
    for run, key in (("train", "loss"), ("train", "mae"), ("validation", "loss"), ("validation", "mae")):
        points = found[(run, "simple_value", "epoch_" + key)]
        want = history.history[key if run == "train" else "val_" + key]
        assert [s for s, _ in points] == [0, 1]
        np.testing.assert_allclose([v for _, v in points], want, rtol=1e-6)  # stored as float32
    assert found[("train", "simple_value", "epoch_learning_rate")] == [(0, pytest.approx(0.01)),
                                                                       (1, pytest.approx(0.01))]
    # After each validation, at the optimizer's iteration count (5 batches per epoch).
    evaluation = found[("validation", "simple_value", "evaluation_loss_vs_iterations")]
    assert [s for s, _ in evaluation] == [5, 10]
    np.testing.assert_allclose([v for _, v in evaluation], history.history["val_loss"], rtol=1e-6)


def test_learning_rate_follows_the_optimizer(tmp_path):
    model = small_model()
    schedule = cbs.LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))
    model.fit(X, Y, batch_size=5, epochs=3, verbose=0, callbacks=[schedule, cbs.TensorBoard(tmp_path)])
    points = summaries(str(tmp_path))[("train", "simple_value", "epoch_learning_rate")]
    assert [(s, round(v, 6)) for s, v in points] == [(0, 0.1), (1, 0.05), (2, round(0.1 / 3, 6))]


@pytest.mark.parametrize("update_freq, steps", [("batch", list(range(1, 11))), (1, list(range(1, 11))),
                                                (3, [3, 6, 9])])
def test_batch_scalars(tmp_path, update_freq, steps):
    model = small_model()
    batch_losses = []
    spy = cbs.LambdaCallback(on_train_batch_end=lambda batch, logs: batch_losses.append(logs["loss"]))
    tb = cbs.TensorBoard(tmp_path, update_freq=update_freq, write_steps_per_second=True)
    model.fit(X, Y, batch_size=2, epochs=2, verbose=0, callbacks=[spy, tb])
    found = summaries(str(tmp_path))
    # Keras's test_TensorBoard_global_step: batch_* with steps counted across epochs from 1.
    assert scalar_tags(found) == {("train", "batch_loss"), ("train", "epoch_loss"), ("train", "epoch_learning_rate"),
                                  ("train", "epoch_steps_per_second"), ("train", "batch_steps_per_second")}
    points = found[("train", "simple_value", "batch_loss")]
    assert [s for s, _ in points] == steps
    np.testing.assert_allclose([v for _, v in points], [batch_losses[s - 1] for s in steps], rtol=1e-6)
    assert all(v > 0 for _, v in found[("train", "simple_value", "epoch_steps_per_second")])


def test_no_spurious_event_files_and_no_per_batch_hooks_by_default(tmp_path):
    model = small_model()
    tb = cbs.TensorBoard(tmp_path)
    assert not tb._implements("on_train_batch_end") and not tb._implements("on_train_batch_begin")
    model.fit(X, Y, batch_size=2, epochs=2, verbose=0, callbacks=[tb])
    assert sorted(os.listdir(tmp_path)) == ["train"]  # no validation data: no validation run
    model.predict(X, callbacks=[tb])
    assert sorted(os.listdir(tmp_path)) == ["train"]


def test_evaluate_writes_the_evaluation_scalars(tmp_path):
    model = small_model()
    model.fit(X, Y, batch_size=5, epochs=1, verbose=0)
    loss = model.evaluate(X, Y, verbose=0, callbacks=[cbs.TensorBoard(tmp_path, write_graph=False)])
    found = summaries(str(tmp_path))
    assert list(found) == [("validation", "simple_value", "evaluation_loss_vs_iterations")]
    assert found[("validation", "simple_value", "evaluation_loss_vs_iterations")] == [(2, pytest.approx(loss))]


def test_across_invocations_the_tags_stay_the_same(tmp_path):
    model = small_model()
    tb = cbs.TensorBoard(tmp_path)
    for _ in range(2):
        model.fit(X, Y, batch_size=2, epochs=2, validation_data=(X, Y), verbose=0, callbacks=[tb])
    found = summaries(str(tmp_path))
    assert scalar_tags(found) == {("train", "epoch_loss"), ("train", "epoch_learning_rate"),
                                  ("validation", "epoch_loss"), ("validation", "evaluation_loss_vs_iterations")}
    assert [s for s, _ in found[("train", "simple_value", "epoch_loss")]] == [0, 1, 0, 1]


def test_weight_histograms_and_images(tmp_path):
    nncore.set_random_seed(0)
    model = nncore.Sequential([Conv2D(3, 10, input_shape=(10, 10, 1)), GlobalAveragePooling2D(), Dense(1)])
    model.compile("sgd", "mse")
    x = np.ones((10, 10, 10, 1), np.float32)
    y = np.ones((10, 1), np.float32)
    weights = []
    keep = cbs.LambdaCallback(on_epoch_end=lambda epoch, logs: weights.append(model.get_weights()))
    model.fit(x, y, batch_size=2, epochs=2, verbose=0,
              callbacks=[keep, cbs.TensorBoard(tmp_path, histogram_freq=1, write_images=True)])
    found = summaries(str(tmp_path))
    names = model._impl.weight_names
    histograms = {tag for run, kind, tag in found if kind == "histo"}
    assert histograms == {f"{n}/histogram" for n in names}
    for i, name in enumerate(names):
        points = found[("train", "histo", f"{name}/histogram")]
        assert [s for s, _ in points] == [0, 1]
        for epoch, histo in points:
            w = weights[epoch][i]
            assert histo.num == w.size and histo.min == pytest.approx(w.min()) and histo.max == pytest.approx(w.max())
            assert sum(histo.bucket) == w.size
    # Keras's test_TensorBoard_weight_images: the (10, 10, 1, 3) kernel as 3 images of 10x10; the Dense kernel
    # (3, 1) as one 1x3 image; the 1-element bias squeezes to a scalar and is not drawn.
    conv, dense = (layer.name for layer in model.layers if layer.get_weights())
    images = {tag: points for (run, kind, tag), points in found.items() if kind == "image"}
    assert set(images) == {f"{conv}/kernel/image", f"{conv}/bias/image", f"{dense}/kernel/image"}
    assert all(s == [0, 1] for s in ([p[0] for p in points] for points in images.values()))


def test_histogram_freq_skips_epochs(tmp_path):
    model = small_model()
    model.fit(X, Y, batch_size=5, epochs=5, verbose=0, callbacks=[cbs.TensorBoard(tmp_path, histogram_freq=2)])
    found = summaries(str(tmp_path))
    dense = model.layers[-1].name
    assert [s for s, _ in found[("train", "histo", f"{dense}/kernel/histogram")]] == [0, 2, 4]


def test_graph_summary_is_keras_json(tmp_path):
    nncore.set_random_seed(0)
    a = nncore.Input((3,), name="a")
    b = nncore.Input((2,), name="b")
    h = Dense(4, name="h")(a)
    merged = nncore.layers.Concatenate(name="cat")([h, b])
    out = Dense(1, name="out")(merged)
    model = nncore.Model([a, b], out, name="two_inputs")
    model.compile("sgd", "mse")
    xa, xb = np.ones((4, 3), np.float32), np.ones((4, 2), np.float32)
    model.fit([xa, xb], np.ones((4, 1), np.float32), epochs=1, verbose=0, callbacks=[cbs.TensorBoard(tmp_path)])
    found = summaries(str(tmp_path))
    [(step, value)] = found[("train", "tensor", "keras")]
    assert step == 0 and value.metadata.plugin_data.plugin_name == "graph_keras_model"
    config = json.loads(value.tensor.string_val[0])
    assert config["class_name"] == "Functional"
    assert config["config"]["input_layers"] == [["a", 0, 0], ["b", 0, 0]]
    assert config["config"]["output_layers"] == [["out", 0, 0]]
    layers = {layer["name"]: layer for layer in config["config"]["layers"]}
    cat_inputs = layers["cat"]["inbound_nodes"][0]["args"][0]
    assert [t["config"]["keras_history"] for t in cat_inputs] == [["h", 0, 0], ["b", 0, 0]]
    keras_util = pytest.importorskip("tensorboard.plugins.graph.keras_util")
    graph = keras_util.keras_model_to_graph_def(config)
    edges = {node.name: list(node.input) for node in graph.node}
    assert edges == {"two_inputs/a": [], "two_inputs/b": [], "two_inputs/h": ["two_inputs/a"],
                     "two_inputs/cat": ["two_inputs/h", "two_inputs/b"], "two_inputs/out": ["two_inputs/cat"]}


def test_tensorboard_reads_the_files(tmp_path):
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    model = small_model(metrics=["mae"])
    history = model.fit(X, Y, batch_size=2, epochs=3, validation_split=0.2, verbose=0,
                        callbacks=[cbs.TensorBoard(tmp_path, histogram_freq=1, update_freq=2)])
    train = event_accumulator.EventAccumulator(str(tmp_path / "train"), size_guidance={"scalars": 0})
    train.Reload()
    tags = train.Tags()
    assert {"epoch_loss", "epoch_mae", "epoch_learning_rate", "batch_loss", "batch_mae"} <= set(tags["scalars"])
    assert f"{model.layers[-1].name}/kernel/histogram" in tags["histograms"] and "keras" in tags["tensors"]
    np.testing.assert_allclose([e.value for e in train.Scalars("epoch_loss")], history.history["loss"], rtol=1e-6)
    validation = event_accumulator.EventAccumulator(str(tmp_path / "validation"))
    validation.Reload()
    np.testing.assert_allclose([e.value for e in validation.Scalars("epoch_loss")], history.history["val_loss"],
                               rtol=1e-6)


# --------------------------------------------------------------- arguments

def test_arguments_nncore_cannot_honor_or_that_are_wrong(tmp_path):
    for kwargs, pattern in [
            (dict(profile_batch=2), r"profiling is not available in nncore.*expected profile_batch=0, received "
                                    r"profile_batch=2"),
            (dict(profile_batch=(1, 3)), r"profiling is not available.*profile_batch=\(1, 3\)"),
            (dict(profile_batch="1,3"), r"profiling is not available.*profile_batch='1,3'"),
            (dict(profile_batch=(5, 2)), r"profile_batch must be a non-negative integer or 2-tuple.*Found: \(5, 2\)"),
            (dict(profile_batch=-1), r"profile_batch must be a non-negative integer.*Found: -1"),
            (dict(embeddings_freq=1), r"embeddings are not available in nncore.*expected embeddings_freq=0, "
                                      r"received embeddings_freq=1"),
            (dict(update_freq=0), r"update_freq must be 'epoch', 'batch' or a number of batches >= 1, got 0"),
            (dict(update_freq="sometimes"), r"update_freq must be .* got 'sometimes'"),
            (dict(histogram_freq=-1), r"histogram_freq must be an int >= 0, got -1"),
            (dict(log_dir=""), r"log_dir must be a directory path")]:
        with pytest.raises(ValueError, match=pattern):
            cbs.TensorBoard(**{"log_dir": tmp_path, **kwargs})
    # profile_batch=0 / "0" / (0, 0) mean "off", as in Keras.
    for off in (0, "0", (0, 0)):
        cbs.TensorBoard(tmp_path, profile_batch=off)


def test_missing_tensorboardx_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(ImportError, match=r"pip install nncore\[tensorboard\]"):
        cbs.TensorBoard(tmp_path)
