"""The keras-io U-Net for image segmentation (oxford_pets_image_segmentation), run on nncore with its get_model as
written (examples/segmentation_unet.py: Conv2D entry block, SeparableConv2D + BatchNormalization + MaxPooling2D
blocks with strided 1x1 Conv2D residuals, Conv2DTranspose + UpSampling2D blocks with upsampled residuals, a per-pixel
softmax Conv2D; Adam and sparse_categorical_crossentropy on (N, H, W, 1) integer targets), on generated images of
discs and squares in place of the Oxford pets, in its quick form (NNCORE_EXAMPLE_QUICK=1: 48x48, 1,600 training
images, 5 epochs, about 45 seconds on 2 cores). The held-out mean IoU must be far above predicting background
everywhere."""
from __future__ import annotations

import math
import re
from example_helpers import EXAMPLES, run_example, squash  # noqa: F401


def test_segmentation_unet_example(tmp_path):
    out = run_example("segmentation_unet.py", tmp_path)
    number = r"([0-9.eE+-]+|nan|inf)"
    mean_iou, bound = map(float, re.search(rf"validation mean IoU: {number} \(bound {number}\)", out).groups())
    baseline = float(re.search(rf"all-background mean IoU: {number}", out).group(1))
    accuracy = float(re.search(rf"^pixel accuracy: {number}", out, re.M).group(1))
    background_accuracy = float(re.search(rf"all-background pixel accuracy: {number}", out).group(1))
    ious = [float(v) for v in re.search(r"IoU per class \(background, disc, square\): (.*)", out).group(1).split()]
    assert all(math.isfinite(v) for v in (mean_iou, baseline, accuracy, *ious)), out[-2000:]
    assert 0.2 < baseline < 0.3, out[-2000:]  # measured: 0.26 (background is 78% of the pixels)
    assert mean_iou > bound >= 0.6, out[-2000:]  # measured: 0.79
    assert mean_iou > baseline + 0.3, out[-2000:]
    assert min(ious) > 0.45, out[-2000:]  # measured: 0.95 background, 0.70 disc, 0.73 square
    assert accuracy > background_accuracy + 0.08, out[-2000:]  # measured: 0.95 against 0.78
    assert (tmp_path / "oxford_segmentation.keras").is_file()  # ModelCheckpoint(save_best_only=True)


def test_segmentation_unet_example_is_the_keras_io_program():
    body = squash((EXAMPLES / "segmentation_unet.py").read_text(encoding="utf-8"))
    for line in [
        "import nncore as keras",
        "from nncore import layers",
        "def get_model(img_size, num_classes):",
        "inputs = keras.Input(shape=img_size + (3,))",
        'x = layers.Conv2D(32, 3, strides=2, padding="same")(inputs)',
        "x = layers.BatchNormalization()(x)",
        'x = layers.Activation("relu")(x)',
        "previous_block_activation = x  # Set aside residual",
        "for filters in [64, 128, 256]:",
        'x = layers.SeparableConv2D(filters, 3, padding="same")(x)',
        'x = layers.MaxPooling2D(3, strides=2, padding="same")(x)',
        'residual = layers.Conv2D(filters, 1, strides=2, padding="same")(previous_block_activation)',
        "x = layers.add([x, residual])  # Add back residual",
        "previous_block_activation = x  # Set aside next residual",
        "for filters in [256, 128, 64, 32]:",
        'x = layers.Conv2DTranspose(filters, 3, padding="same")(x)',
        "x = layers.UpSampling2D(2)(x)",
        "residual = layers.UpSampling2D(2)(previous_block_activation)",
        'residual = layers.Conv2D(filters, 1, padding="same")(residual)',
        'outputs = layers.Conv2D(num_classes, 3, activation="softmax", padding="same")(x)',
        "model = keras.Model(inputs, outputs)",
        "keras.backend.clear_session()",
        "model = get_model(img_size, num_classes)",
        'loss="sparse_categorical_crossentropy"',
        'keras.callbacks.ModelCheckpoint("oxford_segmentation.keras", save_best_only=True)',
        "val_preds = model.predict(val_input_imgs)",
    ]:
        assert squash(line) in body, f"examples/segmentation_unet.py lacks: {line}"
    # The model is keras-io's: its layer counts and parameter count (keras-io's summary: 2,058,979 parameters).
    source = (EXAMPLES / "segmentation_unet.py").read_text(encoding="utf-8")
    function = source[source.index("def get_model(img_size, num_classes):"):source.index("# Free up RAM")]
    namespace: dict = {}
    exec("import nncore as keras\nfrom nncore import layers\n" + function, namespace)
    model = namespace["get_model"]((160, 160), 3)
    assert model.count_params() == 2_058_979
    assert model.output_shape == (None, 160, 160, 3)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.count("SeparableConv2D") == 6 and kinds.count("Conv2DTranspose") == 8
    assert kinds.count("UpSampling2D") == 8 and kinds.count("BatchNormalization") == 15
