"""Callbacks with Keras 3's hooks, called from the C++ training loop.

``fit``, ``evaluate`` and ``predict`` take ``callbacks=`` and call every hook Keras calls, with Keras's ``logs``:
``on_(train|test|predict)_(begin|end)``, ``on_(train|test|predict)_batch_(begin|end)`` and
``on_epoch_(begin|end)``; ``self.model`` and ``self.params`` (``{"verbose", "epochs", "steps"}``) are set first.
Per-batch hooks are only wired when a callback overrides one (``on_batch_end`` counts as ``on_train_batch_end``,
its Keras alias), so a fit without them runs no Python per step. Callbacks run in the order given and share one
logs dict, before the ``History`` that ``fit`` returns, so a key a callback adds at epoch end (``learning_rate``)
lands in the history; a ``CSVLogger`` logs it only when placed after the callback that adds it (as in Keras).

Example:
    >>> class Stop(nncore.callbacks.Callback):
    ...     def on_epoch_end(self, epoch, logs=None):
    ...         if logs["loss"] < 0.1:
    ...             self.model.stop_training = True
"""
from __future__ import annotations

import collections.abc
import csv
import inspect
import itertools
import ipaddress
import json
import math
import os
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from typing import IO, Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

__all__ = ["Callback", "CallbackList", "History", "ProgbarLogger", "LambdaCallback", "EarlyStopping",
           "ModelCheckpoint", "BackupAndRestore", "CSVLogger", "TerminateOnNaN", "LearningRateScheduler",
           "ReduceLROnPlateau", "TensorBoard", "RemoteMonitor"]

# Every hook a Callback has, in Keras's names.
_HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_batch_begin", "on_batch_end",
          "on_train_batch_begin", "on_train_batch_end", "on_test_begin", "on_test_end", "on_test_batch_begin",
          "on_test_batch_end", "on_predict_begin", "on_predict_end", "on_predict_batch_begin",
          "on_predict_batch_end")
# The base class's on_train_batch_* call the older names, so overriding either needs the per-batch call.
_ALIASES = {"on_train_batch_begin": ("on_batch_begin",), "on_train_batch_end": ("on_batch_end",)}


class Callback:
    """Base class: override any of the hooks below; ``self.model`` and ``self.params`` are set before the first.

    Example:
        >>> class Losses(nncore.callbacks.Callback):
        ...     def on_train_begin(self, logs=None):
        ...         self.losses = []
        ...     def on_train_batch_end(self, batch, logs=None):
        ...         self.losses.append(logs["loss"])
        >>> model.fit(x, y, callbacks=[Losses()])
    """

    def __init__(self) -> None:
        self.model: Any = None
        self.params: Dict[str, Any] = {}

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: Dict[str, Any]) -> None:
        self.params = params

    def on_train_begin(self, logs: Optional[dict] = None) -> None: ...
    def on_train_end(self, logs: Optional[dict] = None) -> None: ...  # logs: the last epoch's
    def on_epoch_begin(self, epoch: int, logs: Optional[dict] = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: Optional[dict] = None) -> None: ...
    # Keras's older names for the training batch hooks.
    def on_batch_begin(self, batch: int, logs: Optional[dict] = None) -> None: ...
    def on_batch_end(self, batch: int, logs: Optional[dict] = None) -> None: ...

    def on_train_batch_begin(self, batch: int, logs: Optional[dict] = None) -> None:
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch: int, logs: Optional[dict] = None) -> None:
        """``logs``: the loss and metrics averaged over the epoch's batches so far."""
        self.on_batch_end(batch, logs=logs)

    # evaluate (and the validation after each epoch of fit) and predict:
    def on_test_begin(self, logs: Optional[dict] = None) -> None: ...
    def on_test_end(self, logs: Optional[dict] = None) -> None: ...  # logs: the results
    def on_test_batch_begin(self, batch: int, logs: Optional[dict] = None) -> None: ...
    def on_test_batch_end(self, batch: int, logs: Optional[dict] = None) -> None: ...
    def on_predict_begin(self, logs: Optional[dict] = None) -> None: ...
    def on_predict_end(self, logs: Optional[dict] = None) -> None: ...
    def on_predict_batch_begin(self, batch: int, logs: Optional[dict] = None) -> None: ...
    def on_predict_batch_end(self, batch: int, logs: Optional[dict] = None) -> None: ...

    def _overrides(self, *names: str, below: type = None) -> bool:
        """Whether this callback defines any of the hooks itself (on the instance, as LambdaCallback does, or in a
        class below ``below``, by default below Callback)."""
        base = below or Callback
        cls = type(self)
        return any(n in self.__dict__ or getattr(cls, n) is not getattr(base, n) for n in names)

    def _implements(self, hook: str) -> bool:
        """Whether the loop must call ``hook`` on this callback. Built-in callbacks that override a per-batch hook
        but only need it for some settings refine this, so those settings cost nothing per batch."""
        return self._overrides(hook, *_ALIASES.get(hook, ()))


def _flatten(callbacks: Any) -> List[Any]:
    if callbacks is None:
        return []
    if isinstance(callbacks, (list, tuple)):
        return [cb for item in callbacks for cb in _flatten(item)]
    return [callbacks]


class CallbackList(Callback):
    """Calls a list of callbacks together, as ``fit``, ``evaluate`` and ``predict`` do (Keras's container, for
    custom training loops). ``add_history`` / ``add_progbar`` append a ``History`` / ``ProgbarLogger`` unless the
    list holds one; ``model`` and ``**params`` are handed to every callback.

    Example:
        >>> callbacks = nncore.callbacks.CallbackList([Losses()], add_history=True, model=model, epochs=1, steps=2)
        >>> callbacks.on_train_begin()
        >>> callbacks.on_epoch_begin(0)
        >>> for step, (xb, yb) in enumerate(batches):
        ...     callbacks.on_train_batch_begin(step)
        ...     logs = model.train_on_batch(xb, yb, return_dict=True)
        ...     callbacks.on_train_batch_end(step, logs)
        >>> callbacks.on_epoch_end(0, logs)
        >>> callbacks.on_train_end(logs)
    """

    def __init__(self, callbacks: Any = None, add_history: bool = False, add_progbar: bool = False,
                 model: Any = None, **params: Any) -> None:
        super().__init__()
        self.callbacks: List[Callback] = _flatten(callbacks)
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"CallbackList: callbacks must be nncore.callbacks.Callback instances, got "
                                f"{type(cb).__name__}")
        self._history: Optional[History] = None
        self._progbar: Optional[ProgbarLogger] = None
        for cb in self.callbacks:
            if isinstance(cb, ProgbarLogger):
                self._progbar = cb
            elif isinstance(cb, History):
                self._history = cb
        if self._history is None and add_history:
            self._history = History()
            self.callbacks.append(self._history)
        if self._progbar is None and add_progbar:
            self._progbar = ProgbarLogger()
            self.callbacks.append(self._progbar)
        self.set_model(model)
        self.set_params(params)

    def append(self, callback: Callback) -> None:
        if not isinstance(callback, Callback):
            raise TypeError(f"CallbackList.append: expected an nncore.callbacks.Callback, got "
                            f"{type(callback).__name__}")
        self.callbacks.append(callback)

    def set_params(self, params: Dict[str, Any]) -> None:
        self.params = params
        if params:
            for cb in self.callbacks:
                cb.set_params(params)

    def set_model(self, model: Any) -> None:
        if model is None:
            return
        super().set_model(model)
        if self._history is not None:
            model.history = self._history
        for cb in self.callbacks:
            cb.set_model(model)

    def _implements(self, hook: str) -> bool:
        return any(cb._implements(hook) for cb in self.callbacks)

    def on_train_begin(self, logs: Optional[dict] = None) -> None:
        logs = logs or {}
        for cb in self.callbacks:
            cb.on_train_begin(logs)

    def on_train_end(self, logs: Optional[dict] = None) -> None:
        logs = logs or {}
        for cb in self.callbacks:
            cb.on_train_end(logs)

    def on_epoch_begin(self, epoch: int, logs: Optional[dict] = None) -> None:
        logs = logs or {}
        for cb in self.callbacks:
            cb.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch: int, logs: Optional[dict] = None) -> None:
        logs = logs if logs is not None else {}
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, logs)

    def on_batch_begin(self, batch: int, logs: Optional[dict] = None) -> None:
        logs = logs or {}
        for cb in self.callbacks:
            cb.on_batch_begin(batch, logs=logs)

    def on_batch_end(self, batch: int, logs: Optional[dict] = None) -> None:
        logs = logs or {}
        for cb in self.callbacks:
            cb.on_batch_end(batch, logs=logs)

    def on_train_batch_begin(self, batch: int, logs: Optional[dict] = None) -> None:
        logs = logs or {}
        for cb in self.callbacks:
            cb.on_train_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch: int, logs: Optional[dict] = None) -> None:
        logs = logs or {}
        for cb in self.callbacks:
            cb.on_train_batch_end(batch, logs=logs)

    def on_test_begin(self, logs: Optional[dict] = None) -> None:
        logs = logs or {}
        for cb in self.callbacks:
            cb.on_test_begin(logs)

    def on_test_end(self, logs: Optional[dict] = None) -> None:
        logs = logs or {}
        for cb in self.callbacks:
            cb.on_test_end(logs)

    def on_test_batch_begin(self, batch: int, logs: Optional[dict] = None) -> None:
        logs = logs or {}
        for cb in self.callbacks:
            cb.on_test_batch_begin(batch, logs=logs)

    def on_test_batch_end(self, batch: int, logs: Optional[dict] = None) -> None:
        logs = logs or {}
        for cb in self.callbacks:
            cb.on_test_batch_end(batch, logs=logs)

    def on_predict_begin(self, logs: Optional[dict] = None) -> None:
        logs = logs or {}
        for cb in self.callbacks:
            cb.on_predict_begin(logs)

    def on_predict_end(self, logs: Optional[dict] = None) -> None:
        logs = logs or {}
        for cb in self.callbacks:
            cb.on_predict_end(logs)

    def on_predict_batch_begin(self, batch: int, logs: Optional[dict] = None) -> None:
        logs = logs or {}
        for cb in self.callbacks:
            cb.on_predict_batch_begin(batch, logs=logs)

    def on_predict_batch_end(self, batch: int, logs: Optional[dict] = None) -> None:
        logs = logs or {}
        for cb in self.callbacks:
            cb.on_predict_batch_end(batch, logs=logs)

    # -- the hooks handed to the C++ loops --------------------------------------------------------------------
    def _loop_hooks(self, kind: str) -> Optional[tuple]:
        """Keras's on_test_* / on_predict_* hooks as (on_begin, on_end(logs), on_batch_begin(batch),
        on_batch_end(batch, logs)) for the C++ loop; a per-batch hook only when some callback implements it."""
        cbs = self.callbacks
        if not cbs:
            return None
        begin_b = [cb for cb in cbs if cb._implements(f"on_{kind}_batch_begin")]
        end_b = [cb for cb in cbs if cb._implements(f"on_{kind}_batch_end")]
        on_begin, on_end = f"on_{kind}_begin", f"on_{kind}_end"
        on_batch_begin, on_batch_end = f"on_{kind}_batch_begin", f"on_{kind}_batch_end"

        def batch_begin(batch: int) -> None:
            for cb in begin_b:
                getattr(cb, on_batch_begin)(batch, {})

        def batch_end(batch: int, logs: dict) -> None:
            for cb in end_b:
                getattr(cb, on_batch_end)(batch, logs)

        return (lambda: getattr(self, on_begin)({}), lambda logs: getattr(self, on_end)(logs),
                batch_begin if begin_b else None, batch_end if end_b else None)


