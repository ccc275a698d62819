"""Serving one model from many threads (issue 16): Python's predict runs on a per-thread InferenceSession (its own
buffers, the model's weights), so 8 threads predicting on one model get exactly the single-threaded answers; a
predict on another thread while fit trains raises a clear error (never reads weights mid-update), while fit's own
callbacks may predict; sessions follow changes of the model's graph. The C++ side: tests/test_cpp_example.py
(examples/cpp/serve.cpp)."""
import threading

import numpy as np
import pytest

import nncore
from nncore import layers as L


def models():
    nncore.set_random_seed(5)
    mlp = nncore.Sequential([L.Dense(64, activation="relu", input_shape=(30,)), L.Dropout(0.5), L.Dense(5)])
    cnn = nncore.Sequential([L.Conv2D(8, 3, activation="relu", input_shape=(12, 12, 3)), L.BatchNormalization(),
                             L.MaxPooling2D(), L.Flatten(), L.Dense(4, activation="softmax")])
    rnn = nncore.Sequential([L.LSTM(16, return_sequences=True, input_shape=(7, 5)), L.GRU(8), L.Dense(2)])
    a, b = nncore.Input((6,)), nncore.Input((4,))
    two = nncore.Model([a, b], [L.Dense(3)(L.Concatenate()([L.Dense(8, activation="tanh")(a), b])), L.Dense(2)(b)])
    return {"mlp": (mlp, [(30,)]), "cnn": (cnn, [(12, 12, 3)]), "rnn": (rnn, [(7, 5)]), "two": (two, [(6,), (4,)])}


@pytest.mark.parametrize("name", ["mlp", "cnn", "rnn", "two"])
def test_eight_threads_predict_exactly_the_single_threaded_answers(name):
    model, shapes = models()[name]
    rng = np.random.default_rng(0)
    batches = [1, 3, 8, 32]
    requests = [[rng.random((batches[i % 4], *s), dtype=np.float32) for s in shapes] for i in range(24)]
    call = (lambda r: model.predict(r if len(r) > 1 else r[0], verbose=0))
    expected = [call(r) for r in requests]
    failures, done = [], []

    def worker(k: int) -> None:
        for step in range(40):
            i = (k * 5 + step) % len(requests)
            got = call(requests[i])
            got, want = (got, expected[i]) if isinstance(got, list) else ([got], [expected[i]])
            if not all(np.array_equal(g, w) for g, w in zip(got, want)):
                failures.append((k, i))
        done.append(k)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(done) == list(range(8)) and not failures, failures[:5]


def test_predict_on_another_thread_during_fit_raises_and_callbacks_may_predict():
    model = nncore.Sequential([L.Dense(16, activation="relu", input_shape=(10,)), L.Dense(1)])
    model.compile("adam", "mse")
    rng = np.random.default_rng(1)
    x, y = rng.random((256, 10), dtype=np.float32), rng.random((256, 1), dtype=np.float32)
    model.predict(x[:4])  # built, with sessions on this thread
    started, release = threading.Event(), threading.Event()
    seen = {}

    class Gate(nncore.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen["in_callback"] = self.model.predict(x[:2], verbose=0)  # fit's own thread: allowed
            if epoch == 0:
                started.set()
                release.wait(30)

    fit = threading.Thread(target=lambda: model.fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[Gate()]))
    fit.start()
    assert started.wait(30)
    try:
        with pytest.raises(Exception, match=r"being trained .*another thread"):
            model.predict(x[:3])
    finally:
        release.set()
        fit.join(60)
    assert not fit.is_alive()
    assert seen["in_callback"].shape == (2, 1)
    np.testing.assert_array_equal(model.predict(x[:3]), model.predict_on_batch(x[:3]))  # free again after fit


def test_sessions_follow_a_changed_graph_and_new_weights():
    model = nncore.Sequential([L.Dense(4, input_shape=(3,))])
    x = np.ones((2, 3), np.float32)
    assert model.predict(x).shape == (2, 4)
    model.add(L.Dense(7))
    assert model.predict(x).shape == (2, 7)
    w = [np.full_like(v, 0.5) for v in model.get_weights()]
    model.set_weights(w)
    np.testing.assert_allclose(model.predict(x), np.full((2, 7), (0.5 * 3 + 0.5) * 4 * 0.5 + 0.5), rtol=1e-6)


def test_predict_on_batch_is_keras_and_equals_predict():
    model, _ = models()["cnn"]
    x = np.random.default_rng(2).random((5, 12, 12, 3), dtype=np.float32)
    np.testing.assert_array_equal(model.predict_on_batch(x), model.predict(x, verbose=0))
