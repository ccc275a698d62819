"""Data that is not one in-memory array: ``PyDataset`` (Keras's, and its old name ``Sequence``), Python generators
and iterators, and iterables with a length (a PyTorch DataLoader). ``_Feed`` hands their batches to the C++
training loop (``Model::fit(BatchSource&)``): a background thread fetches the next batches while the C++ step runs
with the GIL released, so loading and computing overlap."""
from __future__ import annotations

import collections
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Optional

import numpy as np

__all__ = ["PyDataset", "Sequence"]


class PyDataset:
    """Keras's PyDataset: subclass it with ``__len__`` (batches per epoch) and ``__getitem__(index)`` returning a
    batch ``(x, y)`` or ``(x, y, sample_weight)`` (``x`` alone for predict), and optionally ``on_epoch_end``.
    ``workers`` threads fetch batches ahead (up to ``max_queue_size``), in order.

        >>> class Batches(nncore.utils.PyDataset):
        ...     def __init__(self, x, y, batch_size, **kwargs):
        ...         super().__init__(**kwargs)
        ...         self.x, self.y, self.batch_size = x, y, batch_size
        ...     def __len__(self):
        ...         return -(-len(self.x) // self.batch_size)
        ...     def __getitem__(self, i):
        ...         s = slice(i * self.batch_size, (i + 1) * self.batch_size)
        ...         return self.x[s], self.y[s]
        >>> model.fit(Batches(x, y, 32, workers=2), epochs=3)
    """

    def __init__(self, workers: int = 1, use_multiprocessing: bool = False, max_queue_size: int = 10) -> None:
        if use_multiprocessing:
            raise ValueError("PyDataset: use_multiprocessing=True is not supported; nncore fetches batches on worker "
                             "threads (workers=N), which overlap with the C++ step (it releases the GIL)")
        if int(workers) < 1 or int(max_queue_size) < 1:
            raise ValueError(f"PyDataset: workers and max_queue_size must be >= 1, got {workers} and {max_queue_size}")
        self._workers = int(workers)
        self._use_multiprocessing = False
        self._max_queue_size = int(max_queue_size)

    @property
    def workers(self) -> int:
        return self.__dict__.get("_workers", 1)

    @property
    def use_multiprocessing(self) -> bool:
        return False

    @property
    def max_queue_size(self) -> int:
        return self.__dict__.get("_max_queue_size", 10)

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index) returning a batch")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__ (the number of batches)")

    @property
    def num_batches(self) -> Optional[int]:
        return len(self)

    def on_epoch_begin(self) -> None:
        pass

    def on_epoch_end(self) -> None:
        pass


Sequence = PyDataset  # Keras 2's name


def is_feed(x: Any) -> bool:
    """Whether fit/evaluate/predict's x is batches (a PyDataset, generator, iterator or other iterable) rather than
    arrays (numpy arrays, lists/tuples/dicts of them)."""
    if isinstance(x, (np.ndarray, list, tuple, dict, str, bytes)) or np.isscalar(x):
        return False
    return isinstance(x, PyDataset) or hasattr(x, "__next__") or hasattr(x, "__iter__")


_END = object()


class _Buffer:
    """A bounded FIFO between the fetching thread and the C++ loop. The fetcher sleeps until the buffer has drained
    to half, then refills it: one wake-up per half buffer rather than one per batch (each wake-up takes time from
    the compute threads, which use every core)."""

    def __init__(self, size: int) -> None:
        self.items: collections.deque = collections.deque()
        self.size = max(1, int(size))
        self.low = self.size // 2
        self.cond = threading.Condition()

    def put(self, item: Any, stop: threading.Event) -> bool:
        with self.cond:
            while len(self.items) >= self.size and not stop.is_set():
                self.cond.wait(0.1)
            if stop.is_set():
                return False
            self.items.append(item)
            if len(self.items) == 1:
                self.cond.notify_all()  # the consumer may be waiting on an empty buffer
            return True

    def get(self) -> Any:
        with self.cond:
            while not self.items:
                self.cond.wait()
            item = self.items.popleft()
            if len(self.items) <= self.low:
                self.cond.notify_all()
            return item

    def unget(self, item: Any) -> None:
        with self.cond:
            self.items.appendleft(item)


class _Failure:
    def __init__(self, exc: BaseException, index: int) -> None:
        self.exc, self.index = exc, index