def _callback_list(model: Any, callbacks: Any, what: str, *, add_history: bool, add_progbar: bool,
                   verbose: int, epochs: int, steps: Optional[int]) -> CallbackList:
    """The CallbackList of one fit / evaluate / predict (a CallbackList given by the caller is used as it is)."""
    if isinstance(callbacks, CallbackList):
        if callbacks.model is None:
            callbacks.set_model(model)
        return callbacks
    for cb in _flatten(callbacks):
        if not isinstance(cb, Callback):
            raise TypeError(f"{what}: callbacks must be nncore.callbacks.Callback instances, got {type(cb).__name__}")
    from . import distributed
    if not distributed._writes():  # data-parallel: the callbacks that only write files run on rank 0
        callbacks = [cb for cb in _flatten(callbacks) if not isinstance(cb, _RANK0_ONLY)]
    return CallbackList(callbacks, add_history=add_history, add_progbar=add_progbar, model=model,
                        verbose=verbose, epochs=epochs, steps=steps)


class _TrainingRun:
    """One fit's callbacks in Keras's order around the C++ epoch loop: on_train_begin runs here first (a
    BackupAndRestore may move the start epoch), the loop calls the epoch, batch and validation hooks, and
    on_train_end runs here last with the last epoch's logs (not after Ctrl-C, as an exception skips it in Keras)."""

    def __init__(self, model: Any, callbacks: Any, epochs: int, verbose: int, steps: Optional[int]) -> None:
        self.model = model
        self.epochs = epochs
        self.list = _callback_list(model, callbacks, "fit", add_history=True, add_progbar=False, verbose=verbose,
                                   epochs=epochs, steps=steps)
        # A ProgbarLogger given by the caller prints the progress instead of the loop's own bar.
        self.loop_verbose = 0 if self.list._progbar is not None else verbose
        self.last_logs: Optional[dict] = None

    def begin(self, initial_epoch: int) -> Optional[int]:
        """Calls on_train_begin; returns the epoch to start from, or None when no epoch is left to run."""
        if not isinstance(initial_epoch, (int, np.integer)) or isinstance(initial_epoch, bool) or \
                not 0 <= initial_epoch < self.epochs:
            raise ValueError(f"fit: initial_epoch must be in [0, epochs) = [0, {self.epochs}), got {initial_epoch!r}")
        state = self.model.__dict__
        state.pop("_initial_epoch", None)
        self.list.on_train_begin()
        start = state.pop("_initial_epoch", None) or int(initial_epoch)  # Keras: model._initial_epoch or ...
        return start if start < self.epochs else None

    def hooks(self) -> tuple:
        """(on_train_begin, on_train_end, on_epoch_begin, on_epoch_end, on_batch_end, on_batch_begin,
        validation hooks) as the C++ fit takes them; the first two stay here."""
        cbl = self.list
        begin_b = [cb for cb in cbl.callbacks if cb._implements("on_train_batch_begin")]
        end_b = [cb for cb in cbl.callbacks if cb._implements("on_train_batch_end")]

        def on_epoch_end(epoch: int, logs: dict) -> None:
            cbl.on_epoch_end(epoch, logs)
            self.last_logs = logs

        def on_batch_begin(batch: int) -> None:
            for cb in begin_b:
                cb.on_train_batch_begin(batch, {})

        def on_batch_end(batch: int, logs: dict) -> None:
            for cb in end_b:
                cb.on_train_batch_end(batch, logs)

        return (None, None, lambda epoch: cbl.on_epoch_begin(epoch, {}), on_epoch_end,
                on_batch_end if end_b else None, on_batch_begin if begin_b else None, cbl._loop_hooks("test"))

    def end(self, interrupted: bool) -> None:
        if not interrupted:
            self.list.on_train_end(self.last_logs)


class _EvaluationRun:
    """One evaluate's or predict's callbacks: ``loop_verbose`` and ``hooks`` for the C++ loop. The C++ predict has
    no progress bar, so a verbose predict gets Keras's ProgbarLogger. When a callback reads each predict batch's
    ``logs["outputs"]`` (Keras's on_predict_batch_end), ``per_batch_outputs`` is set and ``predict`` runs the
    batches one C++ call each, so that the outputs can be handed over; otherwise no Python runs per batch."""

    def __init__(self, model: Any, callbacks: Any, what: str, verbose: int, steps: Optional[int]) -> None:
        kind = "test" if what == "evaluate" else "predict"
        self.list = _callback_list(model, callbacks, what, add_history=False,
                                   add_progbar=kind == "predict" and verbose != 0, verbose=verbose, epochs=1,
                                   steps=steps)
        self.loop_verbose = 0 if self.list._progbar is not None else verbose
        self.hooks = self.list._loop_hooks(kind)
        self.per_batch_outputs = kind == "predict" and any(
            cb._implements("on_predict_batch_end") and not isinstance(cb, ProgbarLogger) for cb in self.list.callbacks)

    def predict(self, impl: Any, batches: Any) -> list:
        """Keras's predict loop over ``batches`` (lists of input arrays), each batch one call of the C++ predict:
        the hooks get ``{"outputs": <the batch's outputs>}``. Returns one array per output."""
        cbl = self.list
        begin_b = [cb for cb in cbl.callbacks if cb._implements("on_predict_batch_begin")]
        end_b = [cb for cb in cbl.callbacks if cb._implements("on_predict_batch_end")]
        cbl.on_predict_begin({})
        parts: Optional[List[list]] = None
        for step, xb in enumerate(batches):
            for cb in begin_b:
                cb.on_predict_batch_begin(step, {})
            out = list(impl.predict(xb, len(xb[0]), None))
            if parts is None:
                parts = [[] for _ in out]
            for part, o in zip(parts, out):
                part.append(o)
            logs = {"outputs": out[0] if len(out) == 1 else out}
            for cb in end_b:
                cb.on_predict_batch_end(step, logs)
        cbl.on_predict_end({})
        if parts is None:
            raise ValueError("predict: the data held no batches")
        return [np.concatenate(p) for p in parts]


