"""fit / evaluate / predict on batches that are not one array: PyDataset (with worker threads), generators,
iterables with a length; the C++ loop pulls them from a background thread."""
import threading

import numpy as np
import pytest

import nncore
from nncore import layers
from nncore.utils import PyDataset

from graph_helpers import seeded  # noqa: F401  (autouse fixture)


def data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = (x[:, :1] - 2 * x[:, 1:2] + 0.5).astype(np.float32)
    return x, y


def model():
    inp = nncore.Input((4,))
    m = nncore.Model(inp, layers.Dense(1)(layers.Dense(8, activation="tanh")(inp)))
    m.compile(nncore.optimizers.SGD(0.05), "mse")
    return m


class Batches(PyDataset):
    def __init__(self, x, y, batch_size, weights=None, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.batch_size, self.weights = x, y, batch_size, weights
        self.epochs_ended = 0
        self.threads = set()

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, i):
        self.threads.add(threading.get_ident())
        s = slice(i * self.batch_size, (i + 1) * self.batch_size)
        if self.weights is None:
            return self.x[s], self.y[s]
        return self.x[s], self.y[s], self.weights[s]

    def on_epoch_end(self):
        self.epochs_ended += 1


@pytest.mark.parametrize("workers", [1, 3])
def test_pydataset_trains_exactly_like_the_arrays(workers):
    x, y = data()
    a, b = model(), model()
    b.set_weights(a.get_weights())
    ha = a.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    ds = Batches(x, y, 16, workers=workers, max_queue_size=2)
    hb = b.fit(ds, epochs=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(hb.history["loss"], ha.history["loss"], rtol=1e-6)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert ds.epochs_ended == 3
    assert threading.get_ident() not in ds.threads  # fetched off the main thread
    np.testing.assert_allclose(b.evaluate(ds, verbose=0), a.evaluate(x, y, verbose=0), rtol=1e-6)
    np.testing.assert_array_equal(b.predict(ds), a.predict(x, verbose=0))


def test_pydataset_shuffles_batch_order_and_weights_apply():
    x, y = data()
    w = np.linspace(0.5, 1.5, len(x)).astype(np.float32)
    m = model()
    h = m.fit(Batches(x, y, 16, weights=w), epochs=5, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]
    a = model()
    a.set_weights(m.get_weights())
    np.testing.assert_allclose(m.evaluate(Batches(x, y, 32, weights=w), verbose=0),
                               a.evaluate(x, y, sample_weight=w, batch_size=32, verbose=0), rtol=1e-5)


def test_generator_with_steps_per_epoch_and_validation():
    x, y = data()

    def forever():
        while True:
            for i in range(0, len(x), 16):
                yield x[i:i + 16], y[i:i + 16]

    m = model()
    h = m.fit(forever(), steps_per_epoch=6, epochs=4, validation_data=(x, y), verbose=0)
    assert len(h.history["loss"]) == 4 and len(h.history["val_loss"]) == 4
    assert h.history["val_loss"][-1] < h.history["val_loss"][0]
    # A finite generator without steps: one pass, then the data is exhausted and training stops (as Keras).
    g = ((x[i:i + 32], y[i:i + 32]) for i in range(0, len(x), 32))
    h = m.fit(g, epochs=3, verbose=0)
    assert len(h.history["loss"]) == 1
    # predict on a generator of inputs, evaluate on a list (an iterable with a length)
    preds = m.predict((x[i:i + 10] for i in range(0, len(x), 10)))
    np.testing.assert_allclose(preds, m.predict(x, verbose=0), rtol=1e-6)
    batches = [(x[i:i + 40], y[i:i + 40]) for i in range(0, len(x), 40)]
    np.testing.assert_allclose(m.evaluate(iter(batches), verbose=0), m.evaluate(x, y, verbose=0), rtol=1e-6)


def test_variable_length_batches_from_a_generator():
    ids = nncore.Input((None,), dtype="int32")
    h = layers.Embedding(20, 8)(ids)
    out = layers.Dense(1, activation="sigmoid")(layers.GlobalMaxPooling1D()(layers.Conv1D(8, 3, padding="same")(h)))
    m = nncore.Model(ids, out)
    m.compile("adam", "binary_crossentropy")
    rng = np.random.default_rng(1)

    def buckets():  # each batch its own length, as a bucketing pipeline gives
        for length in (5, 9, 14, 7) * 4:
            x = rng.integers(1, 20, size=(16, length)).astype(np.int32)
            yield x, (x == 7).any(1).astype(np.float32)

    hist = m.fit(buckets(), epochs=1, verbose=0)
    assert np.isfinite(hist.history["loss"][0])


def test_bad_batches_say_which_and_keep_the_weights():
    x, y = data()

    def broken():
        yield x[:16], y[:16]
        yield x[16:32], y[16:32, :0]  # wrong target shape

    m = model()
    with pytest.raises(ValueError, match="fit: batch 1 y"):
        m.fit(broken(), epochs=1, verbose=0)

    def raising():
        yield x[:16], y[:16]
        raise RuntimeError("disk gone")

    before = m.get_weights()
    with pytest.raises(RuntimeError, match="disk gone") as info:
        m.fit(raising(), epochs=1, verbose=0)
    assert any("batch 1" in n for n in getattr(info.value, "__notes__", []))
    assert not all(np.array_equal(a, b) for a, b in zip(before, m.get_weights()))  # batch 0 was applied
    # Keras ignores batch_size when the data makes the batches (the training guide passes one with a PyDataset).
    steps = []
    cb = nncore.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: steps.append(b))
    m.fit(Batches(x, y, 16), batch_size=8, epochs=1, verbose=0, callbacks=[cb])
    assert len(steps) == len(Batches(x, y, 16))
    with pytest.raises(ValueError, match="y cannot be given"):
        m.fit(Batches(x, y, 16), y, verbose=0)
    with pytest.raises(ValueError, match="use_multiprocessing"):
        Batches(x, y, 16, use_multiprocessing=True)
