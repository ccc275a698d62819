"""Keras 3's callback API beyond the single callbacks of test_callbacks.py: the hooks and their logs in fit /
evaluate / predict, ``self.params``, ``CallbackList``, the ``on_batch_*`` aliases, per-batch hooks only when
implemented, EarlyStopping's min_delta / baseline / start_from_epoch on scripted logs (hand-checked against
Keras 3's algorithm), ProgbarLogger, LambdaCallback, TerminateOnNaN(raise_error), RemoteMonitor, and the
constructors' signatures against Keras 3's."""
from __future__ import annotations

import http.server
import inspect
import json
import threading
import urllib.parse

import numpy as np
import pytest

import nncore
from nncore import callbacks as cbs
from nncore.callbacks import Callback, CallbackList, EarlyStopping
from nncore.layers import Dense


# --------------------------------------------------------------- helpers

def regression(seed: int = 0, metrics=("mae",)) -> nncore.Sequential:
    nncore.set_random_seed(seed)
    model = nncore.Sequential([Dense(4, activation="relu", input_shape=(3,)), Dense(1)])
    model.compile("sgd", "mse", metrics=list(metrics))
    return model


def data(n: int = 20, seed: int = 1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3)).astype(np.float32)
    return x, x.sum(axis=1, keepdims=True)