def _feed_batches(feed: Any) -> Any:
    """The input arrays of each batch of a predict feed (nncore._feeds._Feed), in order, up to its steps."""
    feed.begin_epoch(0)
    step = 0
    while feed.steps < 0 or step < feed.steps:
        item = feed.next(step)
        if item is None:
            break
        yield item[0]
        step += 1
    feed.end_epoch(0)


class History(Callback):
    """What ``fit`` returns: ``history.history`` maps each metric to its per-epoch values, ``history.epoch`` lists
    the epochs run.

    Example:
        >>> history = model.fit(x, y, epochs=3, validation_split=0.2)
        >>> history.history["val_loss"]
    """

    def __init__(self) -> None:
        super().__init__()
        self.history: Dict[str, List[float]] = {}
        self.epoch: List[int] = []

    def on_train_begin(self, logs: Optional[dict] = None) -> None:
        self.epoch = []

    def on_epoch_end(self, epoch: int, logs: Optional[dict] = None) -> None:
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(float(v))
        if self.model is not None:
            self.model.history = self


# ---------------------------------------------------------------------------------------------------- progress
class _Progbar:
    """A progress bar in the format of nncore's C++ loop: ``3/8 [==>....] - ETA: 1s - loss: 0.1234``, redrawn in
    place (verbose 1) or one line when done (verbose 2)."""

    def __init__(self, target: Optional[int], verbose: int = 1, width: int = 30, interval: float = 0.05,
                 unit_name: str = "step") -> None:
        self.target = target
        self.verbose = verbose
        self.width = width
        self.interval = interval
        self.unit_name = unit_name
        self._start = time.time()
        self._last_update = 0.0

    @staticmethod
    def _values(values: Sequence[Tuple[str, Any]]) -> str:
        out = ""
        for k, v in values:
            if isinstance(v, (float, int, np.floating, np.integer)) and not isinstance(v, bool):
                v = float(v)
                out += f" - {k}: {v:.4f}" if abs(v) > 1e-3 or v == 0 else f" - {k}: {v:.4e}"
            else:
                out += f" - {k}: {v}"
        return out

    def _per_step(self, elapsed: float, current: int) -> str:
        t = elapsed / max(current, 1)
        if t >= 1:
            return f"{t:.0f}s/{self.unit_name}"
        if t >= 1e-3:
            return f"{t * 1e3:.0f}ms/{self.unit_name}"
        return f"{t * 1e6:.0f}us/{self.unit_name}"

    def update(self, current: int, values: Sequence[Tuple[str, Any]] = (), finalize: bool = False) -> None:
        if self.verbose == 0:
            return
        now = time.time()
        elapsed = now - self._start
        if self.verbose == 2:
            if finalize:
                sys.stdout.write(f"{current}/{self.target or current} - {elapsed:.0f}s - "
                                 f"{self._per_step(elapsed, current)}{self._values(values)}\n")
                sys.stdout.flush()
            return
        if not finalize and now - self._last_update < self.interval:
            return
        self._last_update = now
        if self.target:
            filled = int(self.width * min(current / self.target, 1.0))
            bar = "=" * self.width if filled >= self.width else "=" * max(filled - 1, 0) + ">" * (filled > 0)
            bar = f"{current}/{self.target} [{bar}{'.' * (self.width - len(bar))}]"
        else:
            bar = f"{current}/Unknown"
        if finalize:
            line = f"\r{bar} - {elapsed:.0f}s {self._per_step(elapsed, current)}{self._values(values)}\x1b[K\n"
        else:
            eta = elapsed / max(current, 1) * (self.target - current) if self.target else elapsed
            line = f"\r{bar} - {'ETA' if self.target else 'elapsed'}: {eta:.0f}s{self._values(values)}\x1b[K"
        sys.stdout.write(line)
        sys.stdout.flush()


class ProgbarLogger(Callback):
    """Prints metrics to stdout: a progress bar per epoch (verbose 1) or one line per epoch (verbose 2), Keras's
    ProgbarLogger. ``fit`` and ``evaluate`` print their own bar from C++, so this is only needed in a
    ``CallbackList`` of a custom loop, or to replace that bar (it then prints instead, calling Python per batch);
    ``predict(verbose=1)`` uses it.

    Example:
        >>> model.fit(x, y, epochs=2, callbacks=[nncore.callbacks.ProgbarLogger()])
    """

    def __init__(self, pinned: bool = False) -> None:
        super().__init__()
        self.seen = 0
        self.progbar: Optional[_Progbar] = None
        self.target: Optional[int] = None
        self.verbose: int = 1
        self.epochs = 1
        self.pinned = bool(pinned)  # accepted for Keras's signature; the bar is drawn in place either way
        self._called_in_fit = False

    def set_params(self, params: Dict[str, Any]) -> None:
        super().set_params(params)
        verbose = params.get("verbose", 1)
        self.verbose = 1 if verbose == "auto" else int(verbose)
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps")

    def _implements(self, hook: str) -> bool:
        if hook.endswith("_batch_end") and not self._overrides(hook, *_ALIASES.get(hook, ()), below=ProgbarLogger):
            # Every batch only to redraw the bar (verbose 1) or to count batches of unknown number.
            return self.verbose == 1 or self.target is None
        return super()._implements(hook)

    def on_train_begin(self, logs: Optional[dict] = None) -> None:
        self._called_in_fit = True  # fit's validation is silent

    def on_train_end(self, logs: Optional[dict] = None) -> None:
        self._called_in_fit = False

    def on_test_begin(self, logs: Optional[dict] = None) -> None:
        if not self._called_in_fit:
            self._reset_progbar()
            self._maybe_init_progbar()

    def on_predict_begin(self, logs: Optional[dict] = None) -> None:
        self._reset_progbar()
        self._maybe_init_progbar()

    def on_epoch_begin(self, epoch: int, logs: Optional[dict] = None) -> None:
        self._reset_progbar()
        self._maybe_init_progbar()
        if self.verbose and self.epochs > 1:
            sys.stdout.write(f"Epoch {epoch + 1}/{self.epochs}\n")
            sys.stdout.flush()

    def on_train_batch_end(self, batch: int, logs: Optional[dict] = None) -> None:
        self._update_progbar(batch, logs)

    def on_test_batch_end(self, batch: int, logs: Optional[dict] = None) -> None:
        if not self._called_in_fit:
            self._update_progbar(batch, logs)

    def on_predict_batch_end(self, batch: int, logs: Optional[dict] = None) -> None:
        self._update_progbar(batch, None)  # not the predictions

    def on_epoch_end(self, epoch: int, logs: Optional[dict] = None) -> None:
        self._finalize_progbar(logs)

    def on_test_end(self, logs: Optional[dict] = None) -> None:
        if not self._called_in_fit:
            self._finalize_progbar(logs)

    def on_predict_end(self, logs: Optional[dict] = None) -> None:
        self._finalize_progbar(logs)

    def _reset_progbar(self) -> None:
        self.seen = 0
        self.progbar = None

    def _maybe_init_progbar(self) -> None:
        if self.progbar is None:
            self.progbar = _Progbar(target=self.target, verbose=self.verbose, unit_name="step")

    def _update_progbar(self, batch: int, logs: Optional[dict]) -> None:
        self._maybe_init_progbar()
        self.seen = batch + 1
        if self.verbose == 1:
            self.progbar.update(self.seen, list((logs or {}).items()))

    def _finalize_progbar(self, logs: Optional[dict]) -> None:
        self._maybe_init_progbar()
        target = self.target if self.target is not None else self.seen
        self.progbar.target = target
        self.progbar.update(target, list((logs or {}).items()), finalize=True)


# ---------------------------------------------------------------------------------------------------- simple ones
class LambdaCallback(Callback):
    """A callback from plain functions, called positionally as the hooks are: ``on_epoch_begin(epoch, logs)``,
    ``on_epoch_end(epoch, logs)``, ``on_train_begin(logs)``, ``on_train_end(logs)``,
    ``on_train_batch_begin(batch, logs)``, ``on_train_batch_end(batch, logs)``; any other hook by its name
    (``on_test_end=...``, ``on_batch_end=...``).

    Example:
        >>> print_batch = nncore.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: print(batch))
    """

    def __init__(self, on_epoch_begin: Optional[Callable] = None, on_epoch_end: Optional[Callable] = None,
                 on_train_begin: Optional[Callable] = None, on_train_end: Optional[Callable] = None,
                 on_train_batch_begin: Optional[Callable] = None, on_train_batch_end: Optional[Callable] = None,
                 **kwargs: Callable) -> None:
        super().__init__()
        for name in kwargs:
            if name not in _HOOKS:
                raise TypeError(f"LambdaCallback: unexpected keyword argument {name!r}; expected a Callback hook: "
                                f"{', '.join(_HOOKS)}")
        given = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end, on_train_begin=on_train_begin,
                     on_train_end=on_train_end, on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end, **kwargs)
        for name, fn in given.items():
            if fn is None:
                continue
            if not callable(fn):
                raise TypeError(f"LambdaCallback: {name} must be callable, got {type(fn).__name__}")
            setattr(self, name, fn)


