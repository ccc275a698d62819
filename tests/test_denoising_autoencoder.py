"""The keras-io convolutional denoising autoencoder, run on nncore as written (examples/denoising_autoencoder.py:
Conv2D + MaxPooling2D(padding="same") encoder, Conv2DTranspose(strides=2) decoder, binary cross-entropy, fitted on
clean images and then on noisy -> clean ones), in its quick form (NNCORE_EXAMPLE_QUICK=1: 3,000 Fashion-MNIST
images, about 20 seconds on 2 cores). The denoised test images must be much closer to the clean ones than the
noisy inputs were."""
from __future__ import annotations

import math
import re

from example_helpers import EXAMPLES, needs_fashion, run_example, squash  # noqa: F401


@needs_fashion
def test_denoising_autoencoder_example(tmp_path):
    out = run_example("denoising_autoencoder.py", tmp_path)
    number = r"([0-9.eE+-]+|nan|inf)"
    noisy = float(re.search(rf"noisy test MSE: {number}", out).group(1))
    denoised = float(re.search(rf"denoised test MSE: {number}", out).group(1))
    reduction, bound = map(float, re.search(rf"reduction: {number} \(bound {number}\)", out).groups())
    assert all(math.isfinite(v) for v in (noisy, denoised, reduction)), out[-2000:]
    assert 0.05 < noisy < 0.12, out[-2000:]  # noise_factor 0.4, clipped: measured 0.085
    assert 0 < denoised < noisy, out[-2000:]
    assert reduction >= bound >= 2.5, out[-2000:]
    assert noisy / denoised >= 2.5, out[-2000:]  # measured: 4.45 (0.085 -> 0.019); 4.35 with another seed


def test_denoising_autoencoder_example_is_the_keras_io_program():
    body = squash((EXAMPLES / "denoising_autoencoder.py").read_text(encoding="utf-8"))
    for line in [
        'array = array.astype("float32") / 255.0',
        "array = np.reshape(array, (len(array), 28, 28, 1))",
        "noise_factor = 0.4",
        "noisy_array = array + noise_factor * np.random.normal(loc=0.0, scale=1.0, size=array.shape)",
        "return np.clip(noisy_array, 0.0, 1.0)",
        "input = layers.Input(shape=(28, 28, 1))",
        'x = layers.Conv2D(32, (3, 3), activation="relu", padding="same")(input)',
        'x = layers.MaxPooling2D((2, 2), padding="same")(x)',
        'x = layers.Conv2DTranspose(32, (3, 3), strides=2, activation="relu", padding="same")(x)',
        'x = layers.Conv2D(1, (3, 3), activation="sigmoid", padding="same")(x)',
        "autoencoder = Model(input, x)",
        'autoencoder.compile(optimizer="adam", loss="binary_crossentropy")',
        "x=train_data, y=train_data,",
        "validation_data=(test_data, test_data),",
        "x=noisy_train_data, y=train_data,",
        "validation_data=(noisy_test_data, test_data),",
        "predictions = autoencoder.predict(noisy_test_data)",
    ]:
        assert squash(line) in body, f"examples/denoising_autoencoder.py lacks: {line}"