class _Feed:
    """One source of batches for the C++ loop: ``steps`` (-1 unknown), ``begin_epoch(e)`` starts the fetching
    thread, ``next(step)`` returns ``(xs, ys, w)`` or None at the end, ``end_epoch(e)`` stops the thread."""

    def __init__(self, model: Any, data: Any, steps: Optional[int], what: str, with_targets: bool,
                 shuffle: bool = False, seed: int = 0) -> None:
        self.model, self.data, self.what, self.with_targets = model, data, what, with_targets
        self.shuffle, self.seed = shuffle, seed
        self.dataset = isinstance(data, PyDataset)
        self.iterator = None if self.dataset or not hasattr(data, "__next__") else data
        length = None
        if self.dataset:
            length = data.num_batches
        elif self.iterator is None and hasattr(data, "__len__"):
            length = len(data)
        if steps is not None:
            if int(steps) < 1:
                raise ValueError(f"{what}: steps must be >= 1, got {steps}")
            steps = int(steps) if length is None else min(int(steps), int(length))
        self.steps = int(steps) if steps is not None else (int(length) if length is not None else -1)
        self.queue_size = data.max_queue_size if self.dataset else 10
        self.workers = data.workers if self.dataset else 1
        self._queue: Optional[_Buffer] = None
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    # -- the producer ------------------------------------------------------------------------------------------
    def begin_epoch(self, epoch: int) -> None:
        self.end_epoch(-1)  # a previous epoch's thread, if the loop stopped early
        self._stop = threading.Event()
        self._queue = _Buffer(self.queue_size)
        if self.dataset:
            self.data.on_epoch_begin()
        self._thread = threading.Thread(target=self._produce, args=(epoch, self._queue, self._stop), daemon=True)
        self._thread.start()

    def _put(self, q: _Buffer, stop: threading.Event, item: Any) -> bool:
        return q.put(item, stop)

    def _produce(self, epoch: int, q: _Buffer, stop: threading.Event) -> None:
        index = 0
        try:
            if self.dataset:
                order = np.arange(self.steps)
                if self.shuffle:
                    order = np.random.default_rng([self.seed, epoch]).permutation(self.steps)
                if self.workers > 1:  # a sliding window of fetches on worker threads, consumed in order
                    window = self.workers * 2
                    with ThreadPoolExecutor(self.workers) as pool:
                        futures = [pool.submit(self.data.__getitem__, int(i)) for i in order[:window]]
                        for k in range(len(order)):
                            index = int(order[k])
                            item = futures[k].result()
                            if k + window < len(order):
                                futures.append(pool.submit(self.data.__getitem__, int(order[k + window])))
                            if not self._put(q, stop, self._convert(item, k)):
                                return
                else:
                    for k, i in enumerate(order):
                        index = int(i)
                        if not self._put(q, stop, self._convert(self.data[int(i)], k)):
                            return
            else:
                it = self.iterator if self.iterator is not None else iter(self.data)
                k = 0
                while self.steps < 0 or k < self.steps:
                    index = k
                    try:
                        item = next(it)
                    except StopIteration:
                        break
                    if not self._put(q, stop, self._convert(item, k)):
                        return
                    k += 1
            self._put(q, stop, _END)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            self._put(q, stop, _Failure(exc, index))

    def _convert(self, item: Any, k: int) -> tuple:
        what = f"{self.what}: batch {k}"
        if isinstance(item, dict) or not isinstance(item, (tuple, list)) or \
                (not self.with_targets and len(item) not in (1, 2, 3)):
            item = (item,)
        if len(item) not in (1, 2, 3):
            raise ValueError(f"{what}: expected a batch (x, y) or (x, y, sample_weight), got a sequence of "
                             f"{len(item)} items")
        x = item[0]
        xs = self.model._xs(x, f"{what} x")
        if not self.with_targets:
            return xs, [], None
        if len(item) < 2 or item[1] is None:
            ys = self.model._ys(self.model._no_targets(xs, self.what), f"{what} y")
        else:
            ys = self.model._ys(item[1], f"{what} y")
        w = None
        if len(item) == 3 and item[2] is not None:
            w = np.ascontiguousarray(np.asarray(item[2], np.float32).reshape(-1))
        return xs, ys, w

    # -- the consumer (called by the C++ loop, holding the GIL) ------------------------------------------------
    def next(self, step: int) -> Any:
        if self._queue is None:
            self.begin_epoch(0)
        item = self._queue.get()
        if item is _END:
            self._queue.unget(_END)  # a later call sees the end too
            return None
        if isinstance(item, _Failure):
            item.exc.add_note(f"(raised while {self.what} fetched batch {item.index} of the data; the weights of "
                              "the last completed step are kept)")
            raise item.exc
        return item

    def end_epoch(self, epoch: int) -> None:
        """Stops the fetching thread; epoch >= 0: an epoch that ran to its end (PyDataset.on_epoch_end runs)."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        if epoch >= 0 and self.dataset:
            self.data.on_epoch_end()
        self._queue = None

    def close(self) -> None:
        self.end_epoch(-1)


class ArrayBatches:
    """Arrays as an iterable of batches (validation data next to a generator)."""

    def __init__(self, x: Any, y: Any, batch_size: int, sample_weight: Any = None) -> None:
        self.x, self.y, self.batch_size, self.sample_weight = x, y, int(batch_size), sample_weight
        first = x
        while isinstance(first, (list, tuple)):
            first = first[0]
        if isinstance(first, dict):
            first = next(iter(first.values()))
        self.n = len(first)

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)

    def __iter__(self) -> Any:
        def take(v: Any, s: slice) -> Any:
            if v is None:
                return None
            if isinstance(v, dict):
                return {k: np.asarray(a)[s] for k, a in v.items()}
            if isinstance(v, (list, tuple)):
                return [np.asarray(a)[s] for a in v]
            return np.asarray(v)[s]
        for b in range(len(self)):
            s = slice(b * self.batch_size, (b + 1) * self.batch_size)
            yield take(self.x, s), take(self.y, s), take(self.sample_weight, s)