def _as_number(value: Any) -> Optional[float]:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch's loss is NaN or infinite: gracefully (``model.stop_training``, the
    epoch's hooks and ``on_train_end`` still run) or, with ``raise_error=True``, by raising ``RuntimeError`` at
    once (no ``on_train_end``: a BackupAndRestore keeps its backup).

    Example:
        >>> model.fit(x, y, epochs=10, callbacks=[nncore.callbacks.TerminateOnNaN()])
    """

    def __init__(self, raise_error: bool = False) -> None:
        super().__init__()
        self.raise_error = bool(raise_error)

    def on_batch_end(self, batch: int, logs: Optional[dict] = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            if self.raise_error:
                raise RuntimeError(f"NaN or Inf loss encountered at batch {batch}. Loss value: {loss}. "
                                   "Terminating training immediately.")
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


def _takes_learning_rate(schedule: Callable) -> bool:
    """Whether ``schedule`` is ``schedule(epoch, lr)`` rather than the older ``schedule(epoch)``."""
    try:
        signature = inspect.signature(schedule)
    except (TypeError, ValueError):
        return True
    try:
        signature.bind(0, 0.0)
    except TypeError:
        return False
    return True


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of each epoch to ``schedule(epoch, lr)`` (or ``schedule(epoch)``); the
    rate used is added to the epoch's logs as ``learning_rate``.

    Example:
        >>> def schedule(epoch, lr):
        ...     return lr if epoch < 10 else lr * 0.9
        >>> model.fit(x, y, epochs=15, callbacks=[nncore.callbacks.LearningRateScheduler(schedule)])
    """

    def __init__(self, schedule: Callable, verbose: int = 0) -> None:
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler: schedule must be a function (epoch, lr) -> lr, got "
                            f"{type(schedule).__name__}")
        self.schedule = schedule
        self.verbose = verbose
        self._takes_lr = _takes_learning_rate(schedule)

    def on_epoch_begin(self, epoch: int, logs: Optional[dict] = None) -> None:
        optimizer = self.model.optimizer
        if not hasattr(optimizer, "learning_rate"):
            raise ValueError('LearningRateScheduler: the optimizer must have a "learning_rate" attribute')
        if self._takes_lr:
            lr = self.schedule(epoch, float(optimizer.learning_rate))
        else:
            lr = self.schedule(epoch)
        if isinstance(lr, bool) or not isinstance(lr, (float, int, np.floating, np.integer)):
            raise ValueError(f"LearningRateScheduler: the schedule must return a float, got {lr!r}")
        optimizer.learning_rate = float(lr)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(lr)}.")

    def on_epoch_end(self, epoch: int, logs: Optional[dict] = None) -> None:
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


# ---------------------------------------------------------------------------------------------------- monitored
# Whether a monitored quantity should go up, by its name without "val_" (matched whole or as the end after "_",
# so "sparse_categorical_accuracy" and "<output>_loss" match). Keras 3 asks each metric object its direction;
# nncore's metrics are names, so the names are listed here.
_HIGHER_IS_BETTER = ("accuracy", "acc", "auc", "precision", "recall", "f1_score", "fbeta_score", "iou",
                     "r2_score", "true_positives", "true_negatives", "cosine_similarity", "specificity",
                     "sensitivity", "correlation")
_LOWER_IS_BETTER = ("loss", "mse", "mae", "mape", "msle", "rmse", "mean_squared_error", "mean_absolute_error",
                    "mean_absolute_percentage_error", "mean_squared_logarithmic_error", "root_mean_squared_error",
                    "crossentropy", "hinge", "kl_divergence", "kld", "kullback_leibler_divergence", "poisson",
                    "logcosh", "log_cosh", "log_cosh_error", "huber", "false_positives", "false_negatives")


def _direction(monitor: str) -> Optional[bool]:
    """True to maximise, False to minimise, None when the name does not tell."""
    name = monitor[len("val_"):] if monitor.startswith("val_") else monitor

    def matches(tokens: Sequence[str]) -> bool:
        return any(name == t or name.endswith("_" + t) for t in tokens)

    if matches(_LOWER_IS_BETTER):
        return False
    if matches(_HIGHER_IS_BETTER):
        return True
    return None


def _check_mode(mode: str, who: str) -> str:
    if mode not in ("auto", "min", "max"):
        warnings.warn(f"{who} mode {mode} is unknown, fallback to auto mode.", stacklevel=3)
        return "auto"
    return mode


def _warn_missing(what: str, monitor: str, logs: dict) -> None:
    warnings.warn(f"{what} conditioned on metric `{monitor}` which is not available. "
                  f"Available metrics are: {','.join(logs.keys())}", stacklevel=3)


class _Monitored(Callback):
    """What EarlyStopping and ModelCheckpoint share (Keras 3's MonitorCallback): the monitored name, its
    direction (``mode``, or from the name in "auto" mode) and the signed ``min_delta``."""

    def _init_monitor(self, monitor: str, mode: str, min_delta: float, who: str) -> None:
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(f"{who}: monitor must be the name of a logged quantity (e.g. 'val_loss'), got "
                             f"{monitor!r}")
        self.monitor = monitor
        self.mode = _check_mode(mode, who)
        self._abs_min_delta = abs(float(min_delta))
        self._higher: Optional[bool] = (self.mode == "max") if self.mode != "auto" else _direction(monitor)

    @property
    def higher_is_better(self) -> bool:
        if self._higher is None:
            raise ValueError(f"{type(self).__name__} callback received monitor={self.monitor}, but nncore cannot "
                             "tell whether that quantity should be maximized or minimized. Pass mode='max' to "
                             "monitor the highest value, or mode='min' for the lowest.")
        return self._higher

    @property
    def min_delta(self) -> float:
        """Signed as in Keras (negative when minimising), so that "value - min_delta beats best" is the test."""
        return self._abs_min_delta if self.higher_is_better else -self._abs_min_delta

    def _worst(self) -> float:
        return -math.inf if self.higher_is_better else math.inf

    def _is_improvement(self, value: float, reference: Optional[float]) -> bool:
        if reference is None:
            return True
        value -= self.min_delta
        return value > reference if self.higher_is_better else value < reference


def _non_negative_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{what} must be an int >= 0, got {value!r}")
    return int(value)


