"""
Title: Image segmentation with a U-Net-like architecture
Author: [fchollet](https://twitter.com/fchollet)
Date created: 2019/03/20
Last modified: 2020/04/20
Description: Image segmentation model trained from scratch on the Oxford Pets dataset.

The keras-io example (examples/vision/oxford_pets_image_segmentation.py) on nncore, with its model as written:
`get_model(img_size, num_classes)`, the U-Net of Xception style (a strided Conv2D entry block, three blocks of
SeparableConv2D + BatchNormalization + MaxPooling2D with strided 1x1 Conv2D residuals, four blocks of
Conv2DTranspose + BatchNormalization + UpSampling2D with upsampled 1x1 Conv2D residuals, a per-pixel softmax
Conv2D), compiled with Adam and sparse_categorical_crossentropy on integer targets shaped (N, H, W, 1), trained with
a held-out validation set and a ModelCheckpoint(save_best_only=True).

What changed: the imports (`import nncore as keras; from nncore import layers`); the data: the Oxford-IIIT Pets
images and trimaps cannot be downloaded here, so the images are made (numpy, seeded): RGB images with values in
[0, 1] (as keras-io's tf.image.convert_image_dtype gives them) on a dull, textured background (a grayish ramp,
stripes of random direction and period, pixel noise), with one or two filled discs and one or two axis-aligned
filled squares of random saturated colors and sizes, which may overlap; the mask has 3 classes per pixel, like the
pets' trimaps: 0 background, 1 disc, 2 square (both shapes draw their colors from the same distribution, so only
shape tells them apart), shaped (N, H, W, 1) as keras-io's targets; the arrays go to fit() directly instead of
through tf.data, and the held-out set is the last images instead of a shuffled file list; a random seed; the sizes
(for a CPU: img_size 96x96 instead of 160x160, batch 16 instead of 32, 6 epochs instead of 50; the quick run
smaller still); the learning rate (1e-3 instead of 1e-4, which learns too slowly in so few steps); and the end,
which measures the per-class and mean intersection over union (IoU) and the pixel accuracy of the argmax
predictions on the held-out images, against predicting background everywhere, instead of displaying masks.

    python examples/segmentation_unet.py          # 96x96, 3,800 + 200 images, batch 16, 6 epochs, ~10 minutes
    NNCORE_EXAMPLE_QUICK=1 python examples/segmentation_unet.py   # 48x48, 1,600 + 96 images, batch 8, 5 epochs

Predicting background everywhere gives a mean IoU of 0.26 on the held-out images (the background's IoU is its
share of the pixels, 0.78; the shapes' are 0). The quick run ends at a held-out mean IoU of 0.79 (IoU 0.95
background, 0.70 disc, 0.73 square; pixel accuracy 0.95) in 46 seconds on 2 cores, bound 0.6. The full run's bound
is 0.7 (its figures were not measured when this was written).
"""

"""
## Make the data (nncore)

In place of keras-io's download of the Oxford Pets images and trimaps.
"""

import os

import numpy as np

QUICK = bool(os.environ.get("NNCORE_EXAMPLE_QUICK"))

img_size = (48, 48) if QUICK else (96, 96)  # keras-io: (160, 160) (nncore: smaller, for a CPU)
num_classes = 3
# keras-io: 32. nncore: smaller batches give more optimizer steps in a short CPU run; the BatchNormalization layers'
# moving statistics (momentum 0.99) need several hundred steps to catch up with the weights, and until they do the
# model predicts background everywhere in inference mode (TensorFlow runs of keras-io's program show the same rising
# val_loss in their first epochs).
batch_size = 8 if QUICK else 16
num_samples = 1696 if QUICK else 4000  # keras-io: the 7,390 pet images


def make_sample(rng, img_size):
    """One RGB image (float32, in [0, 1]) and its mask (uint8: 0 background, 1 disc, 2 square)."""
    h, w = img_size
    yy, xx = np.mgrid[0:h, 0:w].astype("float32")
    # Textured, dull background: a grayish ramp, stripes of random direction and period, pixel noise.
    angle = rng.uniform(0, np.pi)
    stripes = np.sin(rng.uniform(0.2, 0.8) * (xx * np.cos(angle) + yy * np.sin(angle)) + rng.uniform(0, 2 * np.pi))
    ramp = (xx / w - 0.5) * rng.uniform(-1, 1) + (yy / h - 0.5) * rng.uniform(-1, 1)
    img = (rng.uniform(60, 190) + rng.uniform(-15, 15, 3) + ramp[..., None] * rng.uniform(-60, 60)
           + stripes[..., None] * rng.uniform(-25, 25) + rng.normal(0, 10, (h, w, 3)))
    mask = np.zeros((h, w), dtype="uint8")
    # Filled discs (class 1) and squares (class 2), drawn in a random order: later shapes cover earlier ones.
    shapes = [1] * rng.integers(1, 3) + [2] * rng.integers(1, 3)
    rng.shuffle(shapes)
    for cls in shapes:
        size = rng.uniform(0.1, 0.2) * min(h, w)  # the disc's radius, the square's half side
        cy, cx = rng.uniform(size, h - size), rng.uniform(size, w - size)
        if cls == 1:
            region = (yy - cy) ** 2 + (xx - cx) ** 2 <= size**2
        else:
            region = (np.abs(yy - cy) <= size) & (np.abs(xx - cx) <= size)
        # A saturated color of any hue, the same distribution for both classes: shape alone tells them apart.
        color = rng.permutation([rng.uniform(190, 255), rng.uniform(0, 70), rng.uniform(0, 255)])
        img[region] = color + rng.normal(0, 10, (int(region.sum()), 3))
        mask[region] = cls
    # Scaled to [0, 1], as keras-io's tf.image.convert_image_dtype(img, "float32") does with its uint8 images.
    return (np.clip(img, 0, 255) / 255.0).astype("float32"), mask


