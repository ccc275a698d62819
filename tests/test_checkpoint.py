"""ModelCheckpoint: best-only saving, file name fields, weights-only files, batch frequency, and that a training
process killed while it checkpoints never leaves a corrupt file at the target path."""
from __future__ import annotations


import numpy as np
import pytest

import nncore
from conftest import kill_during_saves
from nncore.callbacks import Callback, ModelCheckpoint
from nncore.layers import Dense

SCORES = [0.5, 0.3, 0.4, 0.2, 0.6, 0.25]


class Scripted(Callback):
    """Puts a scripted 'score' into the shared logs and remembers the weights at each epoch end."""

    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        logs["score"] = SCORES[epoch]
        self.weights.append(self.model.get_weights())


def small_model():
    nncore.set_random_seed(4)
    m = nncore.Sequential([Dense(8, activation="relu", input_shape=(5,)), Dense(1)])
    m.compile("adam", "mse")
    return m


X = np.random.default_rng(0).random((64, 5)).astype(np.float32)
Y = X.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("mode,best_epoch", [("min", 3), ("max", 4)])
def test_save_best_only_keeps_the_best_epoch(tmp_path, mode, best_epoch, capsys):
    model = small_model()
    script = Scripted()
    path = tmp_path / "best.nncore"
    ckpt = ModelCheckpoint(path, monitor="score", mode=mode, save_best_only=True, verbose=1)
    model.fit(X, Y, epochs=len(SCORES), verbose=0, callbacks=[script, ckpt])
    best = nncore.load_model(path)
    for a, b in zip(best.get_weights(), script.weights[best_epoch]):
        np.testing.assert_array_equal(a, b)
    assert ckpt.best == SCORES[best_epoch]
    out = capsys.readouterr().out
    assert "score improved from" in out and "did not improve" in out


def test_every_epoch_with_fields_in_the_file_name(tmp_path):
    model = small_model()
    script = Scripted()
    model.fit(X, Y, epochs=3, verbose=0, callbacks=[script, ModelCheckpoint(tmp_path / "ck-{epoch:02d}-{score:.2f}.nncore")])
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["ck-01-0.50.nncore", "ck-02-0.30.nncore", "ck-03-0.40.nncore"]
    second = nncore.load_model(tmp_path / "ck-02-0.30.nncore")
    for a, b in zip(second.get_weights(), script.weights[1]):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(KeyError, match="'nope', which is not in the logs"):
        model.fit(X, Y, epochs=1, verbose=0, callbacks=[ModelCheckpoint(tmp_path / "{nope}.nncore")])


def test_weights_only_and_batch_frequency(tmp_path):
    model = small_model()
    model.fit(X, Y, epochs=2, batch_size=16, verbose=0,
              callbacks=[ModelCheckpoint(tmp_path / "w-{epoch}-{batch}.safetensors", save_weights_only=True, save_freq=3)])
    names = sorted(p.name for p in tmp_path.iterdir())
    # 4 batches per epoch, a save every 3rd batch counted across epochs: batches 3 (epoch 1) and 6 = 2nd of epoch 2.
    assert names == ["w-1-3.safetensors", "w-2-2.safetensors"]
    other = small_model()
    other.load_weights(tmp_path / "w-2-2.safetensors", by_name=False)  # auto-named differently
    with pytest.raises(nncore.ModelFileError, match="weights-only"):
        nncore.load_model(tmp_path / "w-2-2.safetensors")


def test_unknown_monitor_warns_and_skips(tmp_path):
    model = small_model()
    with pytest.warns(UserWarning, match="Can save best model only with val_acc available"):
        model.fit(X, Y, epochs=1, verbose=0,
                  callbacks=[ModelCheckpoint(tmp_path / "x.nncore", monitor="val_acc", save_best_only=True)])
    assert not (tmp_path / "x.nncore").exists()


def test_bad_arguments():
    with pytest.raises(ValueError, match="save_freq"):
        ModelCheckpoint("a.nncore", save_freq=0)
    with pytest.raises(ValueError, match="save_freq"):
        ModelCheckpoint("a.nncore", save_freq="batch")
    with pytest.raises(ValueError, match="filepath"):
        ModelCheckpoint("")
    with pytest.warns(UserWarning, match="mode sideways is unknown"):
        ModelCheckpoint("a.nncore", mode="sideways")


TRAINER = r"""
import sys, time, numpy as np, nncore
from nncore.callbacks import ModelCheckpoint
from nncore.layers import Dense


class Announced(ModelCheckpoint):
    # Waits for the test's go before each batch's checkpoint and says which optimizer step the file will hold.
    def on_train_batch_end(self, batch, logs=None):
        sys.stdin.readline()
        step = self.model.optimizer.iterations
        print("saving", step, flush=True)
        super().on_train_batch_end(batch, logs)
        print("saved", step, flush=True)


m = nncore.Sequential([Dense(768, activation="relu", input_shape=(512,)), Dense(512)])
m.compile("adam", "mse")
x = np.random.default_rng(0).random((64, 512), dtype=np.float32)
m.fit(x, x, epochs=1, batch_size=64, verbose=0)
t0 = time.perf_counter()
m.save(sys.argv[1])  # one complete file (step 1) before any kill, written as a checkpoint writes it
print("ready", time.perf_counter() - t0, flush=True)
m.fit(x, x, epochs=1000, batch_size=32, verbose=0, callbacks=[Announced(sys.argv[1], save_freq=1)])
"""


def test_killed_at_50_points_while_checkpointing_leaves_the_old_or_the_new_file(tmp_path):
    path = tmp_path / "ckpt.nncore"
    inside = 0
    for old, new, finished in kill_during_saves(tmp_path, TRAINER, path, trials=50, seed=3):
        step = nncore.load_model(path).optimizer.iterations  # raises on any truncated or half-written file
        assert step == int(new) if finished else step in (int(old or 1), int(new)), (old, new, finished, step)
        inside += not finished
    assert inside >= 10, f"only {inside} of 50 kills landed inside a checkpoint"
