"""Tests for the Keras training callbacks (python/nncore/callbacks.py).

Each callback is driven twice: directly, with crafted logs and a stub model (exact epoch-by-epoch behaviour),
and inside a real ``fit`` on a tiny model (the wiring: stop_training, logs, the optimizer's learning rate).
"""
from __future__ import annotations

import csv
import math

import numpy as np
import pytest

import nncore
from nncore.callbacks import (Callback, CSVLogger, EarlyStopping, LearningRateScheduler, ReduceLROnPlateau,
                              TerminateOnNaN)
from nncore.layers import Dense


# --------------------------------------------------------------- helpers

class StubOptimizer:
    def __init__(self, learning_rate: float) -> None:
        self.learning_rate = learning_rate


class StubModel:
    """What the callbacks touch: stop_training, get/set_weights (one array holding the epoch) and optimizer."""

    def __init__(self, learning_rate: float = 1.0) -> None:
        self.stop_training = False
        self.weights = [np.array([-1.0])]
        self.optimizer = StubOptimizer(learning_rate)

    def get_weights(self) -> list:
        return [w.copy() for w in self.weights]

    def set_weights(self, weights: list) -> None:
        self.weights = [np.array(w) for w in weights]


def drive(cb: Callback, values, monitor: str = "val_loss", model: StubModel = None):
    """Runs ``cb`` over epochs whose logs are ``{monitor: value}``; the stub's weights are [epoch] during an epoch.
    Returns (epochs run, model, the logs of each epoch as the callback left them)."""
    model = model or StubModel()
    cb.set_model(model)
    cb.on_train_begin({})
    seen = []
    for epoch, v in enumerate(values):
        cb.on_epoch_begin(epoch, {})
        model.weights = [np.array([float(epoch)])]
        logs = {monitor: v}
        cb.on_epoch_end(epoch, logs)
        seen.append(logs)
        if model.stop_training:
            break
    cb.on_train_end({})
    return len(seen), model, seen


def classifier(seed: int = 0) -> nncore.Sequential:
    nncore.set_random_seed(seed)
    model = nncore.Sequential([Dense(8, activation="relu", input_shape=(5,)), Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def data(n: int = 48, n_in: int = 5, n_out: int = 3, seed: int = 1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, n_in)).astype(np.float32), rng.integers(0, n_out, n)


class SetMonitor(Callback):
    """Overwrites logs[key] with a crafted sequence; placed before the callback under test, which sees it."""

    def __init__(self, key: str, values) -> None:
        super().__init__()
        self.key, self.values = key, list(values)

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]


class WeightSnapshots(Callback):
    def __init__(self) -> None:
        super().__init__()
        self.snapshots = []

    def on_epoch_end(self, epoch, logs=None):
        self.snapshots.append(self.model.get_weights())


# --------------------------------------------------------------- EarlyStopping

def test_early_stopping_stops_after_patience():
    cb = EarlyStopping(patience=2)
    n, model, _ = drive(cb, [1.0, 0.9, 0.95, 0.92, 0.5, 0.4])
    assert n == 4 and cb.stopped_epoch == 3 and model.stop_training
    assert cb.best == 0.9 and cb.best_epoch == 1


def test_early_stopping_patience_0_stops_at_first_non_improvement():
    n, _, _ = drive(EarlyStopping(), [1.0, 0.9, 0.9, 0.1])
    assert n == 3  # equal is not an improvement


def test_early_stopping_min_delta():
    assert drive(EarlyStopping(min_delta=0.1, patience=1), [1.0, 0.95, 0.5])[0] == 2
    assert drive(EarlyStopping(min_delta=0.01, patience=1), [1.0, 0.95, 0.5])[0] == 3


def test_early_stopping_max_mode_and_auto_accuracy():
    values = [0.5, 0.6, 0.55, 0.7]
    assert drive(EarlyStopping(monitor="val_accuracy"), values, monitor="val_accuracy")[0] == 3
    assert drive(EarlyStopping(monitor="val_accuracy", mode="min"), values, monitor="val_accuracy")[0] == 2


def test_early_stopping_baseline_keeps_counting_until_beaten():
    # Improvements that do not beat the baseline do not reset the wait.
    assert drive(EarlyStopping(patience=2, baseline=0.5), [1.0, 0.9, 1.0, 1.0])[0] == 3
    assert drive(EarlyStopping(patience=2), [1.0, 0.9, 1.0, 1.0])[0] == 4
    assert drive(EarlyStopping(patience=2, baseline=0.95), [1.0, 0.9, 1.0, 1.0])[0] == 4


