"""Callbacks with Keras's hooks, called from the C++ training loop.

Per-batch hooks are only wired when a callback overrides ``on_batch_end`` / ``on_train_batch_end``, so a fit
without them runs no Python per step. Callbacks run in the order given and all share one logs dict, before the
History that ``fit`` returns, so a key a callback adds at epoch end (``learning_rate``) lands in the history;
a ``CSVLogger`` logs it only when placed after the callback that adds it (as in Keras).

Example:
    >>> class Stop(nncore.callbacks.Callback):
    ...     def on_epoch_end(self, epoch, logs=None):
    ...         if logs["loss"] < 0.1:
    ...             self.model.stop_training = True
"""
from __future__ import annotations

import csv
import inspect
import math
import os
import warnings
from typing import IO, Any, Callable, Dict, List, Optional, Union

import numpy as np

__all__ = ["Callback", "History", "LambdaCallback", "EarlyStopping", "ModelCheckpoint", "CSVLogger",
           "TerminateOnNaN", "LearningRateScheduler", "ReduceLROnPlateau"]


class Callback:
    """Base class: override any of the hooks below."""

    def __init__(self) -> None:
        self.model: Any = None
        self.params: Dict[str, Any] = {}

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: Dict[str, Any]) -> None:
        self.params = params

    def on_train_begin(self, logs: Optional[dict] = None) -> None: ...
    def on_train_end(self, logs: Optional[dict] = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: Optional[dict] = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: Optional[dict] = None) -> None: ...
    def on_batch_begin(self, batch: int, logs: Optional[dict] = None) -> None: ...
    def on_batch_end(self, batch: int, logs: Optional[dict] = None) -> None: ...
    def on_train_batch_begin(self, batch: int, logs: Optional[dict] = None) -> None: ...
    def on_train_batch_end(self, batch: int, logs: Optional[dict] = None) -> None: ...
    # evaluate (and the validation after each epoch of fit) and predict:
    def on_test_begin(self, logs: Optional[dict] = None) -> None: ...
    def on_test_end(self, logs: Optional[dict] = None) -> None: ...
    def on_test_batch_begin(self, batch: int, logs: Optional[dict] = None) -> None: ...
    def on_test_batch_end(self, batch: int, logs: Optional[dict] = None) -> None: ...
    def on_predict_begin(self, logs: Optional[dict] = None) -> None: ...
    def on_predict_end(self, logs: Optional[dict] = None) -> None: ...
    def on_predict_batch_begin(self, batch: int, logs: Optional[dict] = None) -> None: ...
    def on_predict_batch_end(self, batch: int, logs: Optional[dict] = None) -> None: ...

    def _overrides(self, *names: str) -> bool:
        """Whether this callback defines any of the hooks (the C++ loop calls per-batch hooks only then)."""
        cls = type(self)
        return any(getattr(cls, n) is not getattr(Callback, n) for n in names)

    def _wants_batches(self) -> bool:
        return self._overrides("on_batch_end", "on_train_batch_end")


class History(Callback):
    """What ``fit`` returns: ``history.history`` maps each metric to its per-epoch values."""

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


class LambdaCallback(Callback):
    """A callback from plain functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``."""

    def __init__(self, on_epoch_begin: Optional[Callable] = None, on_epoch_end: Optional[Callable] = None,
                 on_batch_end: Optional[Callable] = None, on_train_begin: Optional[Callable] = None,
                 on_train_end: Optional[Callable] = None) -> None:
        super().__init__()
        if on_epoch_begin is not None:
            self.on_epoch_begin = on_epoch_begin  # type: ignore[method-assign]
        if on_epoch_end is not None:
            self.on_epoch_end = on_epoch_end  # type: ignore[method-assign]
        if on_train_begin is not None:
            self.on_train_begin = on_train_begin  # type: ignore[method-assign]
        if on_train_end is not None:
            self.on_train_end = on_train_end  # type: ignore[method-assign]
        self._batch_fn = on_batch_end

    def on_batch_end(self, batch: int, logs: Optional[dict] = None) -> None:
        if self._batch_fn is not None:
            self._batch_fn(batch, logs)

    def _wants_batches(self) -> bool:
        return self._batch_fn is not None


def _higher_is_better(monitor: str, mode: str, who: str) -> bool:
    """'max' or 'min' as given; 'auto' maximises accuracies and AUCs and minimises the rest (losses, mse, mae)."""
    if mode not in ("auto", "min", "max"):
        warnings.warn(f"{who} mode {mode} is unknown, fallback to auto mode.", stacklevel=3)
        mode = "auto"
    if mode == "auto":
        name = monitor[len("val_"):] if monitor.startswith("val_") else monitor
        return "acc" in name or "auc" in name
    return mode == "max"


def _warn_missing(what: str, monitor: str, logs: dict) -> None:
    warnings.warn(f"{what} conditioned on metric `{monitor}` which is not available. "
                  f"Available metrics are: {','.join(logs.keys())}", stacklevel=3)


