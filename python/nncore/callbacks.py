"""Callbacks with Keras's hooks, called from the C++ training loop.

Per-batch hooks are only wired when a callback overrides ``on_batch_end`` / ``on_train_batch_end``, so a fit
without them runs no Python per step.

Example:
    >>> class Stop(nncore.callbacks.Callback):
    ...     def on_epoch_end(self, epoch, logs=None):
    ...         if logs["loss"] < 0.1:
    ...             self.model.stop_training = True
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional

__all__ = ["Callback", "History", "LambdaCallback"]


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
    def on_batch_end(self, batch: int, logs: Optional[dict] = None) -> None: ...
    def on_train_batch_end(self, batch: int, logs: Optional[dict] = None) -> None: ...

    def _wants_batches(self) -> bool:
        cls = type(self)
        return (cls.on_batch_end is not Callback.on_batch_end
                or cls.on_train_batch_end is not Callback.on_train_batch_end)


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