def test_early_stopping_start_from_epoch():
    assert drive(EarlyStopping(), [1.0, 2.0, 3.0, 4.0])[0] == 2
    cb = EarlyStopping(start_from_epoch=2)
    assert drive(cb, [1.0, 2.0, 3.0, 4.0])[0] == 4
    assert cb.best == 3.0 and cb.stopped_epoch == 3


def test_early_stopping_restores_best_weights_when_stopping():
    cb = EarlyStopping(patience=2, restore_best_weights=True)
    n, model, _ = drive(cb, [1.0, 0.5, 0.7, 0.8, 0.1])
    assert n == 4
    np.testing.assert_array_equal(model.weights[0], [1.0])


def test_early_stopping_restores_best_weights_without_stopping():
    # Keras 3: restored at the end of training even when every epoch ran.
    cb = EarlyStopping(patience=10, restore_best_weights=True)
    n, model, _ = drive(cb, [1.0, 0.5, 0.7])
    assert n == 3 and cb.stopped_epoch == 0
    np.testing.assert_array_equal(model.weights[0], [1.0])
    # Without the option, the last weights stay.
    _, model, _ = drive(EarlyStopping(patience=10), [1.0, 0.5, 0.7])
    np.testing.assert_array_equal(model.weights[0], [2.0])


def test_early_stopping_is_reusable():
    cb = EarlyStopping(patience=1)
    assert drive(cb, [1.0, 0.5, 0.6])[0] == 3
    # A second run starts afresh: its first value is not compared with the previous run's best.
    assert drive(cb, [2.0, 1.5, 1.6])[0] == 3


def test_early_stopping_verbose_messages(capsys):
    drive(EarlyStopping(patience=1, verbose=1, restore_best_weights=True), [1.0, 0.5, 0.7, 0.8])
    out = capsys.readouterr().out
    assert "Epoch 3: early stopping" in out
    assert "Restoring model weights from the end of the best epoch: 2." in out
    drive(EarlyStopping(patience=1), [1.0, 0.5, 0.7, 0.8])
    assert capsys.readouterr().out == ""

@pytest.mark.parametrize("monitor, higher", [
    ("val_loss", False), ("loss", False), ("accuracy", True), ("val_accuracy", True), ("acc", True),
    ("val_sparse_categorical_accuracy", True), ("auc", True), ("val_auc", True), ("mse", False), ("val_mae", False),
])
def test_mode_auto_inference(monitor, higher):
    assert EarlyStopping(monitor=monitor).higher_is_better is higher
    assert ReduceLROnPlateau(monitor=monitor).higher_is_better is higher


def test_explicit_and_unknown_mode():
    assert EarlyStopping(monitor="val_loss", mode="max").higher_is_better
    assert not EarlyStopping(monitor="val_accuracy", mode="min").higher_is_better
    with pytest.warns(UserWarning, match="mode bogus is unknown"):
        cb = EarlyStopping(monitor="val_accuracy", mode="bogus")
    assert cb.higher_is_better
    with pytest.warns(UserWarning, match="mode bogus is unknown"):
        ReduceLROnPlateau(mode="bogus")


def test_early_stopping_negative_patience():
    with pytest.raises(ValueError, match="patience must be >= 0, got -1"):
        EarlyStopping(patience=-1)


def test_early_stopping_unknown_monitor_warns_and_never_stops():
    model = classifier()
    x, y = data()
    with pytest.warns(UserWarning, match=r"`val_loss` which is not available\. Available metrics are: "
                                         r"loss,accuracy"):
        history = model.fit(x, y, epochs=3, verbose=0, callbacks=[EarlyStopping(patience=0)])
    assert len(history.history["loss"]) == 3


def test_early_stopping_in_fit_stops_and_restores_best_weights():
    model = classifier()
    x, y = data()
    crafted = [1.0, 0.8, 0.9, 0.95, 0.7, 0.6]
    stop = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    snaps = WeightSnapshots()
    history = model.fit(x, y, epochs=6, batch_size=16, verbose=0, validation_data=(x[:10], y[:10]),
                        callbacks=[SetMonitor("val_loss", crafted), stop, snaps])
    assert len(history.history["loss"]) == 4
    assert history.history["val_loss"] == crafted[:4]
    assert stop.stopped_epoch == 3 and stop.best_epoch == 1
    # The weights at the end of the best epoch, not the last one's.
    for got, want in zip(model.get_weights(), snaps.snapshots[1]):
        np.testing.assert_array_equal(got, want)
    assert any(not np.array_equal(a, b) for a, b in zip(model.get_weights(), snaps.snapshots[3]))


