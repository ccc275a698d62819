"""Dense kernels kept packed for inference (issue 16: cpp/src/layers/packed_kernel.hpp). A Dense layer packs its
kernel once for the small-M GEMM at its first inference of 64 to 256 rows (where the GEMM would otherwise copy it
a panel at a time on every call) and reads that copy at every later one, from every thread; it packs again only after the kernel changed (fit, train_on_batch, set_weights,
load_weights, a custom training loop's apply_gradients, a Variable's assign), and while a numpy view of the kernel
(``layer.weights``) is alive it reads the kernel itself, so that writes through the view are never missed. The
packed copy gives the same bits as the GEMM on the kernel (the training-mode forward, which never uses it)."""
import threading

import numpy as np
import pytest

import nncore
from nncore import layers as L


def mlp(seed: int = 3) -> nncore.Sequential:
    nncore.set_random_seed(seed)
    return nncore.Sequential([L.Dense(130, activation="relu", input_shape=(300,)), L.Dense(48, activation="tanh"),
                              L.Dense(10, activation="softmax")])


def data(n: int = 96, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 300)).astype(np.float32), rng.integers(0, 10, n)


def packs(model) -> list:
    return [layer._impl.inference_packs for layer in model.layers]


def unpacked(model, x: np.ndarray) -> np.ndarray:
    """The model's forward with the GEMM on each kernel itself: the training-mode forward (no dropout here)."""
    for layer in model.layers:
        x = layer.forward(x, training=True)
    return x


def float64(model, x: np.ndarray) -> np.ndarray:
    w = [v.astype(np.float64) for v in model.get_weights()]
    h = np.maximum(x @ w[0] + w[1], 0)
    h = np.tanh(h @ w[2] + w[3])
    z = h @ w[4] + w[5]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def check(model, x: np.ndarray) -> np.ndarray:
    got = model.predict_on_batch(x)
    np.testing.assert_array_equal(got, unpacked(model, x))
    np.testing.assert_allclose(got, float64(model, x), rtol=1e-4, atol=1e-6)
    return got


def test_predict_packs_each_kernel_once_and_keeps_it(isa):
    model = mlp()
    x, y = data()
    first = check(model, x)
    # The 10-unit layer takes the narrow kernel, which reads the weights in place: nothing to pack.
    want = [1, 1, 0] if isa != "generic" else [0, 0, 0]  # the generic path has no small-M kernel
    assert packs(model) == want
    model.compile("adam", "sparse_categorical_crossentropy")
    for _ in range(3):
        np.testing.assert_array_equal(model.predict_on_batch(x), first)
        np.testing.assert_array_equal(model.predict(x, batch_size=64, verbose=0), np.concatenate(
            [model.predict_on_batch(x[i:i + 64]) for i in range(0, 96, 64)]))
        model.evaluate(x, y, verbose=0)
        model(x)
    assert packs(model) == want


def test_fewer_than_64_rows_read_the_kernel_itself():
    model = mlp()
    x, _ = data(63)
    for n in (1, 4, 5, 8, 32, 63):
        check(model, x[:n])
    assert packs(model) == [0, 0, 0]


def test_writes_through_a_held_view_are_seen_and_released_views_repack():
    model = mlp()
    x, _ = data()
    check(model, x)
    kernel = model.layers[0].weights[0]
    check(model, x)
    kernel[...] = 0.01  # while the view is alive the layer reads the kernel: every write shows at once
    np.testing.assert_allclose(check(model, x), float64(model, x), rtol=1e-4, atol=1e-6)
    part = kernel[:, :7]
    del kernel
    part[...] = -0.02  # a slice keeps the view alive
    check(model, x)
    assert packs(model)[0] == 1
    del part
    check(model, x)  # the last view gone: the kernel is packed again (it may have been written)
    assert packs(model)[0] == 2
    check(model, x)
    assert packs(model)[0] == 2


def test_every_way_of_changing_the_weights_repacks(tmp_path):
    model, other = mlp(1), mlp(2)
    x, y = data()
    check(model, x)
    model.set_weights(other.get_weights())
    np.testing.assert_array_equal(check(model, x), other.predict_on_batch(x))
    model.compile("adam", "sparse_categorical_crossentropy")
    before = check(model, x)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert not np.array_equal(check(model, x), before)
    model.train_on_batch(x, y)
    check(model, x)
    path = str(tmp_path / "m.nncore")
    other.save(path)
    model.load_weights(path, by_name=False)
    np.testing.assert_array_equal(check(model, x), other.predict_on_batch(x))
    model.layers[0].kernel.assign(np.full((300, 130), 0.003, np.float32))
    check(model, x)
    model.layers[1].kernel[...] = 0.5  # a Variable's item assignment: a view that lives for the statement
    check(model, x)
    # A custom training loop: the optimizer writes the variables (numpy views) in place.
    opt = nncore.optimizers.SGD(0.5)
    grads = [np.ones_like(w) for w in model.get_weights()]
    opt.apply_gradients(zip(grads, model.trainable_weights))
    check(model, x)


def test_eight_threads_share_one_packed_kernel():
    model = mlp()
    x, _ = data(256)
    parts = [x[i:i + 64] for i in range(0, 256, 64)]
    want = [model.predict_on_batch(p) for p in parts]
    failures = []

    def worker(k: int) -> None:
        for step in range(30):
            i = (k + step) % len(parts)
            if not np.array_equal(model.predict_on_batch(parts[i]), want[i]):
                failures.append((k, i))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures and packs(model) == [1, 1, 0]


def test_quantized_layers_read_their_int8_kernel_not_the_packed_float_one():
    model = mlp()
    x, _ = data()
    want = model.predict_on_batch(x)
    model.quantize("int8")
    np.testing.assert_allclose(model.predict_on_batch(x), want, atol=0.02)
    assert packs(model) == [1, 1, 0]  # packed once before quantize, never since


def test_reading_other_weights_or_a_held_view_again_keeps_the_packed_kernel():
    model = mlp()
    x, _ = data()
    check(model, x)
    dense = model.layers[0]
    assert dense.bias.numpy().shape == (130,) and dense.bias.shape == (130,)  # the bias alone gets a view
    check(model, x)
    assert packs(model)[0] == 1
    kernel = dense.weights[0]
    for _ in range(3):  # the held view is handed out again: no new view, nothing counted as written
        assert dense.weights[0] is kernel and dense.trainable_weights[0] is kernel
    del kernel
    check(model, x)
    assert packs(model)[0] == 2  # the one view released: packed again
    check(model, x)
    assert packs(model)[0] == 2
