"""keras.random as nncore.random: eager draws on numpy, graph nodes that draw fresh numbers each step (seeded by
set_random_seed), and the subclassing guide's variational autoencoder (Sampling + add_loss) training."""
from __future__ import annotations

import numpy as np
import pytest

import nncore
from nncore import ops
from nncore import random as nrandom
from nncore.layers import Dense, Layer


def test_eager_draws():
    a = nrandom.normal((4000,), mean=1.0, stddev=2.0, seed=3)
    assert a.shape == (4000,) and abs(a.mean() - 1) < 0.15 and abs(a.std() - 2) < 0.15
    np.testing.assert_array_equal(a, nrandom.normal((4000,), mean=1.0, stddev=2.0, seed=3))
    u = nrandom.uniform((2, 3), minval=-1, maxval=1, seed=nrandom.SeedGenerator(5))
    assert u.shape == (2, 3) and (u >= -1).all() and (u < 1).all()
    d = nrandom.dropout(np.ones((100, 100)), 0.3, seed=1)
    assert abs((d == 0).mean() - 0.3) < 0.03 and np.allclose(d[d != 0], 1 / 0.7)


def normal_model():
    inp = nncore.Input((3,))
    eps = nrandom.normal(shape=(ops.shape(inp)[0], 5), mean=0.0, stddev=1.0)
    return nncore.Model(inp, eps + 0 * ops.mean(inp, axis=-1, keepdims=True))


def test_graph_draws_are_fresh_each_call_and_reproducible_under_a_seed():
    x = np.zeros((2000, 3), np.float32)
    nncore.set_random_seed(11)
    m1 = normal_model()
    a, b = m1.predict(x, batch_size=2000), m1.predict(x, batch_size=2000)
    assert a.shape == (2000, 5) and not np.array_equal(a, b)
    assert abs(a.mean()) < 0.05 and abs(a.std() - 1) < 0.05
    nncore.set_random_seed(11)
    m2 = normal_model()
    np.testing.assert_array_equal(m2.predict(x, batch_size=2000), a)


def test_graph_dropout_and_its_gradient():
    inp = nncore.Input((50,))
    model = nncore.Model(inp, nrandom.dropout(inp * 1.0, 0.4))
    model.compile("sgd", "mse")
    x = np.ones((40, 50), np.float32)
    g = model.input_gradient(x, np.zeros_like(x))
    out = model.predict(x)
    assert abs((out == 0).mean() - 0.4) < 0.05 and np.allclose(out[out != 0], 1 / 0.6)
    # The gradient of the last call: mse's 2 (y - 0) / n through the same mask: 2 * 1/0.6 / n * 1/0.6 where kept.
    kept = g != 0
    np.testing.assert_allclose(g[kept], 2 * (1 / 0.6) ** 2 / x.size, rtol=1e-5)
    with pytest.raises(ValueError, match="unknown entry"):
        nrandom.normal((None, 3))


class Sampling(Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = nrandom.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        batch, dim = ops.shape(z_mean)[0], ops.shape(z_mean)[1]
        epsilon = nrandom.normal(shape=(batch, dim), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon


class VAE(nncore.Model):
    def __init__(self, original_dim, intermediate_dim=32, latent_dim=4, **kwargs):
        super().__init__(**kwargs)
        self.proj = Dense(intermediate_dim, activation="relu")
        self.mean = Dense(latent_dim)
        self.log_var = Dense(latent_dim)
        self.sampling = Sampling()
        self.decode_1 = Dense(intermediate_dim, activation="relu")
        self.decode_2 = Dense(original_dim, activation="sigmoid")

    def call(self, inputs):
        h = self.proj(inputs)
        z_mean, z_log_var = self.mean(h), self.log_var(h)
        z = self.sampling((z_mean, z_log_var))
        kl_loss = -0.5 * ops.mean(z_log_var - ops.square(z_mean) - ops.exp(z_log_var) + 1)
        self.add_loss(kl_loss)
        return self.decode_2(self.decode_1(z))


def test_variational_autoencoder_from_the_subclassing_guide_trains():
    nncore.set_random_seed(12)
    from nncore.datasets import fashion_mnist
    (x, _), _ = fashion_mnist.load_data()
    x = x[:3000].reshape(-1, 784).astype(np.float32) / 255
    vae = VAE(784, 64, 8)
    vae.compile(nncore.optimizers.Adam(1e-3), loss="mse")
    history = vae.fit(x, x, epochs=4, batch_size=64, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.8 * losses[0], losses



def test_a_model_with_random_ops_and_added_losses_round_trips(tmp_path):
    nncore.set_random_seed(13)
    vae = VAE(6, 8, 2)
    x = np.random.default_rng(13).random((32, 6)).astype(np.float32)
    vae.compile("adam", "mse")
    vae.fit(x, x, epochs=1, verbose=0)
    vae.save(tmp_path / "vae.nncore")
    loaded = nncore.load_model(tmp_path / "vae.nncore", custom_objects={"VAE": VAE})
    for a, b in zip(loaded.get_weights(), vae.get_weights()):
        np.testing.assert_array_equal(a, b)
    loaded.compile("adam", "mse")
    assert np.isfinite(loaded.evaluate(x, x, verbose=0))