rng = np.random.default_rng(1337)
samples = [make_sample(rng, img_size) for _ in range(num_samples)]
input_imgs = np.stack([img for img, _ in samples])
# Targets are integers shaped (N, H, W, 1), as keras-io's trimaps after `y -= 1`.
targets = np.stack([mask for _, mask in samples])[..., None]

print("Number of samples:", len(input_imgs))
print("Share of pixels per class:", np.round(np.bincount(targets.ravel(), minlength=num_classes) / targets.size, 3))

"""
## Prepare U-Net Xception-style model
"""

import nncore as keras
from nncore import layers

keras.utils.set_random_seed(1337)  # nncore: reproducible weights and shuffling


def get_model(img_size, num_classes):
    inputs = keras.Input(shape=img_size + (3,))

    ### [First half of the network: downsampling inputs] ###

    # Entry block
    x = layers.Conv2D(32, 3, strides=2, padding="same")(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)

    previous_block_activation = x  # Set aside residual

    # Blocks 1, 2, 3 are identical apart from the feature depth.
    for filters in [64, 128, 256]:
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)

        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)

        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)

        # Project residual
        residual = layers.Conv2D(filters, 1, strides=2, padding="same")(
            previous_block_activation
        )
        x = layers.add([x, residual])  # Add back residual
        previous_block_activation = x  # Set aside next residual

    ### [Second half of the network: upsampling inputs] ###

    for filters in [256, 128, 64, 32]:
        x = layers.Activation("relu")(x)
        x = layers.Conv2DTranspose(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)

        x = layers.Activation("relu")(x)
        x = layers.Conv2DTranspose(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)

        x = layers.UpSampling2D(2)(x)

        # Project residual
        residual = layers.UpSampling2D(2)(previous_block_activation)
        residual = layers.Conv2D(filters, 1, padding="same")(residual)
        x = layers.add([x, residual])  # Add back residual
        previous_block_activation = x  # Set aside next residual

    # Add a per-pixel classification layer
    outputs = layers.Conv2D(num_classes, 3, activation="softmax", padding="same")(x)

    # Define the model
    model = keras.Model(inputs, outputs)
    return model


# Free up RAM in case the model definition cells were run multiple times
keras.backend.clear_session()

# Build model
model = get_model(img_size, num_classes)
model.summary()

"""
## Set aside a validation split
"""

# Split our images into a training and a validation set
val_samples = 96 if QUICK else 200  # keras-io: 1000 (nncore: fewer, for a CPU)
train_input_imgs = input_imgs[:-val_samples]
train_targets = targets[:-val_samples]
val_input_imgs = input_imgs[-val_samples:]
val_targets = targets[-val_samples:]

"""
## Train the model
"""

# Configure the model for training.
# We use the "sparse" version of categorical_crossentropy
# because our target data is integers.
model.compile(
    # keras-io: Adam(1e-4). nncore: 1e-3, as 1e-4 learns too slowly in the few steps a CPU run affords (quick run:
    # held-out mean IoU 0.50 after 5 epochs with 1e-4, 0.79 with 1e-3)
    optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy"
)

callbacks = [
    keras.callbacks.ModelCheckpoint("oxford_segmentation.keras", save_best_only=True)
]

# Train the model, doing validation at the end of each epoch.
epochs = 5 if QUICK else 6  # keras-io: 50 (nncore: fewer, for a CPU)
model.fit(
    train_input_imgs,
    train_targets,
    batch_size=batch_size,
    epochs=epochs,
    validation_data=(val_input_imgs, val_targets),
    callbacks=callbacks,
    verbose=2,
)

"""
## Predict on the validation set
"""

# Generate predictions for all images in the validation set
val_preds = model.predict(val_input_imgs)
pred_masks = np.argmax(val_preds, axis=-1)

"""
## How well it learned (nncore)

Intersection over union per class over all the held-out pixels, its mean over the classes, and the pixel accuracy;
against the same measures for a prediction of background everywhere.
"""

MIOU_BOUND = 0.6 if QUICK else 0.7


def per_class_iou(true_masks, pred_masks, num_classes):
    ious = []
    for c in range(num_classes):
        intersection = np.sum((true_masks == c) & (pred_masks == c))
        union = np.sum((true_masks == c) | (pred_masks == c))
        ious.append(intersection / union if union else float("nan"))
    return np.array(ious)


true_masks = val_targets[..., 0]
ious = per_class_iou(true_masks, pred_masks, num_classes)
mean_iou = float(np.nanmean(ious))
pixel_accuracy = float(np.mean(pred_masks == true_masks))
background_ious = per_class_iou(true_masks, np.zeros_like(true_masks), num_classes)
background_miou = float(np.nanmean(background_ious))
background_accuracy = float(np.mean(true_masks == 0))

print("validation IoU per class (background, disc, square):", " ".join(f"{v:.4f}" for v in ious))
print(f"all-background mean IoU: {background_miou:.4f}")
print(f"all-background pixel accuracy: {background_accuracy:.4f}")
print(f"pixel accuracy: {pixel_accuracy:.4f}")
print(f"validation mean IoU: {mean_iou:.4f} (bound {MIOU_BOUND})")
assert os.path.isfile("oxford_segmentation.keras"), "ModelCheckpoint wrote no file"
assert mean_iou > MIOU_BOUND, f"the held-out mean IoU {mean_iou:.4f} is not above {MIOU_BOUND}"