def test_early_stopping_in_fit_on_real_val_loss():
    # Training on noise labels with a big learning rate: val_loss stops improving well before 60 epochs.
    model = classifier()
    model.compile(nncore.optimizers.Adam(learning_rate=0.05), "sparse_categorical_crossentropy")
    x, y = data()
    xv, yv = data(seed=2)
    stop = EarlyStopping(patience=2)
    history = model.fit(x, y, epochs=60, verbose=0, validation_data=(xv, yv), callbacks=[stop])
    val = history.history["val_loss"]
    assert len(val) < 60 and stop.stopped_epoch == len(val) - 1
    # Stopped when the last `patience` epochs failed to beat the best before them.
    assert len(val) >= 3 and min(val[:-2]) <= min(val[-2:])


# --------------------------------------------------------------- CSVLogger

def read_csv(path, sep=","):
    with open(path, newline="") as f:
        return list(csv.reader(f, delimiter=sep))


def test_csv_logger_writes_header_and_rows(tmp_path):
    path = tmp_path / "log.csv"
    model = classifier()
    x, y = data()
    history = model.fit(x, y, epochs=3, verbose=0, validation_split=0.25, callbacks=[CSVLogger(path)])
    rows = read_csv(path)
    assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [r[0] for r in rows[1:]] == ["0", "1", "2"]
    for i, row in enumerate(rows[1:]):
        for key, cell in zip(rows[0][1:], row[1:]):
            assert float(cell) == history.history[key][i]


def test_csv_logger_overwrites_or_appends(tmp_path):
    path = tmp_path / "log.csv"
    model = classifier()
    x, y = data()
    model.fit(x, y, epochs=2, verbose=0, callbacks=[CSVLogger(str(path))])
    model.fit(x, y, epochs=2, verbose=0, callbacks=[CSVLogger(str(path))])
    assert [r[0] for r in read_csv(path)] == ["epoch", "0", "1"]
    model.fit(x, y, epochs=3, verbose=0, callbacks=[CSVLogger(str(path), append=True)])
    rows = read_csv(path)
    assert [r[0] for r in rows] == ["epoch", "0", "1", "0", "1", "2"]  # one header
    assert rows[0] == ["epoch", "accuracy", "loss"]
    # Appending to a missing or empty file writes the header.
    fresh = tmp_path / "fresh.csv"
    fresh.write_text("")
    model.fit(x, y, epochs=1, verbose=0, callbacks=[CSVLogger(fresh, append=True)])
    assert [r[0] for r in read_csv(fresh)] == ["epoch", "0"]


def test_csv_logger_separator_and_extra_keys(tmp_path):
    path = tmp_path / "log.tsv"
    model = classifier()
    x, y = data()
    sched = LearningRateScheduler(lambda epoch, lr: 0.01)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[sched, CSVLogger(path, separator="\t")])
    rows = read_csv(path, sep="\t")
    assert rows[0] == ["epoch", "accuracy", "learning_rate", "loss"]
    assert math.isclose(float(rows[1][2]), 0.01, rel_tol=1e-6)
    assert path.read_text().count("\t") == 3 * 3


# --------------------------------------------------------------- TerminateOnNaN

def test_terminate_on_nan_direct(capsys):
    cb = TerminateOnNaN()
    model = StubModel()
    cb.set_model(model)
    cb.on_batch_end(0, {"loss": 1.5})
    assert not model.stop_training
    cb.on_batch_end(3, {"loss": float("inf")})
    assert model.stop_training
    assert "Batch 3: Invalid loss, terminating training" in capsys.readouterr().out
    model.stop_training = False
    cb.on_batch_end(4, {"loss": float("nan")})
    assert model.stop_training


def test_terminate_on_nan_stops_a_diverging_fit(capsys):
    nncore.set_random_seed(0)
    model = nncore.Sequential([Dense(1, input_shape=(4,))])
    model.compile(nncore.optimizers.SGD(learning_rate=1e6), "mse")
    rng = np.random.default_rng(0)
    x = (100 * rng.standard_normal((64, 4))).astype(np.float32)
    y = rng.standard_normal((64, 1)).astype(np.float32)
    history = model.fit(x, y, epochs=50, batch_size=4, verbose=0, callbacks=[TerminateOnNaN()])
    assert len(history.history["loss"]) < 50
    assert not math.isfinite(history.history["loss"][-1])
    assert "Invalid loss, terminating training" in capsys.readouterr().out


# --------------------------------------------------------------- LearningRateScheduler