class EarlyStopping(_Monitored):
    """Stop training when ``monitor`` has stopped improving, with Keras 3's semantics:

    - an epoch improves when it beats the best value so far by more than ``min_delta``;
    - ``patience`` epochs without improvement stop training (never at epoch 0);
    - with a ``baseline``, patience restarts only on an epoch that beats both the best and the baseline, so a run
      that never reaches the baseline stops after ``patience`` epochs;
    - the first ``start_from_epoch`` epochs are not monitored (a warm-up);
    - ``restore_best_weights`` puts back the weights of the best epoch at the end of training, whether it stopped
      early or not (the first monitored epoch counts as best until another improves, baseline or not).

    Example:
        >>> stop = nncore.callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
        >>> model.fit(x, y, epochs=100, validation_split=0.2, callbacks=[stop])
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0, patience: int = 0, verbose: int = 0,
                 mode: str = "auto", baseline: Optional[float] = None, restore_best_weights: bool = False,
                 start_from_epoch: int = 0) -> None:
        super().__init__()
        if isinstance(patience, bool) or not isinstance(patience, (int, np.integer)) or patience < 0:
            raise ValueError(f"EarlyStopping: patience must be >= 0, got {patience}")
        if _as_number(min_delta) is None:
            raise ValueError(f"EarlyStopping: min_delta must be a number, got {min_delta!r}")
        if baseline is not None and _as_number(baseline) is None:
            raise ValueError(f"EarlyStopping: baseline must be a number or None, got {baseline!r}")
        self.start_from_epoch = _non_negative_int(start_from_epoch, "EarlyStopping: start_from_epoch")
        self._init_monitor(monitor, mode, min_delta, "EarlyStopping")
        self.patience = int(patience)
        self.verbose = verbose
        self.baseline = None if baseline is None else float(baseline)
        self.restore_best_weights = bool(restore_best_weights)
        self.wait = 0
        self.stopped_epoch = 0
        self.best: Optional[float] = None
        self.best_weights: Optional[list] = None
        self.best_epoch = 0

    def on_train_begin(self, logs: Optional[dict] = None) -> None:
        # Reset so one instance can serve several fits (Keras 3 keeps `best` across fits; Keras 2 reset it).
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch: int, logs: Optional[dict] = None) -> None:
        if self.best is None:
            self.best = self._worst()  # raises here, as Keras does, when "auto" cannot tell the direction
        logs = logs or {}
        current = logs.get(self.monitor)
        if current is None:
            _warn_missing("Early stopping", self.monitor, logs)
            return
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            # Until something improves, the first monitored epoch is the best.
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            # Patience restarts only when the epoch beats both the previous best and the baseline.
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: Optional[dict] = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)

    def get_monitor_value(self, logs: Optional[dict]) -> Optional[float]:
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            _warn_missing("Early stopping", self.monitor, logs)
        return value


class ModelCheckpoint(_Monitored):
    """Save the model (or its weights) during training, atomically: a crash or a kill never leaves a half-written
    file at ``filepath`` (each save writes a temporary file, then renames it over the target).

    ``filepath`` may hold Keras-style fields filled from the epoch (counted from 1) and the logs, e.g.
    ``"ckpt-{epoch:02d}-{val_loss:.3f}.nncore"``. With ``save_best_only`` a save happens only when ``monitor``
    improves on the best value seen (``mode``: 'auto', 'min' or 'max'; ``initial_value_threshold`` sets the value
    to beat first); an unknown monitor is warned about and that epoch is not saved. ``save_freq`` is ``"epoch"``
    or a number of batches. The name's ending picks the format, as for ``Model.save`` / ``save_weights``
    (``.nncore``; ``.keras`` or ``.h5`` for Keras; ``.weights.h5`` with ``save_weights_only``); any other raises.

    Example:
        >>> ckpt = nncore.callbacks.ModelCheckpoint("best.nncore", monitor="val_accuracy", save_best_only=True)
        >>> model.fit(x, y, epochs=10, validation_split=0.1, callbacks=[ckpt])
        >>> best = nncore.load_model("best.nncore")
    """

    def __init__(self, filepath: Union[str, "os.PathLike[str]"], monitor: str = "val_loss", verbose: int = 0,
                 save_best_only: bool = False, save_weights_only: bool = False, mode: str = "auto",
                 save_freq: Union[str, int] = "epoch", initial_value_threshold: Optional[float] = None) -> None:
        super().__init__()
        self.filepath = os.fspath(filepath)
        if not self.filepath:
            raise ValueError("ModelCheckpoint: filepath must not be empty")
        from ._keras_files import file_format  # the ending picks the format; an unknown one raises here, not later
        file_format(self.filepath, "ModelCheckpoint", weights=bool(save_weights_only))
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1):
            raise ValueError(f"ModelCheckpoint: save_freq must be 'epoch' or a number of batches >= 1, got "
                             f"{save_freq!r}")
        if initial_value_threshold is not None and _as_number(initial_value_threshold) is None:
            raise ValueError(f"ModelCheckpoint: initial_value_threshold must be a number or None, got "
                             f"{initial_value_threshold!r}")
        self._init_monitor(monitor, mode, 0.0, "ModelCheckpoint")
        self.verbose = verbose
        self.save_best_only = bool(save_best_only)
        self.save_weights_only = bool(save_weights_only)
        self.save_freq = save_freq
        self.initial_value_threshold = initial_value_threshold
        self.best: Optional[float] = None if initial_value_threshold is None else float(initial_value_threshold)
        self._epoch = 0
        self._batches_seen = 0

    def _implements(self, hook: str) -> bool:
        if hook == "on_train_batch_end" and not self._overrides(hook, "on_batch_end", below=ModelCheckpoint):
            return self.save_freq != "epoch"
        return super()._implements(hook)

    def on_train_begin(self, logs: Optional[dict] = None) -> None:
        self._batches_seen = 0

    def on_epoch_begin(self, epoch: int, logs: Optional[dict] = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Optional[dict] = None) -> None:
        if self.save_freq == "epoch":
            return
        self._batches_seen += 1
        if self._batches_seen % int(self.save_freq) == 0:
            self._save(self._epoch, dict(logs or {}), batch=batch)

    def on_epoch_end(self, epoch: int, logs: Optional[dict] = None) -> None:
        if self.save_freq == "epoch":
            self._save(epoch, dict(logs or {}))

    def _path(self, epoch: int, logs: dict, batch: Optional[int]) -> str:
        fields = {k: v for k, v in logs.items()}
        fields["epoch"] = epoch + 1
        if batch is not None:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(**fields)
        except KeyError as e:
            raise KeyError(f"ModelCheckpoint: filepath '{self.filepath}' names {e.args[0]!r}, which is not in the logs "
                           f"(available: {', '.join(sorted(fields))})") from None

    def _save(self, epoch: int, logs: dict, batch: Optional[int] = None) -> None:
        path = self._path(epoch, logs, batch)
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                warnings.warn(f"Can save best model only with {self.monitor} available, skipping. Available metrics "
                              f"are: {','.join(logs.keys())}", stacklevel=2)
                return
            best = "None" if self.best is None else f"{self.best:.5f}"
            if not self._is_improvement(current, self.best):
                if self.verbose > 0:
                    print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best}")
                return
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to {current:.5f}, "
                      f"saving model to {path}")
            self.best = float(current)
        elif self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: saving model to {path}")
        if os.path.isdir(path):
            raise IsADirectoryError(f"ModelCheckpoint: filepath '{path}' is an existing directory; give a file path")
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` once ``monitor`` has not improved (by more than ``min_delta``)
    for ``patience`` epochs. After a reduction, ``cooldown`` epochs pass before improvement is watched again; the
    rate never goes below ``min_lr``. The rate is added to the epoch's logs as ``learning_rate``.

    Example:
        >>> reduce_lr = nncore.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.2, patience=5, min_lr=1e-3)
        >>> model.fit(x, y, epochs=100, validation_split=0.2, callbacks=[reduce_lr])
    """

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10, verbose: int = 0,
                 mode: str = "auto", min_delta: float = 1e-4, cooldown: int = 0, min_lr: float = 0.0) -> None:
        super().__init__()
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}")
        self.monitor = monitor
        self.factor = factor
        self.patience = _non_negative_int(patience, "ReduceLROnPlateau: patience")
        self.verbose = verbose
        self.min_delta = min_delta
        self.cooldown = _non_negative_int(cooldown, "ReduceLROnPlateau: cooldown")
        self.min_lr = min_lr
        self.mode = _check_mode(mode, "Learning rate reduction")
        if self.mode == "auto":
            # Keras's ReduceLROnPlateau falls back to "acc" in the name: maximise, else minimise; it never raises.
            direction = _direction(monitor)
            self.higher_is_better = direction if direction is not None else "acc" in monitor
        else:
            self.higher_is_better = self.mode == "max"
        self._reset()

    def _reset(self) -> None:
        self.best = -math.inf if self.higher_is_better else math.inf
        self.cooldown_counter = 0
        self.wait = 0

    def _is_improvement(self, value: float) -> bool:
        if self.higher_is_better:
            return value > self.best + self.min_delta
        return value < self.best - self.min_delta

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def on_train_begin(self, logs: Optional[dict] = None) -> None:
        self._reset()

    def on_epoch_end(self, epoch: int, logs: Optional[dict] = None) -> None:
        logs = logs if logs is not None else {}
        optimizer = self.model.optimizer
        logs["learning_rate"] = float(optimizer.learning_rate)
        current = logs.get(self.monitor)
        if current is None:
            _warn_missing("Learning rate reduction", self.monitor, logs)
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = float(optimizer.learning_rate)
                # The optimizer keeps float32: compare in float32 so a rate already at min_lr stays put.
                if old_lr > np.float32(self.min_lr):
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    optimizer.learning_rate = new_lr
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


