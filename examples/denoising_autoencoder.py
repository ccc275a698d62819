"""
Title: Convolutional autoencoder for image denoising
Author: [Santiago L. Valdarrama](https://twitter.com/svpino)
Date created: 2021/03/01
Last modified: 2021/03/01
Description: How to train a deep convolutional autoencoder for image denoising.

The keras-io example (examples/vision/autoencoder.py) as written, on nncore: Conv2D and MaxPooling2D encode,
Conv2DTranspose(strides=2) decodes, trained with binary cross-entropy first to reconstruct clean images and then to
map noisy images to clean ones. What changed: the imports; the data (Fashion-MNIST from Debian's
dataset-fashion-mnist package through nncore.datasets, instead of downloading MNIST digits); a random seed; the
number of epochs (keras-io's 50 + 100 epochs over 60,000 images are hours on a CPU, so 10 + 20 here); and the end,
which prints the mean squared errors instead of drawing images with matplotlib (the display() calls are gone).

    python examples/denoising_autoencoder.py          # 60,000 + 10,000 images, 10 + 20 epochs, ~12 minutes
    NNCORE_EXAMPLE_QUICK=1 python examples/denoising_autoencoder.py   # 3,000 + 500 images, 5 + 10 epochs, seconds

The noise (noise_factor 0.4, clipped to [0, 1]) puts the noisy test images at a mean squared error of 0.085 from
the clean ones; the run ends with the denoised test images at least 2.5 times closer (quick run: 0.019, 4.45 times,
in 18 seconds on 2 cores).
"""

"""
## Introduction

This example demonstrates how to implement a deep convolutional autoencoder
for image denoising, mapping noisy images from the Fashion-MNIST dataset to
clean images. This implementation is based on an original blog post
titled [Building Autoencoders in Keras](https://blog.keras.io/building-autoencoders-in-keras.html)
by [François Chollet](https://twitter.com/fchollet).
"""

"""
## Setup
"""

import os

import numpy as np

import nncore as keras
from nncore import layers
from nncore.datasets import fashion_mnist
from nncore.models import Model

QUICK = bool(os.environ.get("NNCORE_EXAMPLE_QUICK"))
keras.utils.set_random_seed(1337)  # nncore: reproducible weights, shuffling and noise


def preprocess(array):
    """Normalizes the supplied array and reshapes it."""
    array = array.astype("float32") / 255.0
    array = np.reshape(array, (len(array), 28, 28, 1))
    return array


def noise(array):
    """Adds random noise to each image in the supplied array."""
    noise_factor = 0.4
    noisy_array = array + noise_factor * np.random.normal(
        loc=0.0, scale=1.0, size=array.shape
    )

    return np.clip(noisy_array, 0.0, 1.0)


"""
## Prepare the data
"""

# Since we only need images from the dataset to encode and decode, we
# won't use the labels.
(train_data, _), (test_data, _) = fashion_mnist.load_data()
if QUICK:  # nncore: a subset, so that the example runs in seconds
    train_data, test_data = train_data[:3000], test_data[:500]

# Normalize and reshape the data
train_data = preprocess(train_data)
test_data = preprocess(test_data)

# Create a copy of the data with added noise
noisy_train_data = noise(train_data)
noisy_test_data = noise(test_data)

print(len(train_data), "training images,", len(test_data), "test images")

"""
## Build the autoencoder

We are going to use the Functional API to build our convolutional autoencoder.
"""

input = layers.Input(shape=(28, 28, 1))

# Encoder
x = layers.Conv2D(32, (3, 3), activation="relu", padding="same")(input)
x = layers.MaxPooling2D((2, 2), padding="same")(x)
x = layers.Conv2D(32, (3, 3), activation="relu", padding="same")(x)
x = layers.MaxPooling2D((2, 2), padding="same")(x)

# Decoder
x = layers.Conv2DTranspose(32, (3, 3), strides=2, activation="relu", padding="same")(x)
x = layers.Conv2DTranspose(32, (3, 3), strides=2, activation="relu", padding="same")(x)
x = layers.Conv2D(1, (3, 3), activation="sigmoid", padding="same")(x)

# Autoencoder
autoencoder = Model(input, x)
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
autoencoder.summary()

"""
Now we can train our autoencoder using `train_data` as both our input data
and target. Notice we are setting up the validation data using the same
format.
"""

autoencoder.fit(
    x=train_data,
    y=train_data,
    epochs=5 if QUICK else 10,  # keras-io: 50 (nncore: fewer, for a CPU)
    batch_size=128,
    shuffle=True,
    validation_data=(test_data, test_data),
)

"""
Let's predict on our test dataset: the predictions should be close to the
original images, although not quite the same.
"""

predictions = autoencoder.predict(test_data)
reconstruction_mse = float(np.mean((predictions - test_data) ** 2))
print(f"reconstruction test MSE: {reconstruction_mse:.4f}")

"""
Now that we know that our autoencoder works, let's retrain it using the noisy
data as our input and the clean data as our target. We want our autoencoder to
learn how to denoise the images.
"""

autoencoder.fit(
    x=noisy_train_data,
    y=train_data,
    epochs=10 if QUICK else 20,  # keras-io: 100 (nncore: fewer, for a CPU)
    batch_size=128,
    shuffle=True,
    validation_data=(noisy_test_data, test_data),
)

"""
Let's now predict on the noisy data and measure how far the results of our
autoencoder are from the clean images, against how far the noisy inputs were.
"""

predictions = autoencoder.predict(noisy_test_data)

"""
## How well it learned (nncore)

The mean squared error of the noisy test images and of the denoised ones against the clean test images.
"""

REDUCTION_BOUND = 2.5
noisy_mse = float(np.mean((noisy_test_data - test_data) ** 2))
denoised_mse = float(np.mean((predictions - test_data) ** 2))
reduction = noisy_mse / denoised_mse
print(f"noisy test MSE: {noisy_mse:.5f}")
print(f"denoised test MSE: {denoised_mse:.5f}")
print(f"reduction: {reduction:.2f} (bound {REDUCTION_BOUND})")
assert reduction >= REDUCTION_BOUND, f"denoising cut the error only {reduction:.2f}-fold, less than {REDUCTION_BOUND}"