class Spy(Callback):
    """Records (hook, index, a copy of logs) for every hook Keras calls."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def _rec(name):  # noqa: N805 - a factory of methods
        def hook(self, *args, **kwargs):
            logs = kwargs.get("logs", args[-1] if args and isinstance(args[-1], dict) else None)
            index = [a for a in args if isinstance(a, int)]
            self.calls.append((name, *index, dict(logs) if logs is not None else None))
        return hook

    on_train_begin, on_train_end = _rec("train_begin"), _rec("train_end")
    on_epoch_begin, on_epoch_end = _rec("epoch_begin"), _rec("epoch_end")
    on_train_batch_begin, on_train_batch_end = _rec("train_batch_begin"), _rec("train_batch_end")
    on_test_begin, on_test_end = _rec("test_begin"), _rec("test_end")
    on_test_batch_begin, on_test_batch_end = _rec("test_batch_begin"), _rec("test_batch_end")
    on_predict_begin, on_predict_end = _rec("predict_begin"), _rec("predict_end")
    on_predict_batch_begin, on_predict_batch_end = _rec("predict_batch_begin"), _rec("predict_batch_end")

    def names(self):
        return [c[:-1] for c in self.calls]

    def logs(self, name):
        return [c[-1] for c in self.calls if c[0] == name]


# --------------------------------------------------------------- hooks, logs and params

def test_fit_hooks_get_keras_logs_and_params():
    model = regression()
    x, y = data()
    spy = Spy()
    history = model.fit(x, y, batch_size=8, epochs=2, validation_data=(x[:6], y[:6]), verbose=0, callbacks=[spy])
    assert spy.params == {"verbose": 0, "epochs": 2, "steps": 3}
    assert spy.model is model
    # Keras: begin hooks get {}, batch ends the running averages, epoch ends loss + metrics + val_*, train end the
    # last epoch's logs, test end the validation results.
    assert spy.logs("train_begin") == [{}]
    assert spy.logs("epoch_begin") == [{}, {}]
    assert all(logs == {} for logs in spy.logs("train_batch_begin"))
    assert all(set(logs) == {"loss", "mae"} for logs in spy.logs("train_batch_end"))
    epoch_logs = spy.logs("epoch_end")
    assert [set(logs) for logs in epoch_logs] == [{"loss", "mae", "val_loss", "val_mae"}] * 2
    assert [logs["loss"] for logs in epoch_logs] == history.history["loss"]
    assert spy.logs("train_end") == [epoch_logs[-1]]
    assert [logs["loss"] for logs in spy.logs("test_end")] == history.history["val_loss"]
    # The last batch's running average is the epoch's loss.
    batch_ends = spy.logs("train_batch_end")
    assert batch_ends[2]["loss"] == pytest.approx(epoch_logs[0]["loss"], rel=1e-6)


def test_evaluate_and_predict_params_and_logs():
    model = regression()
    x, y = data(n=10)
    spy = Spy()
    loss, mae = model.evaluate(x, y, batch_size=4, verbose=0, callbacks=[spy])
    assert spy.params == {"verbose": 0, "epochs": 1, "steps": 3}
    assert spy.logs("test_end") == [pytest.approx({"loss": loss, "mae": mae})]
    assert [set(logs) for logs in spy.logs("test_batch_end")] == [{"loss", "mae"}] * 3
    spy.calls.clear()
    out = model.predict(x, batch_size=4, callbacks=[spy])
    assert spy.params == {"verbose": 0, "epochs": 1, "steps": 3}
    assert spy.names() == [("predict_begin",), ("predict_batch_begin", 0), ("predict_batch_end", 0),
                           ("predict_batch_begin", 1), ("predict_batch_end", 1), ("predict_batch_begin", 2),
                           ("predict_batch_end", 2), ("predict_end",)]
    # Keras 3: on_predict_batch_end's logs are {"outputs": the batch's predictions}.
    outputs = [logs["outputs"] for logs in spy.logs("predict_batch_end")]
    assert [o.shape for o in outputs] == [(4, 1), (4, 1), (2, 1)]
    np.testing.assert_array_equal(np.concatenate(outputs), out)
    np.testing.assert_array_equal(out, model.predict(x, batch_size=4))


def test_predict_outputs_of_several_outputs_and_of_batches_from_a_generator():
    nncore.set_random_seed(3)
    inp = nncore.Input((3,))
    a = Dense(2)(inp)
    b = Dense(5)(a)
    model = nncore.Model(inp, [a, b])
    x, _ = data(n=9)
    seen = []
    spy = cbs.LambdaCallback(on_predict_batch_end=lambda batch, logs: seen.append(logs["outputs"]))
    got = model.predict(x, batch_size=4, callbacks=[spy])
    want = model.predict(x, batch_size=4)
    assert [[o.shape for o in outs] for outs in seen] == [[(4, 2), (4, 5)], [(4, 2), (4, 5)], [(1, 2), (1, 5)]]
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    seen.clear()

    def batches():
        for i in range(0, 9, 3):
            yield x[i:i + 3]

    got = model.predict(batches(), callbacks=[spy])
    assert len(seen) == 3
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


def test_hooks_not_overridden_are_not_wired_per_batch():
    model = regression()

    class EpochOnly(Callback):
        def on_epoch_end(self, epoch, logs=None):
            pass

    builtins = [EpochOnly(), cbs.EarlyStopping(), cbs.ReduceLROnPlateau(), cbs.CSVLogger("unused.csv"),
                cbs.LearningRateScheduler(lambda e, lr: lr), cbs.ModelCheckpoint("unused.nncore"),
                cbs.BackupAndRestore("unused_dir"), cbs.History(), cbs.LambdaCallback(on_epoch_end=print)]
    if _has_tensorboardx():
        builtins.append(cbs.TensorBoard("unused_logs"))
    run = cbs._TrainingRun(model, builtins, epochs=1, verbose=0, steps=1)
    hooks = run.hooks()
    assert hooks[4] is None and hooks[5] is None  # on_batch_end, on_batch_begin
    validation = hooks[6]
    assert validation[2] is None and validation[3] is None  # no per-batch validation hooks either
    # Settings that need batches wire them.
    for cb, hook in [(cbs.ModelCheckpoint("x.nncore", save_freq=2), "on_train_batch_end"),
                     (cbs.BackupAndRestore("d", save_freq=3), "on_train_batch_end"),
                     (cbs.TerminateOnNaN(), "on_train_batch_end"),
                     (cbs.LambdaCallback(on_batch_begin=print), "on_train_batch_begin")]:
        assert cb._implements(hook), cb
    # A subclass that overrides a batch hook of a built-in gets it called, whatever the built-in's settings.

    class Counting(cbs.ModelCheckpoint):
        def on_train_batch_end(self, batch, logs=None):
            pass

    assert Counting("x.nncore")._implements("on_train_batch_end")


def test_on_batch_aliases_follow_keras():
    # Keras 3: the base on_train_batch_* call on_batch_*; overriding on_train_batch_end replaces that call.
    calls = []

    class Old(Callback):
        def on_batch_begin(self, batch, logs=None):
            calls.append(("old_begin", batch))

        def on_batch_end(self, batch, logs=None):
            calls.append(("old_end", batch))

    class New(Old):
        def on_train_batch_end(self, batch, logs=None):
            calls.append(("new_end", batch))

    class NewCallingSuper(Old):
        def on_train_batch_end(self, batch, logs=None):
            calls.append(("new_end", batch))
            super().on_train_batch_end(batch, logs)

    model = regression()
    x, y = data(n=8)
    for cb, want in [(Old(), [("old_begin", 0), ("old_end", 0)]),
                     (New(), [("old_begin", 0), ("new_end", 0)]),
                     (NewCallingSuper(), [("old_begin", 0), ("new_end", 0), ("old_end", 0)])]:
        calls.clear()
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[cb])
        assert calls == want, type(cb).__name__


def test_train_end_is_not_called_when_a_callback_raises():
    spy = Spy()

    class Boom(Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise RuntimeError("boom")

    model = regression()
    x, y = data()
    with pytest.raises(RuntimeError, match="boom"):
        model.fit(x, y, epochs=3, verbose=0, callbacks=[spy, Boom()])
    assert ("train_end",) not in spy.names()


def test_callbacks_may_be_a_single_callback_nested_lists_or_a_callback_list():
    model = regression()
    x, y = data()
    one, two, three = Spy(), Spy(), Spy()
    model.fit(x, y, epochs=1, verbose=0, callbacks=one)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[[two], (three,)])
    assert all(("train_end",) in s.names() for s in (one, two, three))
    with pytest.raises(TypeError, match="fit: callbacks must be nncore.callbacks.Callback instances, got int"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[one, 3])
    with pytest.raises(TypeError, match="evaluate: callbacks must be .* got str"):
        model.evaluate(x, y, verbose=0, callbacks=["x"])
    with pytest.raises(TypeError, match="predict: callbacks must be .* got builtin_function_or_method"):
        model.predict(x, callbacks=[print])
    # A CallbackList is used as it is (Keras: no History added); its model is set when it has none.
    spy = Spy()
    cbl = CallbackList([spy], epochs=7, steps=1, verbose=0)
    model.fit(x, y, epochs=1, verbose=0, callbacks=cbl)
    assert spy.model is model and spy.params == {"epochs": 7, "steps": 1, "verbose": 0}


def test_a_history_in_the_list_is_the_one_fit_returns():
    model = regression()
    x, y = data()
    mine = cbs.History()
    assert model.fit(x, y, epochs=2, verbose=0, callbacks=[mine]) is mine
    assert model.history is mine and mine.epoch == [0, 1]


def test_callback_list_for_a_custom_loop():
    model = regression()
    x, y = data(n=16)
    spy = Spy()
    cbl = CallbackList([spy], add_history=True, model=model, verbose=0, epochs=1, steps=2)
    assert isinstance(cbl.callbacks[-1], cbs.History) and model.history is cbl.callbacks[-1]
    assert spy.params == {"verbose": 0, "epochs": 1, "steps": 2} and spy.model is model
    cbl.on_train_begin()
    cbl.on_epoch_begin(0)
    for step in range(2):
        cbl.on_train_batch_begin(step)
        logs = model.train_on_batch(x[step * 8:(step + 1) * 8], y[step * 8:(step + 1) * 8], return_dict=True)
        cbl.on_train_batch_end(step, logs)
    cbl.on_epoch_end(0, logs)
    cbl.on_train_end(logs)
    assert spy.names() == [("train_begin",), ("epoch_begin", 0), ("train_batch_begin", 0), ("train_batch_end", 0),
                           ("train_batch_begin", 1), ("train_batch_end", 1), ("epoch_end", 0), ("train_end",)]
    assert model.history.history["loss"] == [logs["loss"]]
    with pytest.raises(TypeError, match="CallbackList: callbacks must be .* got int"):
        CallbackList([1])
    bar = cbs.ProgbarLogger()
    assert CallbackList([bar], add_progbar=True).callbacks == [bar]  # one given: none added
    assert isinstance(CallbackList([], add_progbar=True).callbacks[0], cbs.ProgbarLogger)


def test_initial_epoch_out_of_range_is_refused_before_any_hook():
    model = regression()
    x, y = data()
    spy = Spy()
    for bad in (3, -1):
        with pytest.raises(ValueError, match=rf"fit: initial_epoch must be in \[0, epochs\) = \[0, 3\), got {bad}"):
            model.fit(x, y, epochs=3, initial_epoch=bad, verbose=0, callbacks=[spy])
    assert spy.calls == []


# --------------------------------------------------------------- EarlyStopping on scripted logs

class StubModel:
    """stop_training, and get/set_weights holding the epoch number."""

    def __init__(self):
        self.stop_training = False
        self.weights = [np.array([-1.0])]

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [np.array(w) for w in weights]


def drive(cb, values, monitor="val_loss"):
    """Keras's loop over epochs whose logs are {monitor: value}: returns (epochs run, final weights' epoch)."""
    model = StubModel()
    cb.set_model(model)
    cb.on_train_begin({})
    run = 0
    for epoch, v in enumerate(values):
        cb.on_epoch_begin(epoch, {})
        model.weights = [np.array([float(epoch)])]
        cb.on_epoch_end(epoch, {monitor: v})
        run += 1
        if model.stop_training:
            break
    cb.on_train_end({})
    return run, int(model.weights[0][0])


# Each case worked through Keras 3's EarlyStopping.on_epoch_end by hand: (kwargs, values, epochs run, best,
# best_epoch, stopped_epoch, epoch whose weights end in the model).
EARLY_STOPPING_CASES = [
    # min_delta: 0.95 is not 0.1 better than 1.0 -> wait 1 >= patience 1 at epoch 1.
    (dict(min_delta=0.1, patience=1), [1.0, 0.95, 0.5], 2, 1.0, 0, 1, 1),
    # min_delta 0.01: 0.95 improves; 0.5 improves; runs out.
    (dict(min_delta=0.01, patience=1), [1.0, 0.95, 0.5], 3, 0.5, 2, 0, 2),
    # A negative min_delta counts as its absolute value (Keras takes abs).
    (dict(min_delta=-0.1, patience=1), [1.0, 0.95, 0.5], 2, 1.0, 0, 1, 1),
    # max mode: 0.55 - 0.06 = 0.49 is not > 0.5 -> stop at epoch 1.
    (dict(monitor="val_score", mode="max", min_delta=0.06, patience=1), [0.5, 0.55, 0.58, 0.7], 2, 0.5, 0, 1, 1),
    # baseline never beaten: improving epochs return before the stop test but keep counting; the first
    # non-improving epoch (wait 4 >= 2) stops. restore_best_weights takes the best epoch regardless of baseline.
    (dict(baseline=0.5, patience=2, restore_best_weights=True), [0.9, 0.8, 0.7, 0.75], 4, 0.7, 2, 3, 2),
    # Same without a baseline: wait restarts at each improvement, 0.75 is one bad epoch < patience 2.
    (dict(patience=2, restore_best_weights=True), [0.9, 0.8, 0.7, 0.75], 4, 0.7, 2, 0, 2),
    # baseline beaten at epoch 1 (0.4 < 0.5): wait restarts there; 2 bad epochs then stop at epoch 3.
    (dict(baseline=0.5, patience=2), [0.9, 0.4, 0.6, 0.7, 0.1], 4, 0.4, 1, 3, 3),
    # start_from_epoch=2: epochs 0 and 1 are not watched; epoch 2 is the first best; epoch 3 worse stops (patience 0).
    (dict(start_from_epoch=2, restore_best_weights=True), [1.0, 2.0, 3.0, 4.0, 5.0], 4, 3.0, 2, 3, 2),
    # Without the warm-up: epoch 1 is worse than epoch 0 and stops.
    (dict(restore_best_weights=True), [1.0, 2.0, 3.0, 4.0, 5.0], 2, 1.0, 0, 1, 0),
    # Epoch 0 never stops training, even with patience 0 and no improvement possible (baseline unbeaten).
    (dict(baseline=0.0, patience=0), [1.0, 2.0], 2, 1.0, 0, 1, 1),
]


@pytest.mark.parametrize("kwargs, values, run, best, best_epoch, stopped, weights_epoch", EARLY_STOPPING_CASES)
def test_early_stopping_scripted(kwargs, values, run, best, best_epoch, stopped, weights_epoch):
    monitor = kwargs.get("monitor", "val_loss")
    cb = EarlyStopping(**kwargs)
    got_run, got_weights = drive(cb, values, monitor)
    assert (got_run, cb.best, cb.best_epoch, cb.stopped_epoch, got_weights) == \
        (run, best, best_epoch, stopped, weights_epoch)


def test_early_stopping_auto_mode_follows_the_metric_direction():
    # Keras 3 asks the metric its direction; nncore knows the names.
    assert drive(EarlyStopping(monitor="val_precision", patience=0), [0.5, 0.4], "val_precision")[0] == 2
    assert drive(EarlyStopping(monitor="val_precision", patience=0), [0.5, 0.6, 0.7], "val_precision")[0] == 3
    assert drive(EarlyStopping(monitor="out_loss", patience=0), [0.5, 0.6], "out_loss")[0] == 2
    # A name that tells nothing: Keras 3's ValueError at the first epoch end, naming the monitor and the fix.
    cb = EarlyStopping(monitor="val_custom")
    with pytest.raises(ValueError, match=r"monitor=val_custom.*mode='max'.*mode='min'"):
        drive(cb, [1.0], "val_custom")
    assert drive(EarlyStopping(monitor="val_custom", mode="max"), [1.0, 0.5], "val_custom")[0] == 2


def test_early_stopping_bad_arguments_name_the_argument():
    for kwargs, pattern in [(dict(patience=-1), "patience must be >= 0, got -1"),
                            (dict(patience=1.5), "patience must be >= 0, got 1.5"),
                            (dict(start_from_epoch=-2), "start_from_epoch must be an int >= 0, got -2"),
                            (dict(min_delta="x"), "min_delta must be a number, got 'x'"),
                            (dict(baseline="high"), "baseline must be a number or None, got 'high'"),
                            (dict(monitor=""), "monitor must be the name of a logged quantity")]:
        with pytest.raises(ValueError, match=pattern):
            EarlyStopping(**kwargs)


def test_early_stopping_in_fit_with_start_from_epoch_restores_the_best_epoch():
    # The monitored value is scripted (placed before EarlyStopping in the shared logs); the weights are real.
    class Script(Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["score"] = [5.0, 4.0, 3.0, 3.5, 3.6, 1.0][epoch]

    model = regression()
    x, y = data()
    stop = EarlyStopping(monitor="score", mode="min", start_from_epoch=1, patience=1, restore_best_weights=True)
    snapshots = []
    keep = cbs.LambdaCallback(on_epoch_end=lambda epoch, logs: snapshots.append(model.get_weights()))
    history = model.fit(x, y, epochs=6, verbose=0, callbacks=[Script(), keep, stop])
    # epoch 1 first watched (best 4.0), epoch 2 best 3.0, epoch 3 worse: wait 1 >= 1 -> stop after epoch 3.
    assert history.epoch == [0, 1, 2, 3]
    assert stop.best == 3.0 and stop.best_epoch == 2 and stop.stopped_epoch == 3
    for a, b in zip(model.get_weights(), snapshots[2]):
        np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------- ProgbarLogger

def test_progbar_logger_replaces_the_loops_bar(capsys):
    model = regression()
    x, y = data(n=16)
    model.fit(x, y, batch_size=4, epochs=2, verbose=1, callbacks=[cbs.ProgbarLogger()])
    out = capsys.readouterr().out
    assert out.count("Epoch 1/2") == 1 and out.count("Epoch 2/2") == 1
    finished = [line for line in out.replace("\r", "\n").splitlines() if line.startswith("4/4 [====")]
    assert len(finished) == 2, out  # one finished bar per epoch: the loop's own bar is off
    assert "val_" not in out and "loss:" in out and "mae:" in out

    model.fit(x, y, batch_size=4, epochs=2, verbose=2, callbacks=[cbs.ProgbarLogger()])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2" and len(lines) == 4
    assert lines[1].startswith("4/4 - ") and "loss:" in lines[1] and "\r" not in lines[1]

    model.evaluate(x, y, batch_size=4, verbose=1, callbacks=[cbs.ProgbarLogger()])
    out = capsys.readouterr().out
    assert out.count("4/4 [====") == 1 and "loss:" in out


def test_predict_verbose_shows_a_progress_bar(capsys):
    model = regression()
    x, _ = data(n=10)
    model.predict(x, batch_size=4, verbose=1)
    out = capsys.readouterr().out
    assert "3/3 [==============================]" in out
    model.predict(x, batch_size=4)
    assert capsys.readouterr().out == ""


# --------------------------------------------------------------- LambdaCallback, TerminateOnNaN

def test_lambda_callback_keras3_signature_and_any_hook_by_name():
    events = []
    cb = cbs.LambdaCallback(lambda epoch, logs: events.append(("epoch_begin", epoch)),
                            lambda epoch, logs: events.append(("epoch_end", epoch)),
                            lambda logs: events.append("train_begin"),
                            lambda logs: events.append("train_end"),
                            lambda batch, logs: events.append(("batch_begin", batch)),
                            lambda batch, logs: events.append(("batch_end", batch)),
                            on_test_end=lambda logs: events.append(("test_end", sorted(logs))))
    model = regression()
    x, y = data(n=8)
    model.fit(x, y, batch_size=8, epochs=1, validation_data=(x, y), verbose=0, callbacks=[cb])
    assert events == ["train_begin", ("epoch_begin", 0), ("batch_begin", 0), ("batch_end", 0),
                      ("test_end", ["loss", "mae"]), ("epoch_end", 0), "train_end"]
    with pytest.raises(TypeError, match="LambdaCallback: unexpected keyword argument 'on_epoch_middle'"):
        cbs.LambdaCallback(on_epoch_middle=print)
    with pytest.raises(TypeError, match="LambdaCallback: on_epoch_end must be callable, got int"):
        cbs.LambdaCallback(on_epoch_end=3)


def test_terminate_on_nan_raise_error_skips_train_end():
    spy = Spy()

    class Poison(Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                logs["loss"] = float("nan")

    model = regression()
    x, y = data(n=16)
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch 1"):
        model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[spy, Poison(), cbs.TerminateOnNaN(True)])
    assert ("train_end",) not in spy.names()
    spy.calls.clear()
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[spy, Poison(), cbs.TerminateOnNaN()])
    assert spy.names()[-2:] == [("epoch_end", 0), ("train_end",)]  # graceful: the epoch ends, then training


# --------------------------------------------------------------- RemoteMonitor

class _Collector(http.server.BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 - the handler's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_remote_monitor_posts_each_epoch():
    server = http.server.HTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        root = f"http://127.0.0.1:{server.server_port}"
        model = regression()
        x, y = data()
        _Collector.received.clear()
        history = model.fit(x, y, epochs=2, verbose=0, callbacks=[cbs.RemoteMonitor(root=root)])
        assert [r[0] for r in _Collector.received] == ["/publish/epoch/end/"] * 2
        form = urllib.parse.parse_qs(_Collector.received[1][2].decode())
        sent = json.loads(form["data"][0])
        assert sent == {"epoch": 1, "loss": history.history["loss"][1], "mae": history.history["mae"][1]}
        _Collector.received.clear()
        model.fit(x, y, epochs=1, verbose=0,
                  callbacks=[cbs.RemoteMonitor(root=root, path="/p", send_as_json=True, headers={"X-Run": "1"})])
        path, content_type, body = _Collector.received[0]
        assert path == "/p" and content_type == "application/json" and json.loads(body)["epoch"] == 0
    finally:
        server.shutdown()
        server.server_close()


def test_remote_monitor_bad_targets():
    with pytest.raises(ValueError, match="invalid URL scheme 'ftp'"):
        cbs.RemoteMonitor(root="ftp://localhost")
    with pytest.raises(ValueError, match="host injection"):
        cbs.RemoteMonitor(root="http://localhost:9000", path="@evil.example/")
    model = regression()
    x, y = data()
    # Nothing listens on port 9 of this machine (discard): warned, training goes on.
    with pytest.warns(UserWarning, match="Could not reach RemoteMonitor root server at http://127.0.0.1:9"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[cbs.RemoteMonitor(root="http://127.0.0.1:9")])


# --------------------------------------------------------------- signatures

def _has_tensorboardx() -> bool:
    try:
        import tensorboardX  # noqa: F401
    except ImportError:
        return False
    return True


_E = inspect.Parameter.empty
KERAS3_SIGNATURES = {
    "EarlyStopping": [("monitor", "val_loss"), ("min_delta", 0), ("patience", 0), ("verbose", 0), ("mode", "auto"),
                      ("baseline", None), ("restore_best_weights", False), ("start_from_epoch", 0)],
    "ModelCheckpoint": [("filepath", _E), ("monitor", "val_loss"), ("verbose", 0), ("save_best_only", False),
                        ("save_weights_only", False), ("mode", "auto"), ("save_freq", "epoch"),
                        ("initial_value_threshold", None)],
    "BackupAndRestore": [("backup_dir", _E), ("save_freq", "epoch"), ("double_checkpoint", False),
                         ("delete_checkpoint", True)],
    "CSVLogger": [("filename", _E), ("separator", ","), ("append", False)],
    "LambdaCallback": [("on_epoch_begin", None), ("on_epoch_end", None), ("on_train_begin", None),
                       ("on_train_end", None), ("on_train_batch_begin", None), ("on_train_batch_end", None),
                       ("kwargs", _E)],
    "LearningRateScheduler": [("schedule", _E), ("verbose", 0)],
    "ReduceLROnPlateau": [("monitor", "val_loss"), ("factor", 0.1), ("patience", 10), ("verbose", 0), ("mode", "auto"),
                          ("min_delta", 1e-4), ("cooldown", 0), ("min_lr", 0.0)],
    "TerminateOnNaN": [("raise_error", False)],
    "TensorBoard": [("log_dir", "logs"), ("histogram_freq", 0), ("write_graph", True), ("write_images", False),
                    ("write_steps_per_second", False), ("update_freq", "epoch"), ("profile_batch", 0),
                    ("embeddings_freq", 0), ("embeddings_metadata", None)],
    "RemoteMonitor": [("root", "http://localhost:9000"), ("path", "/publish/epoch/end/"), ("field", "data"),
                      ("headers", None), ("send_as_json", False)],
    "ProgbarLogger": [("pinned", False)],
    "History": [],
    "CallbackList": [("callbacks", None), ("add_history", False), ("add_progbar", False), ("model", None),
                     ("params", _E)],
}


@pytest.mark.parametrize("name", sorted(KERAS3_SIGNATURES))
def test_constructor_signatures_match_keras3(name):
    params = list(inspect.signature(getattr(cbs, name)).parameters.values())
    assert [(p.name, p.default) for p in params] == KERAS3_SIGNATURES[name]
    assert name in cbs.__all__