# ---------------------------------------------------------------------------------------------------- files
class CSVLogger(Callback):
    """Write one CSV row per epoch: ``epoch`` and then the logs' keys in sorted order, under a header.

    Example:
        >>> model.fit(x, y, epochs=10, callbacks=[nncore.callbacks.CSVLogger("training.log")])
    """

    def __init__(self, filename: Union[str, "os.PathLike[str]"], separator: str = ",", append: bool = False) -> None:
        super().__init__()
        self.filename = os.fspath(filename)
        if not self.filename:
            raise ValueError("CSVLogger: filename must not be empty")
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(f"CSVLogger: separator must be a single character, got {separator!r}")
        self.sep = separator
        self.append = append
        self.keys: Optional[List[str]] = None
        self.append_header = True
        self.csv_file: Optional[IO[str]] = None
        self.writer: Optional[csv.DictWriter] = None

    def on_train_begin(self, logs: Optional[dict] = None) -> None:
        if self.append:
            # No header when appending to a file that already has one.
            if os.path.exists(self.filename):
                with open(self.filename, "r", newline="") as f:
                    self.append_header = not bool(len(f.readline()))
            mode = "a"
        else:
            mode = "w"
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = open(self.filename, mode, newline="")
        self.writer = None
        self.keys = None

    def on_epoch_end(self, epoch: int, logs: Optional[dict] = None) -> None:
        logs = logs or {}

        def handle_value(v: Any) -> Any:
            if isinstance(v, str) or (isinstance(v, np.ndarray) and v.ndim == 0):
                return v
            if isinstance(v, collections.abc.Iterable):
                return f'"[{", ".join(map(str, v))}]"'
            return v

        if self.keys is None:
            self.keys = sorted(logs.keys())
        if self.writer is None:
            sep = self.sep

            class Dialect(csv.excel):
                delimiter = sep

            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch"] + self.keys, dialect=Dialect)
            if self.append_header:
                self.writer.writeheader()
        row: Dict[str, Any] = {"epoch": epoch}
        row.update((k, handle_value(logs.get(k, "NA"))) for k in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs: Optional[dict] = None) -> None:
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