class EarlyStopping(Callback):
    """Stop training when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    With ``restore_best_weights`` the weights of the best epoch are put back at the end of training, whether
    training stopped early or ran all its epochs (Keras 3).

    Example:
        >>> stop = nncore.callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
        >>> model.fit(x, y, epochs=100, validation_split=0.2, callbacks=[stop])
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0, patience: int = 0, verbose: int = 0,
                 mode: str = "auto", baseline: Optional[float] = None, restore_best_weights: bool = False,
                 start_from_epoch: int = 0) -> None:
        super().__init__()
        if patience < 0:
            raise ValueError(f"EarlyStopping: patience must be >= 0, got {patience}")
        self.monitor = monitor
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.higher_is_better = _higher_is_better(monitor, mode, "EarlyStopping")
        self.mode = "max" if self.higher_is_better else "min"
        # Signed so that "current - min_delta beats best" is the test in both directions, as Keras does.
        self.min_delta = abs(min_delta) if self.higher_is_better else -abs(min_delta)
        self.wait = 0
        self.stopped_epoch = 0
        self.best: float = -math.inf if self.higher_is_better else math.inf
        self.best_weights: Optional[list] = None
        self.best_epoch = 0

    def on_train_begin(self, logs: Optional[dict] = None) -> None:
        # Reset so one instance can serve several fits.
        self.wait = 0
        self.stopped_epoch = 0
        self.best = -math.inf if self.higher_is_better else math.inf
        self.best_weights = None
        self.best_epoch = 0

    def _is_improvement(self, value: float, reference: float) -> bool:
        value -= self.min_delta
        return value > reference if self.higher_is_better else value < reference

    def on_epoch_end(self, epoch: int, logs: Optional[dict] = None) -> None:
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


class ModelCheckpoint(Callback):
    """Save the model (or its weights) during training, atomically: a crash or a kill never leaves a half-written
    file at ``filepath`` (each save writes a temporary file, then renames it over the target).

    ``filepath`` may hold Keras-style fields filled from the epoch (counted from 1) and the logs, e.g.
    ``"ckpt-{epoch:02d}-{val_loss:.3f}.nncore"``. With ``save_best_only`` a save happens only when ``monitor``
    improves on the best value seen (``mode``: 'auto', 'min' or 'max'; ``initial_value_threshold`` sets the value
    to beat first); an unknown monitor is warned about and that epoch is not saved, as in Keras. ``save_freq``
    is ``"epoch"`` or a number of batches.

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
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1):
            raise ValueError(f"ModelCheckpoint: save_freq must be 'epoch' or a number of batches >= 1, got {save_freq!r}")
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = bool(save_best_only)
        self.save_weights_only = bool(save_weights_only)
        self.save_freq = save_freq
        self.higher_is_better = _higher_is_better(monitor, mode, "ModelCheckpoint")
        self.mode = "max" if self.higher_is_better else "min"
        self.initial_value_threshold = initial_value_threshold
        self.best: float = self._initial_best()
        self._epoch = 0
        self._batches_seen = 0

    def _initial_best(self) -> float:
        if self.initial_value_threshold is not None:
            return float(self.initial_value_threshold)
        return -math.inf if self.higher_is_better else math.inf

    def _wants_batches(self) -> bool:
        return self.save_freq != "epoch"

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
            improved = current > self.best if self.higher_is_better else current < self.best
            if not improved:
                if self.verbose > 0:
                    print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}")
                return
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to {current:.5f}, "
                      f"saving model to {path}")
            self.best = float(current)
        elif self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: saving model to {path}")
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)


class CSVLogger(Callback):
    """Write one CSV row per epoch: ``epoch`` and then the logs' keys in sorted order, under a header.

    Example:
        >>> model.fit(x, y, epochs=10, callbacks=[nncore.callbacks.CSVLogger("training.log")])
    """

    def __init__(self, filename: Union[str, "os.PathLike[str]"], separator: str = ",", append: bool = False) -> None:
        super().__init__()
        self.filename = os.fspath(filename)
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
        row.update((k, logs.get(k, "NA")) for k in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs: Optional[dict] = None) -> None:
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch's loss is NaN or infinite.

    Example:
        >>> model.fit(x, y, epochs=10, callbacks=[nncore.callbacks.TerminateOnNaN()])
    """

    def on_batch_end(self, batch: int, logs: Optional[dict] = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
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
    """Set the learning rate at the start of each epoch to ``schedule(epoch, lr)`` (or ``schedule(epoch)``).

    Example:
        >>> def schedule(epoch, lr):
        ...     return lr if epoch < 10 else lr * 0.9
        >>> model.fit(x, y, epochs=15, callbacks=[nncore.callbacks.LearningRateScheduler(schedule)])
    """

    def __init__(self, schedule: Callable, verbose: int = 0) -> None:
        super().__init__()
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


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` once ``monitor`` has not improved for ``patience`` epochs.

    After a reduction, ``cooldown`` epochs pass before improvement is watched again; the rate never goes below
    ``min_lr``.

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
        self.patience = patience
        self.verbose = verbose
        self.min_delta = min_delta
        self.cooldown = cooldown
        self.min_lr = min_lr
        self.higher_is_better = _higher_is_better(monitor, mode, "Learning rate reduction")
        self.mode = "max" if self.higher_is_better else "min"
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