def test_learning_rate_scheduler_sets_rate_each_epoch():
    model = classifier()
    x, y = data()
    seen = []
    probe = nncore.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: seen.append(model.optimizer.learning_rate))
    sched = LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch > 0 else 0.1)
    history = model.fit(x, y, epochs=4, verbose=0, callbacks=[sched, probe])
    want = [0.1, 0.05, 0.025, 0.0125]
    assert seen == pytest.approx(want, rel=1e-6)
    assert history.history["learning_rate"] == pytest.approx(want, rel=1e-6)
    assert model.optimizer.learning_rate == pytest.approx(0.0125, rel=1e-6)


def test_learning_rate_scheduler_one_argument_schedule_and_verbose(capsys):
    model = classifier()
    x, y = data()
    history = model.fit(x, y, epochs=2, verbose=0,
                        callbacks=[LearningRateScheduler(lambda epoch: 0.01 * (epoch + 1), verbose=1)])
    assert history.history["learning_rate"] == pytest.approx([0.01, 0.02], rel=1e-6)
    out = capsys.readouterr().out
    assert "Epoch 1: LearningRateScheduler setting learning rate to 0.01." in out
    assert "Epoch 2: LearningRateScheduler setting learning rate to 0.02." in out


def test_learning_rate_scheduler_rate_reaches_the_optimizer():
    # A zero learning rate from the schedule leaves SGD's weights untouched.
    model = classifier()
    model.compile(nncore.optimizers.SGD(learning_rate=0.1), "sparse_categorical_crossentropy")
    before = model.get_weights()
    x, y = data()
    model.fit(x, y, epochs=2, verbose=0, callbacks=[LearningRateScheduler(lambda epoch, lr: 0.0)])
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_learning_rate_scheduler_bad_return():
    model = classifier()
    x, y = data()
    with pytest.raises(ValueError, match="schedule must return a float, got 'fast'"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[LearningRateScheduler(lambda epoch, lr: "fast")])


# --------------------------------------------------------------- ReduceLROnPlateau

def lr_per_epoch(cb, values, learning_rate=1.0, monitor="val_loss"):
    """The learning rate each epoch ran with (what logs['learning_rate'] records), and the final one."""
    _, model, logs = drive(cb, values, monitor=monitor, model=StubModel(learning_rate))
    return [l["learning_rate"] for l in logs], model.optimizer.learning_rate


def test_reduce_lr_after_patience():
    lrs, final = lr_per_epoch(ReduceLROnPlateau(factor=0.5, patience=2), [1.0] * 6)
    assert lrs == [1.0, 1.0, 1.0, 0.5, 0.5, 0.25]
    assert final == 0.25


def test_reduce_lr_improvement_resets_wait_and_min_delta():
    lrs, _ = lr_per_epoch(ReduceLROnPlateau(factor=0.5, patience=2), [1.0, 1.0, 0.5, 0.5, 0.5, 0.5])
    assert lrs == [1.0, 1.0, 1.0, 1.0, 1.0, 0.5]
    # A gain smaller than min_delta is no improvement.
    lrs, _ = lr_per_epoch(ReduceLROnPlateau(factor=0.5, patience=2, min_delta=0.1), [1.0, 0.95, 0.91, 0.9])
    assert lrs == [1.0, 1.0, 1.0, 0.5]


def test_reduce_lr_max_mode():
    lrs, _ = lr_per_epoch(ReduceLROnPlateau(monitor="val_accuracy", factor=0.5, patience=1), [0.5, 0.6, 0.6, 0.7],
                          monitor="val_accuracy")
    assert lrs == [1.0, 1.0, 1.0, 0.5]


def test_reduce_lr_respects_min_lr():
    lrs, final = lr_per_epoch(ReduceLROnPlateau(factor=0.5, patience=1, min_lr=0.3), [1.0] * 6)
    assert lrs == [1.0, 1.0, 0.5, 0.3, 0.3, 0.3]
    assert final == 0.3


def test_reduce_lr_cooldown():
    lrs, _ = lr_per_epoch(ReduceLROnPlateau(factor=0.5, patience=1), [1.0] * 5)
    assert lrs == [1.0, 1.0, 0.5, 0.25, 0.125]
    # After a reduction, `cooldown` epochs pass before the wait counts again.
    # As in Keras the counter drops at the start of the epoch, so cooldown=2 leaves one epoch out.
    lrs, _ = lr_per_epoch(ReduceLROnPlateau(factor=0.5, patience=1, cooldown=2), [1.0] * 7)
    assert lrs == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.125]
    lrs, _ = lr_per_epoch(ReduceLROnPlateau(factor=0.5, patience=1, cooldown=3), [1.0] * 7)
    assert lrs == [1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25]