def _write_atomically(path: str, text: str) -> None:
    """``text`` to ``path`` through a temporary file renamed over it: a kill leaves the old or the new file."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class BackupAndRestore(Callback):
    """Back up the training state (weights, optimizer state, epoch) in ``backup_dir`` and resume from it: when a
    run is killed or fails mid-training, the next ``fit`` with this callback (a rerun of the same script) restores
    the last backup and continues at the epoch after it; a run that completes deletes the backup
    (``delete_checkpoint``). Under the same ``set_random_seed`` the resumed run ends with the weights of an
    uninterrupted one: the epochs' shuffling depends only on the fit's seed and the epoch number.

    ``save_freq``: ``"epoch"`` backs up at the end of every epoch, an int every that many batches (a resumed run
    then redoes the interrupted epoch from its start, with the weights of the last backup, as in Keras).
    ``double_checkpoint`` keeps the previous backup too and falls back on it when the latest cannot be read.
    Each backup is written atomically (a kill while writing leaves the previous backup intact). The directory is
    this callback's own: do not share it with another run or callback.

    Example:
        >>> backup = nncore.callbacks.BackupAndRestore(backup_dir="/tmp/backup")
        >>> model.fit(x, y, epochs=100, callbacks=[backup])  # killed at epoch 40? rerun: it resumes at 40
    """

    _METADATA = "training_metadata.json"

    def __init__(self, backup_dir: Union[str, "os.PathLike[str]"], save_freq: Union[str, int] = "epoch",
                 double_checkpoint: bool = False, delete_checkpoint: bool = True) -> None:
        super().__init__()
        if backup_dir is None or not os.fspath(backup_dir):
            raise ValueError("BackupAndRestore: empty `backup_dir` argument passed; expected a directory path")
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, (int, np.integer))
                                     or save_freq < 1):
            raise ValueError("BackupAndRestore: invalid value for argument `save_freq`: expected 'epoch' or a number "
                             f"of batches >= 1, received save_freq={save_freq!r}")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq if save_freq == "epoch" else int(save_freq)
        self.double_checkpoint = bool(double_checkpoint)
        self.delete_checkpoint = bool(delete_checkpoint)
        self._metadata_path = os.path.join(self.backup_dir, self._METADATA)
        self._current_epoch = 0
        self._batches_seen_since_last_saving = 0
        self._generation = 0

    def _implements(self, hook: str) -> bool:
        if hook == "on_train_batch_end" and not self._overrides(hook, "on_batch_end", below=BackupAndRestore):
            return self.save_freq != "epoch"
        return super()._implements(hook)

    # -- restoring ----------------------------------------------------------------------------------------------
    def _read_metadata(self) -> Optional[dict]:
        if not os.path.exists(self._metadata_path):
            return None
        try:
            with open(self._metadata_path) as f:
                state = json.load(f)
            if not isinstance(state.get("epoch"), int) or not isinstance(state.get("file"), str):
                raise ValueError("missing 'epoch' or 'file'")
        except (OSError, ValueError) as e:
            raise ValueError(f"BackupAndRestore: the backup in '{self.backup_dir}' is unreadable ({self._METADATA}: "
                             f"{e}); delete the directory to start afresh") from None
        return state

    def _restore(self, entry: dict) -> None:
        path = os.path.join(self.backup_dir, entry["file"])
        # In file order: the rerun's layers may be auto-named differently (dense_4 for dense), as in Keras.
        self.model.load_weights(path, by_name=False)
        _restore_optimizer_state(self.model, path)

    def on_train_begin(self, logs: Optional[dict] = None) -> None:
        self._batches_seen_since_last_saving = 0
        state = self._read_metadata()
        self._generation = int(state.get("generation", 0)) if state else 0
        if state is None:
            self._current_epoch = 0
            return
        if not self.model.built:
            raise ValueError("To use the BackupAndRestore callback, your model must be built before you call fit(). "
                             f"Model {self.model.name} is unbuilt: give its first layer an input shape, or call it on "
                             "a batch of data first.")
        entries = [state] + ([state["previous"]] if isinstance(state.get("previous"), dict) else [])
        error: Optional[Exception] = None
        for entry in entries:
            try:
                self._restore(entry)
            except (OSError, ValueError) as e:  # nncore.ModelFileError is a ValueError
                error = error or e
                continue
            self._current_epoch = int(entry["epoch"])
            self.model._initial_epoch = self._current_epoch
            return
        raise error

    # -- backing up ---------------------------------------------------------------------------------------------
    def on_epoch_begin(self, epoch: int, logs: Optional[dict] = None) -> None:
        self._current_epoch = epoch

    def on_epoch_end(self, epoch: int, logs: Optional[dict] = None) -> None:
        self._current_epoch = epoch + 1
        if self.save_freq == "epoch":
            self._save_model(batch=None)

    def on_train_batch_end(self, batch: int, logs: Optional[dict] = None) -> None:
        if self.save_freq == "epoch":
            return
        self._batches_seen_since_last_saving += 1
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            self._save_model(batch=batch)

    def _save_model(self, batch: Optional[int]) -> None:
        from . import distributed
        if not distributed._writes():  # data-parallel: rank 0 writes, every rank restores
            return
        os.makedirs(self.backup_dir, exist_ok=True)
        try:
            previous = self._read_metadata()
        except ValueError:  # an unreadable older backup is simply replaced
            previous = None
        self._generation += 1
        name = f"backup-{self._generation}.nncore"
        self.model.save(os.path.join(self.backup_dir, name))  # atomic, with the optimizer state
        state = {"epoch": self._current_epoch, "batch": batch, "file": name, "generation": self._generation,
                 "previous": None}
        if self.double_checkpoint and previous is not None:
            previous.pop("previous", None)
            state["previous"] = previous
        # The metadata names its file, so a kill between the two writes leaves a consistent older backup.
        _write_atomically(self._metadata_path, json.dumps(state))
        keep = {name} | ({state["previous"]["file"]} if state["previous"] else set())
        for f in os.listdir(self.backup_dir):
            if self._owns(f) and f not in keep and f != self._METADATA:  # older backups, temporaries of a kill
                os.remove(os.path.join(self.backup_dir, f))

    def _owns(self, name: str) -> bool:
        """Whether a file of backup_dir is one this callback writes (or a temporary left by a killed write)."""
        return name.startswith("backup-") or name.startswith(self._METADATA)

    def on_train_end(self, logs: Optional[dict] = None) -> None:
        from . import distributed
        if not self.delete_checkpoint or not os.path.isdir(self.backup_dir) or not distributed._writes():
            return
        # Only what this callback wrote; the directory goes when that leaves it empty.
        for f in os.listdir(self.backup_dir):
            if self._owns(f):
                os.remove(os.path.join(self.backup_dir, f))
        try:
            os.rmdir(self.backup_dir)
        except OSError:
            pass


def _restore_optimizer_state(model: Any, path: str) -> None:
    """The optimizer's slots and iteration count from the model file ``path`` into ``model``'s optimizer."""
    from . import _core
    _core.load_optimizer_state(model._impl, path)


# ---------------------------------------------------------------------------------------------------- TensorBoard
_WRITER_IDS = itertools.count()


def _summary_writer_class() -> Any:
    try:
        from tensorboardX import SummaryWriter
    except ImportError as e:
        raise ImportError("The TensorBoard callback writes its event files with tensorboardX, which is not installed: "
                          "pip install nncore[tensorboard]  (or: pip install tensorboardX)") from e
    return SummaryWriter


def _keras_model_json(model: Any) -> Optional[str]:
    """The model's architecture in Keras 3's JSON (``model.to_json()`` of Keras), which TensorBoard's graph tab
    draws as a conceptual graph; None when the model has no config (an unbuilt subclassed model)."""
    try:
        config = model.get_config()
    except Exception:  # noqa: BLE001 - an exception must not break training, as in Keras
        return None

    def keras_tensor(ref: Sequence[Any]) -> dict:
        return {"class_name": "__keras_tensor__", "config": {"dtype": "float32", "keras_history": list(ref[:3])}}

    def layer_json(spec: dict) -> dict:
        cfg = spec.get("config", {})
        if isinstance(cfg, dict) and "layers" in cfg:  # a nested model
            return model_json(cfg)
        cfg = dict(cfg)
        cfg.setdefault("dtype", "float32")
        return {"class_name": spec.get("class_name"), "name": cfg.get("name"), "config": cfg}

    def model_json(c: dict) -> dict:
        name = c.get("name", "model")
        layers = [layer_json(s) for s in c.get("layers", [])]
        if c.get("class_name") == "Sequential":
            if c.get("input_shape") is not None:
                layers.insert(0, {"class_name": "InputLayer", "name": f"{name}_input", "config": {
                    "name": f"{name}_input", "batch_shape": [None, *c["input_shape"]], "dtype": "float32"}})
            return {"class_name": "Sequential", "name": name, "config": {"name": name, "layers": layers}}
        inputs = [{"class_name": "InputLayer", "name": i["name"], "inbound_nodes": [],
                   "config": {"name": i["name"], "batch_shape": [None, *i.get("shape", [])], "dtype": "float32"}}
                  for i in c.get("inputs", [])]
        by_name = {layer["name"]: layer for layer in layers}
        for layer in layers:
            layer["inbound_nodes"] = []
        for node in c.get("nodes", []):
            layer = by_name.get(node.get("layer"))
            if layer is None:
                continue
            args = [keras_tensor(r) for r in node.get("inbound", [])]
            layer["inbound_nodes"].append({"args": [args if len(args) > 1 else args[0]] if args else [], "kwargs": {}})
        return {"class_name": "Functional", "name": name, "config": {
            "name": name, "layers": inputs + layers, "input_layers": [[i["name"], 0, 0] for i in c.get("inputs", [])],
            "output_layers": [list(r[:3]) for r in c.get("outputs", [])]}}

    if not isinstance(config, dict) or config.get("class_name") not in ("Sequential", "Functional"):
        return None  # as Keras: only Sequential and functional models are drawn
    try:
        return json.dumps(model_json(config))
    except Exception:  # noqa: BLE001
        return None


class TensorBoard(Callback):
    """Write event files that TensorBoard opens (``tensorboard --logdir <log_dir>``), with Keras's runs and tags:

    - ``<log_dir>/train``: ``epoch_<metric>`` (``epoch_loss``, ``epoch_accuracy``, ...) and
      ``epoch_learning_rate`` after every epoch, the step being the epoch (from 0); with ``update_freq="batch"`` or
      an int N, ``batch_<metric>`` every N batches, the step counting batches from 1 across epochs;
      ``write_steps_per_second`` adds ``epoch_steps_per_second`` (and ``batch_steps_per_second``);
      ``histogram_freq`` > 0: a histogram ``<layer>/<weight>/histogram`` of every weight every that many epochs,
      and with ``write_images`` the weights as images; ``write_graph``: the architecture (tag ``keras``) for the
      graph tab;
    - ``<log_dir>/validation``: ``epoch_<metric>`` of the ``val_`` values and ``evaluation_<metric>_vs_iterations``
      after each validation or ``evaluate`` (the step being the optimizer's iteration count).

    Needs the optional extra: ``pip install nncore[tensorboard]`` (tensorboardX). ``profile_batch`` and
    ``embeddings_freq`` are accepted only as 0: nncore has no profiler trace nor TensorFlow embedding
    checkpoints for the projector.

    Example:
        >>> tb = nncore.callbacks.TensorBoard(log_dir="logs/run1", histogram_freq=1)
        >>> model.fit(x, y, epochs=5, validation_split=0.2, callbacks=[tb])
    """

    def __init__(self, log_dir: Union[str, "os.PathLike[str]"] = "logs", histogram_freq: int = 0,
                 write_graph: bool = True, write_images: bool = False, write_steps_per_second: bool = False,
                 update_freq: Union[str, int] = "epoch", profile_batch: Union[int, str, Sequence[int]] = 0,
                 embeddings_freq: int = 0, embeddings_metadata: Optional[Union[str, dict]] = None) -> None:
        super().__init__()
        if log_dir is None or not os.fspath(log_dir):
            raise ValueError("TensorBoard: log_dir must be a directory path, got an empty one")
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = _non_negative_int(histogram_freq, "TensorBoard: histogram_freq")
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch" and (isinstance(update_freq, bool) or not isinstance(update_freq, (int, np.integer))
                                       or update_freq < 1):
            raise ValueError(f"TensorBoard: update_freq must be 'epoch', 'batch' or a number of batches >= 1, got "
                             f"{update_freq!r}")
        self.update_freq = update_freq if update_freq == "epoch" else int(update_freq)
        self.write_graph = bool(write_graph)
        self.write_images = bool(write_images)
        self.write_steps_per_second = bool(write_steps_per_second)
        if _profile_range(profile_batch) != (0, 0):
            raise ValueError("TensorBoard: profiling is not available in nncore (it has no profiler trace for "
                             f"TensorBoard's profile tab); expected profile_batch=0, received "
                             f"profile_batch={profile_batch!r}")
        self.profile_batch = profile_batch
        self.embeddings_freq = _non_negative_int(embeddings_freq, "TensorBoard: embeddings_freq")
        if self.embeddings_freq:
            raise ValueError("TensorBoard: embeddings are not available in nncore (the projector reads TensorFlow "
                             f"checkpoints); expected embeddings_freq=0, received embeddings_freq={embeddings_freq}")
        self.embeddings_metadata = embeddings_metadata
        self._SummaryWriter = _summary_writer_class()
        self._train_dir = os.path.join(self.log_dir, "train")
        self._val_dir = os.path.join(self.log_dir, "validation")
        self._writers: Dict[str, Any] = {}
        self._global_train_batch = 0
        self._previous_epoch_iterations = 0
        self._epoch_start_time = 0.0
        self._batch_start_time = 0.0
        self._should_write_graph = False
        self._in_fit = False

    def _implements(self, hook: str) -> bool:
        if hook in ("on_train_batch_begin", "on_train_batch_end") and \
                not self._overrides(hook, *_ALIASES[hook], below=TensorBoard):
            return self.update_freq != "epoch"  # batch scalars only; "epoch" costs nothing per batch
        return super()._implements(hook)

    def set_model(self, model: Any) -> None:
        self._close_writers()
        self.model = model
        self._should_write_graph = self.write_graph

    def _writer(self, which: str) -> Any:
        """The run's writer, made on first use so that no empty event file is written."""
        if which not in self._writers:
            # A name of its own per writer (time.host.pid.counter, as TensorFlow names them): two writers opened in
            # the same second, by consecutive fits, must not overwrite each other's file.
            suffix = f".{os.getpid()}.{next(_WRITER_IDS)}.v2"
            self._writers[which] = self._SummaryWriter(logdir=self._train_dir if which == "train" else self._val_dir,
                                                       flush_secs=5, filename_suffix=suffix)
        return self._writers[which]

    def _close_writers(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    def on_train_begin(self, logs: Optional[dict] = None) -> None:
        self._in_fit = True
        self._global_train_batch = 0
        self._previous_epoch_iterations = 0
        if self._should_write_graph:
            self._write_keras_model_summary()
            self._should_write_graph = False

    def on_train_end(self, logs: Optional[dict] = None) -> None:
        self._in_fit = False
        self._close_writers()

    def on_train_batch_begin(self, batch: int, logs: Optional[dict] = None) -> None:
        self._global_train_batch += 1
        if self.write_steps_per_second:
            self._batch_start_time = time.time()

    def on_train_batch_end(self, batch: int, logs: Optional[dict] = None) -> None:
        if self.update_freq == "epoch" or self._global_train_batch % self.update_freq:
            return
        writer = self._writer("train")
        step = self._global_train_batch
        if self.write_steps_per_second:
            elapsed = max(time.time() - self._batch_start_time, 1e-9)
            writer.add_scalar("batch_steps_per_second", 1.0 / elapsed, step)
        for name, value in (logs or {}).items():
            value = _as_number(value)
            if value is not None:
                writer.add_scalar("batch_" + name, value, step)

    def on_epoch_begin(self, epoch: int, logs: Optional[dict] = None) -> None:
        if self.write_steps_per_second:
            self._previous_epoch_iterations = self._iterations()
            self._epoch_start_time = time.time()

    def on_epoch_end(self, epoch: int, logs: Optional[dict] = None) -> None:
        self._log_epoch_metrics(epoch, logs or {})
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._log_weights(epoch)
        for writer in self._writers.values():
            writer.flush()  # TensorBoard shows the epoch while training goes on

    def on_test_end(self, logs: Optional[dict] = None) -> None:
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is None or not hasattr(optimizer, "iterations"):
            return
        writer = self._writer("val")
        for name, value in (logs or {}).items():
            value = _as_number(value)
            if value is not None:
                writer.add_scalar(f"evaluation_{name}_vs_iterations", value, int(optimizer.iterations))
        if not self._in_fit:  # a plain evaluate: nothing follows, so the file is complete now
            self._close_writers()

    def _iterations(self) -> int:
        optimizer = getattr(self.model, "optimizer", None)
        return int(optimizer.iterations) if optimizer is not None else 0

    def _log_epoch_metrics(self, epoch: int, logs: dict) -> None:
        if not logs:
            return
        train_logs = {k: v for k, v in logs.items() if not k.startswith("val_")}
        val_logs = {k[len("val_"):]: v for k, v in logs.items() if k.startswith("val_")}
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None and hasattr(optimizer, "learning_rate"):
            train_logs["learning_rate"] = float(optimizer.learning_rate)
        if self.write_steps_per_second:
            elapsed = max(time.time() - self._epoch_start_time, 1e-9)
            train_logs["steps_per_second"] = (self._iterations() - self._previous_epoch_iterations) / elapsed
        for which, values in (("train", train_logs), ("val", val_logs)):
            if not values:
                continue
            writer = self._writer(which)
            for name, value in values.items():
                value = _as_number(value)
                if value is not None:
                    writer.add_scalar("epoch_" + name, value, epoch)

    def _log_weights(self, epoch: int) -> None:
        impl = getattr(self.model, "_impl", None)
        if impl is None:
            return
        writer = self._writer("train")
        for name, weight in zip(impl.weight_names, self.model.get_weights()):
            writer.add_histogram(f"{name}/histogram", np.asarray(weight, dtype=np.float32), epoch)
            if self.write_images:
                image = _weight_as_image(np.asarray(weight, dtype=np.float32))
                if image is not None:
                    writer.add_images(f"{name}/image", image, epoch, dataformats="NHWC")
        writer.flush()

    def _write_keras_model_summary(self) -> None:
        """The architecture as Keras's "keras" summary (plugin graph_keras_model) at step 0, which TensorBoard's
        graph tab draws."""
        text = _keras_model_json(self.model)
        if text is None:
            return
        from tensorboardX.proto.summary_pb2 import Summary, SummaryMetadata
        from tensorboardX.proto.tensor_pb2 import TensorProto
        from tensorboardX.proto.tensor_shape_pb2 import TensorShapeProto
        from tensorboardX.proto.types_pb2 import DT_STRING
        metadata = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="graph_keras_model",
                                                                          content=b"1"))
        tensor = TensorProto(dtype=DT_STRING, string_val=[text.encode("utf-8")], tensor_shape=TensorShapeProto())
        summary = Summary(value=[Summary.Value(tag="keras", metadata=metadata, tensor=tensor)])
        self._writer("train")._get_file_writer().add_summary(summary, 0)


