"""One rank of the data-parallel tests (tests/test_distributed.py runs it under ``mpiexec -n 2``, and alone for the
single-process reference): ``python distributed_worker.py SCENARIO OUT_DIR [alone]``. Each scenario trains small
models and saves what the test compares (weights, histories, per-step weight hashes) to OUT_DIR/<name>_<rank>.npz."""
from __future__ import annotations

import hashlib
import os
import sys

import numpy as np

import nncore
from nncore import callbacks, layers

scenario, out = sys.argv[1], sys.argv[2]
alone = len(sys.argv) > 3 and sys.argv[3] == "alone"
if not alone:
    nncore.distributed.init(data="local" if scenario == "local" else "global")
rank = nncore.distributed.rank()
nncore.set_num_threads(1)


def save(name: str, **arrays) -> None:
    np.savez(os.path.join(out, f"{name}_{rank}.npz"), **arrays)


class StepHashes(callbacks.Callback):
    """A hash of every weight after each step (ranks must agree bit for bit)."""

    def __init__(self) -> None:
        super().__init__()
        self.hashes = []

    def on_train_batch_end(self, batch, logs=None):
        h = hashlib.sha1()
        for w in self.model.get_weights():
            h.update(np.ascontiguousarray(w).tobytes())
        self.hashes.append(int(h.hexdigest()[:12], 16))


def mlp(bn: bool = False) -> nncore.Model:
    body = [layers.Dense(16, activation="relu")] + ([layers.BatchNormalization()] if bn else []) + \
        [layers.Dense(3, activation="softmax")]
    m = nncore.Sequential([nncore.Input((10,)), *body])
    m.compile(nncore.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def data(n: int = 203):  # not a multiple of the global batch: a ragged last step
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 10)).astype(np.float32)
    y = (np.argmax(x[:, :3], 1)).astype(np.float32)
    return x, y


if scenario == "equivalence":
    # 2 ranks x batch 16 against 1 process x batch 32, same seed (so the same shuffled order), validation split.
    nncore.set_random_seed(3)
    x, y = data()
    m = mlp()
    hashes = StepHashes()
    if not alone:  # a different start on rank 1: fit broadcasts rank 0's weights
        m.set_weights([w + rank for w in m.get_weights()])
    h = m.fit(x, y, batch_size=32 if alone else 16, epochs=3, verbose=0, validation_split=0.25, callbacks=[hashes])
    save("equivalence", weights=np.concatenate([w.ravel() for w in m.get_weights()]), hashes=np.array(hashes.hashes),
         loss=np.array(h.history["loss"]), val_loss=np.array(h.history["val_loss"]),
         val_accuracy=np.array(h.history["val_accuracy"]))
    # BatchNormalization's moving statistics are averaged: the ranks stay identical.
    nncore.set_random_seed(4)
    m = mlp(bn=True)
    hashes = StepHashes()
    m.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[hashes])
    save("batchnorm", hashes=np.array(hashes.hashes))
elif scenario in ("coverage", "local"):
    # Sample i is the one-hot row e_i; a bias-free Dense(1) from zeros under plain SGD moves weight i only when
    # sample i trains, by 2 * lr / (its global batch's size) on its first use and by less on any later use: the
    # weights show which samples each epoch used, and how often.
    n = 53
    eye = np.eye(n, dtype=np.float32)
    if scenario == "local":  # rank r holds rows r, r + 2, ... : its own part
        x, y = eye[rank::2], np.ones((len(eye[rank::2]), 1), np.float32)
        x = np.ascontiguousarray(x)
    else:
        x, y = eye, np.ones((n, 1), np.float32)
    m = nncore.Sequential([nncore.Input((n,)), layers.Dense(1, use_bias=False, kernel_initializer="zeros")])
    m.compile(nncore.optimizers.SGD(1.0), "mse")
    m.fit(x, y, batch_size=4, epochs=1, verbose=0)
    save(scenario, kernel=m.get_weights()[0][:, 0])
elif scenario == "callbacks":
    # EarlyStopping on the averaged validation loss stops every rank at the same epoch; ModelCheckpoint, CSVLogger
    # and model.save write on rank 0 only (each rank is given its own folder to show who wrote).
    nncore.set_random_seed(5)
    x, y = data(160)
    folder = os.path.join(out, f"files_{rank}")
    os.makedirs(folder, exist_ok=True)
    m = mlp()
    cbs = [callbacks.EarlyStopping(monitor="val_loss", patience=0, min_delta=10.0),
           callbacks.ModelCheckpoint(os.path.join(folder, "ckpt.nncore")),
           callbacks.CSVLogger(os.path.join(folder, "log.csv"))]
    h = m.fit(x, y, batch_size=8, epochs=20, verbose=0, validation_split=0.25, callbacks=cbs)
    m.save(os.path.join(folder, "final.nncore"))
    warm = nncore.distributed.scaled_learning_rate(0.1, warmup_steps=10)
    save("callbacks", epochs=np.array(len(h.history["loss"])), loss=np.array(h.history["loss"]),
         val_loss=np.array(h.history["val_loss"]),
         lr=np.array([nncore.distributed.scaled_learning_rate(0.1), warm(0), warm(5), warm(10), warm(100)]))
elif scenario == "mismatch":
    x, y = data()
    m = mlp()
    try:
        m.fit(x, y, batch_size=16 + rank, epochs=1, verbose=0)
        save("mismatch", message=np.array("no error"))
    except ValueError as e:
        save("mismatch", message=np.array(str(e)))
elif scenario == "die":
    # Rank 1 dies in epoch 2, after rank 0 checkpointed epoch 1; MPI must end rank 0 too.
    nncore.set_random_seed(6)
    x, y = data(160)
    m = mlp()

    class Die(callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2 and rank == 1:
                os._exit(3)

    m.fit(x, y, batch_size=8, epochs=5, verbose=0,
          callbacks=[callbacks.ModelCheckpoint(os.path.join(out, "ckpt.nncore")), Die()])
elif scenario == "stall":
    # Rank 1 stops answering (sleeps in a callback); rank 0's watchdog aborts the job after the timeout.
    import time
    x, y = data(64)
    m = mlp()

    class Stall(callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1 and rank == 1:
                time.sleep(60)

    m.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[Stall()])
else:
    raise SystemExit(f"unknown scenario {scenario}")