def test_reduce_lr_factor_must_be_below_1():
    with pytest.raises(ValueError, match="factor >= 1.0. Received factor=1.0"):
        ReduceLROnPlateau(factor=1.0)


def test_reduce_lr_unknown_monitor_warns():
    with pytest.warns(UserWarning, match="`val_loss` which is not available. Available metrics are: "
                                         "loss,learning_rate"):
        _, model, _ = drive(ReduceLROnPlateau(patience=0), [1.0, 1.0], monitor="loss")
    assert model.optimizer.learning_rate == 1.0


def test_reduce_lr_in_fit():
    model = classifier()
    model.compile(nncore.optimizers.Adam(learning_rate=0.01), "sparse_categorical_crossentropy")
    x, y = data()
    reduce = ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1, verbose=1)
    # The loss is frozen at 1.0, so the rate halves every epoch after the first.
    history = model.fit(x, y, epochs=4, verbose=0, validation_split=0.25,
                        callbacks=[SetMonitor("val_loss", [1.0] * 4), reduce])
    assert history.history["learning_rate"] == pytest.approx([0.01, 0.01, 0.005, 0.0025], rel=1e-6)
    assert model.optimizer.learning_rate == pytest.approx(0.00125, rel=1e-6)



class _Recorder(nncore.callbacks.Callback):
    """Records every hook Keras calls, with its batch index."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def _rec(name):  # noqa: N805 - a factory of methods
        def hook(self, *args):
            self.calls.append((name, *[a for a in args if isinstance(a, int)]))
        return hook

    on_train_begin, on_train_end = _rec("train_begin"), _rec("train_end")
    on_epoch_begin, on_epoch_end = _rec("epoch_begin"), _rec("epoch_end")
    on_train_batch_begin, on_train_batch_end = _rec("train_batch_begin"), _rec("train_batch_end")
    on_test_begin, on_test_end = _rec("test_begin"), _rec("test_end")
    on_test_batch_begin, on_test_batch_end = _rec("test_batch_begin"), _rec("test_batch_end")
    on_predict_begin, on_predict_end = _rec("predict_begin"), _rec("predict_end")
    on_predict_batch_begin, on_predict_batch_end = _rec("predict_batch_begin"), _rec("predict_batch_end")


def test_every_hook_runs_in_keras_order():
    x = np.random.default_rng(0).normal(size=(10, 3)).astype(np.float32)
    y = np.zeros((10, 1), np.float32)
    m = nncore.Sequential([nncore.layers.Dense(1, input_shape=(3,))])
    m.compile("sgd", "mse")
    r = _Recorder()
    m.fit(x, y, batch_size=4, epochs=1, validation_data=(x[:4], y[:4]), callbacks=[r], verbose=0)
    assert r.calls == [("train_begin",), ("epoch_begin", 0),
                       ("train_batch_begin", 0), ("train_batch_end", 0), ("train_batch_begin", 1),
                       ("train_batch_end", 1), ("train_batch_begin", 2), ("train_batch_end", 2),
                       ("test_begin",), ("test_batch_begin", 0), ("test_batch_end", 0), ("test_end",),
                       ("epoch_end", 0), ("train_end",)]
    assert r.params["steps"] == 3 and r.params["epochs"] == 1
    r.calls.clear()
    m.evaluate(x, y, batch_size=5, callbacks=[r], verbose=0)
    assert r.calls == [("test_begin",), ("test_batch_begin", 0), ("test_batch_end", 0), ("test_batch_begin", 1),
                       ("test_batch_end", 1), ("test_end",)]
    r.calls.clear()
    m.predict(x, batch_size=6, callbacks=[r])
    assert r.calls == [("predict_begin",), ("predict_batch_begin", 0), ("predict_batch_end", 0),
                       ("predict_batch_begin", 1), ("predict_batch_end", 1), ("predict_end",)]


def test_test_end_logs_hold_the_results():
    got = {}

    class Last(nncore.callbacks.Callback):
        def on_test_end(self, logs=None):
            got.update(logs)

    x = np.ones((6, 2), np.float32)
    m = nncore.Sequential([nncore.layers.Dense(1, input_shape=(2,))])
    m.compile("sgd", "mse", metrics=["mae"])
    loss, mae = m.evaluate(x, np.zeros((6, 1), np.float32), callbacks=[Last()], verbose=0)
    assert got == pytest.approx({"loss": loss, "mae": mae})