def _profile_range(profile_batch: Any) -> Tuple[int, int]:
    """Keras's profile_batch forms: an int, "start,stop" or a pair; checked as Keras checks them."""
    message = ("TensorBoard: profile_batch must be a non-negative integer or 2-tuple of positive integers. A pair of "
               f"positive integers signifies a range of batches to profile. Found: {profile_batch!r}")
    value = profile_batch
    if isinstance(value, str):
        try:
            value = [int(v) for v in value.split(",")]
        except ValueError:
            raise ValueError(message) from None
        value = value[0] if len(value) == 1 else value
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        start = stop = int(value)
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value):
        start, stop = int(value[0]), int(value[1])
    else:
        raise ValueError(message)
    if start < 0 or stop < start:
        raise ValueError(message)
    return start, stop


def _weight_as_image(w: np.ndarray) -> Optional[np.ndarray]:
    """A weight as a batch of NHWC images, as Keras's TensorBoard draws it: a bias as a column, a Dense kernel as
    one image (wider than tall), a 3-D kernel (after squeezing) as one image per output channel."""
    w = np.squeeze(w)
    if w.ndim == 1:
        w = w.reshape(1, w.shape[0], 1, 1)
    elif w.ndim == 2:
        if w.shape[0] > w.shape[1]:
            w = w.T
        w = w.reshape(1, w.shape[0], w.shape[1], 1)
    elif w.ndim == 3:
        w = np.transpose(w, (2, 0, 1))
        w = w.reshape(w.shape[0], w.shape[1], w.shape[2], 1)
    if w.ndim == 4 and w.shape[-1] in (1, 3, 4):
        return np.ascontiguousarray(w)
    return None


# ---------------------------------------------------------------------------------------------------- RemoteMonitor
def _check_url(root: str, path: str) -> None:
    """Keras's checks of the target before any request: http(s) only, and ``path`` may not change the host."""
    parsed = urllib.parse.urlparse(root)
    if parsed.scheme not in ("http", "https"):
        raise ValueError(f"RemoteMonitor: invalid URL scheme '{parsed.scheme}' in root={root!r}; only 'http' and "
                         "'https' are allowed")
    full = urllib.parse.urlparse(root + path)
    if not full.hostname:
        raise ValueError(f"RemoteMonitor: root + path must contain a valid hostname, got {root + path!r}")
    if full.hostname != parsed.hostname:
        raise ValueError(f"RemoteMonitor: host injection detected: root + path has the host '{full.hostname}', "
                         f"root has '{parsed.hostname}'; path must not contain '@', a scheme or another authority")


class RemoteMonitor(Callback):
    """Send each epoch's logs to a server: an HTTP POST to ``root + path`` of ``{"epoch": e, **logs}`` as JSON,
    in the form field ``field`` or (``send_as_json``) as the body with ``Content-Type: application/json``. An
    unreachable server is warned about; training goes on. Uses only the standard library (Keras needs requests).

    Example:
        >>> monitor = nncore.callbacks.RemoteMonitor(root="http://localhost:9000")
        >>> model.fit(x, y, epochs=10, callbacks=[monitor])
    """

    def __init__(self, root: str = "http://localhost:9000", path: str = "/publish/epoch/end/", field: str = "data",
                 headers: Optional[Dict[str, str]] = None, send_as_json: bool = False) -> None:
        super().__init__()
        if not isinstance(root, str) or not isinstance(path, str):
            raise TypeError(f"RemoteMonitor: root and path must be strings, got {type(root).__name__} and "
                            f"{type(path).__name__}")
        _check_url(root, path)
        if headers is not None and not isinstance(headers, dict):
            raise TypeError(f"RemoteMonitor: headers must be a dict or None, got {type(headers).__name__}")
        self.root = root
        self.path = path
        self.field = field
        self.headers = headers
        self.send_as_json = bool(send_as_json)

    def on_epoch_end(self, epoch: int, logs: Optional[dict] = None) -> None:
        send: Dict[str, Any] = {"epoch": epoch}
        for k, v in (logs or {}).items():
            send[k] = v.item() if isinstance(v, (np.ndarray, np.generic)) else v
        hostname = urllib.parse.urlparse(self.root).hostname
        headers = dict(self.headers or {})
        if self.send_as_json:
            body = json.dumps(send).encode("utf-8")
            headers.setdefault("Content-Type", "application/json")
        else:
            body = urllib.parse.urlencode({self.field: json.dumps(send)}).encode("utf-8")
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        try:
            _check_resolved_address(hostname)
            request = urllib.request.Request(self.root + self.path, data=body, headers=headers, method="POST")
            with urllib.request.urlopen(request, timeout=10):
                pass
        except (OSError, urllib.error.URLError) as e:
            warnings.warn(f"Could not reach RemoteMonitor root server at {self.root} ({e})", stacklevel=2)


def _check_resolved_address(hostname: str) -> None:
    """Refuse link-local targets (cloud metadata services), resolved at request time as Keras does."""
    for info in socket.getaddrinfo(hostname, None):
        try:
            ip = ipaddress.ip_address(info[4][0])
        except ValueError:
            continue
        if ip.is_link_local:
            raise ValueError(f"RemoteMonitor: requests to link-local addresses are not allowed: '{ip}' resolved "
                             f"from '{hostname}'")


# Under data-parallel training these write files and nothing else: rank 0 runs them (nncore.distributed).
_RANK0_ONLY = (ModelCheckpoint, CSVLogger, TensorBoard, RemoteMonitor)
