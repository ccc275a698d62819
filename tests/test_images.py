"""nncore.utils's image utilities (Keras's load_img, img_to_array, array_to_img, save_img and
image_dataset_from_directory) on Pillow. The Keras comparisons run where Keras imports (KERAS_BACKEND=torch here)."""
import io
import os
import sys

import numpy as np
import pytest

PIL = pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

import nncore  # noqa: E402
from nncore import utils  # noqa: E402

from graph_helpers import seeded  # noqa: F401,E402  (autouse fixture)

COLORS = {"blue": (20, 40, 230), "green": (30, 220, 40), "red": (235, 30, 25)}  # sorted class order: blue, green, red


def _class_of(mean_rgb):
    return int(np.argmax([mean_rgb[2], mean_rgb[1], mean_rgb[0]]))  # blue=0, green=1, red=2


def _make_tree(root, per_class=(3, 2), sizes=None):
    """root/<class>/<i>.png and .jpg, filled with the class's color plus noise, of varying sizes."""
    rng = np.random.default_rng(0)
    n_png, n_jpg = per_class
    for c, rgb in COLORS.items():
        os.makedirs(root / c, exist_ok=True)
        for i in range(n_png + n_jpg):
            h, w = sizes if sizes is not None else (18 + 3 * i, 24 - 2 * i)
            a = np.clip(np.array(rgb, np.int16) + rng.integers(-60, 61, (h, w, 3)), 0, 255).astype(np.uint8)
            ext = "png" if i < n_png else "jpg"
            Image.fromarray(a).save(root / c / f"img_{i}.{ext}", **({"quality": 95} if ext == "jpg" else {}))
    (root / "red" / "notes.txt").write_text("not an image")
    return root


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return _make_tree(tmp_path_factory.mktemp("images"))


def _all_paths(root):
    return sorted(str(p) for p in root.rglob("*") if p.suffix in (".png", ".jpg"))


# -- single images ------------------------------------------------------------------------------------------------

def test_png_round_trip_is_exact_and_shapes(tmp_path):
    rng = np.random.default_rng(1)
    for channels, mode in ((3, "rgb"), (4, "rgba"), (1, "grayscale")):
        x = rng.integers(0, 256, (7, 9, channels)).astype(np.float32)
        p = tmp_path / f"x{channels}.png"
        utils.save_img(p, x, scale=False)
        img = utils.load_img(p, color_mode=mode)
        y = utils.img_to_array(img)
        assert y.dtype == np.float32 and y.shape == (7, 9, channels)
        np.testing.assert_array_equal(y, x)
        assert utils.img_to_array(img, data_format="channels_first").shape == (channels, 7, 9)
    # rgb file read as grayscale / rgba
    assert utils.img_to_array(utils.load_img(tmp_path / "x3.png", color_mode="grayscale")).shape == (7, 9, 1)
    rgba = utils.img_to_array(utils.load_img(tmp_path / "x3.png", color_mode="rgba"))
    assert rgba.shape == (7, 9, 4) and np.all(rgba[..., 3] == 255)
    # file objects and channels_first arrays
    buf = io.BytesIO()
    utils.save_img(buf, np.zeros((3, 5, 6), np.float32), data_format="channels_first", file_format="png", scale=False)
    buf.seek(0)
    assert utils.img_to_array(utils.load_img(buf)).shape == (5, 6, 3)


def test_jpg_round_trip_is_close(tmp_path):
    yy, xx = np.mgrid[0:32, 0:48]
    x = np.stack([xx * 5, yy * 7, np.full_like(xx, 128)], -1).astype(np.float32)
    utils.save_img(tmp_path / "x.jpg", x, scale=False, quality=95)
    y = utils.img_to_array(utils.load_img(tmp_path / "x.jpg"))
    assert y.shape == x.shape
    assert np.abs(y - x).mean() < 3
    with pytest.warns(UserWarning, match="RGBA"):
        utils.save_img(tmp_path / "a.jpg", np.zeros((4, 4, 4)), scale=False)
    assert utils.load_img(tmp_path / "a.jpg").mode == "RGB"


def test_target_size_and_keep_aspect_ratio(tmp_path):
    a = np.zeros((20, 40, 3), np.uint8)  # height 20, width 40: red | green (the centre 20 columns) | blue
    a[:, :10, 0] = 255
    a[:, 10:30, 1] = 255
    a[:, 30:, 2] = 255
    Image.fromarray(a).save(tmp_path / "wide.png")
    img = utils.load_img(tmp_path / "wide.png", target_size=(10, 10))
    assert img.size == (10, 10)
    plain = utils.img_to_array(img)
    assert plain[..., 0].max() == 255 and plain[..., 2].max() == 255  # squeezed: red and blue remain
    kept = utils.img_to_array(utils.load_img(tmp_path / "wide.png", target_size=(10, 10), keep_aspect_ratio=True))
    np.testing.assert_array_equal(kept, np.broadcast_to([0, 255, 0], (10, 10, 3)))  # the green centre only
    assert utils.load_img(tmp_path / "wide.png", target_size=(5, 8), interpolation="bilinear").size == (8, 5)
    with pytest.raises(ValueError, match="interpolation"):
        utils.load_img(tmp_path / "wide.png", target_size=(5, 8), interpolation="cubic")
    with pytest.raises(ValueError, match="color_mode"):
        utils.load_img(tmp_path / "wide.png", color_mode="bgr")


def test_array_to_img_scaling():
    x = np.linspace(-1, 1, 2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3)
    img = utils.array_to_img(x)
    assert img.mode == "RGB" and img.size == (3, 2)
    y = np.asarray(img)
    assert y.min() == 0 and y.max() == 255
    np.testing.assert_array_equal(y, ((x + 1) / 2 * 255).astype(np.uint8))
    raw = np.asarray(utils.array_to_img(np.full((2, 2, 3), 7.0), scale=False))
    assert np.all(raw == 7)
    assert np.all(np.asarray(utils.array_to_img(np.full((2, 2, 3), 7.0))) == 0)  # constant: x - min = 0
    assert utils.array_to_img(np.zeros((2, 2, 4))).mode == "RGBA"
    assert utils.array_to_img(np.zeros((2, 2, 1))).mode == "L"
    assert utils.array_to_img(np.full((2, 2, 1), 1000.0), scale=False).mode == "I"
    assert utils.array_to_img(np.zeros((3, 2, 2)), data_format="channels_first").size == (2, 2)
    with pytest.raises(ValueError, match="rank 3"):
        utils.array_to_img(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="channels"):
        utils.array_to_img(np.zeros((2, 2, 5)))


def test_unreadable_image_names_the_file(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"this is not a png")
    with pytest.raises(PIL.UnidentifiedImageError, match="broken.png"):
        utils.load_img(bad)
    good = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(good, format="png")
    cut = tmp_path / "cut.png"
    cut.write_bytes(good.getvalue()[:60])
    with pytest.raises(OSError, match="cut.png"):
        utils.load_img(cut)


def test_missing_pillow_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "PIL", None)
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    with pytest.raises(ImportError, match="pip install Pillow"):
        utils.load_img(tmp_path / "x.png")
    with pytest.raises(ImportError, match="pip install Pillow"):
        utils.array_to_img(np.zeros((2, 2, 3)))
    with pytest.raises(ImportError, match="pip install Pillow"):
        utils.image_dataset_from_directory(tmp_path)


# -- image_dataset_from_directory ----------------------------------------------------------------------------------

def test_dataset_batches_labels_and_class_names(tree, capsys):
    ds = utils.image_dataset_from_directory(tree, image_size=(12, 10), batch_size=4, seed=3)
    assert "Found 15 files belonging to 3 classes." in capsys.readouterr().out
    assert isinstance(ds, utils.PyDataset)
    assert ds.class_names == ["blue", "green", "red"]
    assert sorted(ds.file_paths) == _all_paths(tree) and len(ds) == 4
    seen = 0
    for i in range(len(ds)):
        x, y = ds[i]
        assert x.dtype == np.float32 and x.shape == (4 if i < 3 else 3, 12, 10, 3)
        assert y.dtype == np.int32 and y.shape == (x.shape[0],)
        assert 0 <= x.min() and x.max() <= 255
        for img, label in zip(x, y):
            assert _class_of(img.mean((0, 1))) == label  # the image's color is its folder's
        seen += len(y)
    assert seen == 15
    # the labels follow the folder of each file in file_paths
    _, first_y = utils.image_dataset_from_directory(tree, image_size=(12, 10), batch_size=15, seed=3,
                                                          verbose=False)[0]
    folders = [os.path.basename(os.path.dirname(p)) for p in ds.file_paths]
    assert [ds.class_names[k] for k in first_y] == folders
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_label_modes_and_class_names(tree):
    kw = dict(image_size=(8, 8), batch_size=15, seed=1, verbose=False)
    x, y = utils.image_dataset_from_directory(tree, label_mode="categorical", **kw)[0]
    assert y.dtype == np.float32 and y.shape == (15, 3)
    np.testing.assert_array_equal(y.sum(1), 1)
    assert [_class_of(m) for m in x.mean((1, 2))] == list(y.argmax(1))
    with pytest.raises(ValueError, match="exactly 2"):
        utils.image_dataset_from_directory(tree, label_mode="binary", **kw)
    ds = utils.image_dataset_from_directory(tree, label_mode="binary", class_names=["red", "blue"], **kw)
    assert ds.class_names == ["red", "blue"] and len(ds.file_paths) == 10
    x, y = ds[0]
    assert y.shape == (10, 1) and y.dtype == np.float32
    for img, label in zip(x, y[:, 0]):  # red -> 0, blue -> 1 (the order of class_names)
        assert {2: 0.0, 0: 1.0}[_class_of(img.mean((0, 1)))] == label
    x_only = utils.image_dataset_from_directory(tree, label_mode=None, **kw)[0]
    assert isinstance(x_only, np.ndarray) and x_only.shape == (15, 8, 8, 3)
    none = utils.image_dataset_from_directory(tree, labels=None, **kw)
    assert none.class_names is None and isinstance(none[0], np.ndarray)
    labels = list(range(15))  # explicit labels, in the sorted order of the files
    ds = utils.image_dataset_from_directory(tree, labels=labels, shuffle=False, image_size=(8, 8), batch_size=15,
                                            verbose=False)
    assert ds.file_paths == _all_paths(tree)
    np.testing.assert_array_equal(ds[0][1], labels)
    gray = utils.image_dataset_from_directory(tree, color_mode="grayscale", **kw)[0][0]
    assert gray.shape == (15, 8, 8, 1)
    assert utils.image_dataset_from_directory(tree, color_mode="rgba", **kw)[0][0].shape == (15, 8, 8, 4)
    cf = utils.image_dataset_from_directory(tree, data_format="channels_first", **kw)[0][0]
    assert cf.shape == (15, 3, 8, 8)


def test_shuffle_is_seeded_and_changes_each_epoch(tree):
    kw = dict(image_size=(8, 8), batch_size=15, verbose=False)
    a = utils.image_dataset_from_directory(tree, seed=5, **kw)
    b = utils.image_dataset_from_directory(tree, seed=5, **kw)
    c = utils.image_dataset_from_directory(tree, seed=6, **kw)
    assert a.file_paths == b.file_paths and a.file_paths != c.file_paths
    xa, ya = a[0]
    np.testing.assert_array_equal(xa, b[0][0])
    np.testing.assert_array_equal(ya, b[0][1])
    a.on_epoch_end()
    b.on_epoch_end()
    xa2, ya2 = a[0]
    np.testing.assert_array_equal(xa2, b[0][0])  # reshuffled the same way for the same seed
    assert not np.array_equal(ya, ya2) or not np.array_equal(xa, xa2)  # and differently from the last epoch
    assert sorted(ya2.tolist()) == sorted(ya.tolist())
    # iterating ends an epoch: two passes give two orders
    ds = utils.image_dataset_from_directory(tree, seed=5, image_size=(8, 8), batch_size=4, verbose=False)
    first = np.concatenate([y for _, y in ds])
    second = np.concatenate([y for _, y in ds])
    assert len(first) == len(second) == 15 and sorted(first) == sorted(second)
    xs = [x.mean((1, 2)) for x, _ in ds]
    assert len(xs) == 4
    plain = utils.image_dataset_from_directory(tree, shuffle=False, **kw)
    assert plain.file_paths == _all_paths(tree)
    plain.on_epoch_end()
    np.testing.assert_array_equal(plain[0][1], [0] * 5 + [1] * 5 + [2] * 5)


def test_validation_split(tree, capsys):
    kw = dict(image_size=(8, 8), batch_size=4, seed=11, validation_split=0.4)
    train = utils.image_dataset_from_directory(tree, subset="training", **kw)
    val = utils.image_dataset_from_directory(tree, subset="validation", **kw)
    out = capsys.readouterr().out
    assert "Using 9 files for training." in out and "Using 6 files for validation." in out
    assert len(train.file_paths) == 9 and len(val.file_paths) == 6
    assert not set(train.file_paths) & set(val.file_paths)
    assert sorted(train.file_paths + val.file_paths) == _all_paths(tree)
    both = utils.image_dataset_from_directory(tree, subset="both", verbose=False, **kw)
    assert isinstance(both, tuple) and len(both) == 2
    assert both[0].file_paths == train.file_paths and both[1].file_paths == val.file_paths
    assert both[0].class_names == both[1].class_names == ["blue", "green", "red"]
    # the last 40% of the seeded shuffle are the validation files
    everything = utils.image_dataset_from_directory(tree, image_size=(8, 8), seed=11, verbose=False)
    assert everything.file_paths[-6:] == val.file_paths and everything.file_paths[:-6] == train.file_paths
    for x, y in both[1]:
        assert [_class_of(m) for m in x.mean((1, 2))] == list(y)


def test_image_size_none(tmp_path):
    same = _make_tree(tmp_path / "same", per_class=(2, 1), sizes=(14, 11))
    ds = utils.image_dataset_from_directory(same, image_size=None, batch_size=4, seed=0, verbose=False)
    assert ds.image_size == (14, 11)
    x, y = ds[0]
    assert x.shape == (4, 14, 11, 3)
    mixed = _make_tree(tmp_path / "mixed", per_class=(2, 1), sizes=(14, 11))
    Image.new("RGB", (12, 14), (0, 255, 0)).save(mixed / "green" / "odd.png")
    with pytest.raises(ValueError, match=r"odd\.png.*image_size"):
        utils.image_dataset_from_directory(mixed, image_size=None, shuffle=False, verbose=False)


def test_crop_and_pad_to_aspect_ratio(tmp_path):
    os.makedirs(tmp_path / "a")
    a = np.zeros((10, 20, 3), np.uint8)  # height 10, width 20: blue | red (centre 10 columns) | blue
    a[:, :5, 2] = 255
    a[:, 5:15, 0] = 255
    a[:, 15:, 2] = 255
    Image.fromarray(a).save(tmp_path / "a" / "wide.png")
    kw = dict(image_size=(10, 10), batch_size=1, verbose=False, shuffle=False)
    crop = utils.image_dataset_from_directory(tmp_path, crop_to_aspect_ratio=True, **kw)[0][0][0]
    np.testing.assert_array_equal(crop, np.broadcast_to([255, 0, 0], (10, 10, 3)))
    pad = utils.image_dataset_from_directory(tmp_path, pad_to_aspect_ratio=True, interpolation="nearest", **kw)[0][0][0]
    # resized to 5 x 10 and centred: 2 rows of zeros above, 3 below
    assert np.all(pad[:2] == 0) and np.all(pad[7:] == 0) and np.all(pad[2:7].max(-1) == 255)
    with pytest.raises(ValueError, match="only one of"):
        utils.image_dataset_from_directory(tmp_path, crop_to_aspect_ratio=True, pad_to_aspect_ratio=True, **kw)


def _color_model(size):
    return nncore.Sequential([nncore.Input((size, size, 3)), nncore.layers.Rescaling(1 / 255),
                              nncore.layers.Conv2D(4, 3, activation="relu"),
                              nncore.layers.GlobalAveragePooling2D(), nncore.layers.Dense(3, activation="softmax")])


def test_fit_learns_the_colors(tree):
    train = utils.image_dataset_from_directory(tree, image_size=(16, 16), batch_size=5, seed=2, verbose=False)
    # 4 ReLU filters on 3 flat colors: an unlucky initialisation leaves a class with no live filter (a property of
    # this tiny model, not of the data), so a fresh model gets a second and third chance
    for attempt in range(3):
        model = _color_model(16)
        model.compile(optimizer=nncore.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        history = model.fit(train, epochs=20, verbose=0)
        if history.history["accuracy"][-1] >= 0.9:
            break
    assert history.history["accuracy"][-1] >= 0.9
    loss, acc = model.evaluate(train, verbose=0)
    assert acc >= 0.9
    probs = model.predict(utils.image_dataset_from_directory(tree, image_size=(16, 16), batch_size=4, shuffle=False,
                                                             label_mode=None, verbose=False), verbose=0)
    assert probs.shape == (15, 3)
    np.testing.assert_array_equal(probs.argmax(1), [0] * 5 + [1] * 5 + [2] * 5)


def test_fit_on_the_dataset_equals_fit_on_its_arrays(tree):
    ds = utils.image_dataset_from_directory(tree, image_size=(12, 12), batch_size=5, shuffle=False, verbose=False)
    x = np.concatenate([b[0] for b in ds])
    y = np.concatenate([b[1] for b in ds])
    weights = []
    for data in ((ds,), (x, y)):
        nncore.utils.set_random_seed(3)
        model = _color_model(12)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(*data, **({} if len(data) == 1 else {"batch_size": 5}), epochs=2, shuffle=False, verbose=0)
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def test_fit_with_default_adam_and_validation(tree):
    train, val = utils.image_dataset_from_directory(tree, image_size=(12, 12), batch_size=4, seed=4,
                                                    validation_split=0.2, subset="both", verbose=False)
    model = _color_model(12)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(train, validation_data=val, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0]) and "val_loss" in history.history


def test_dataset_errors(tmp_path, tree):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="empty"):
        utils.image_dataset_from_directory(empty, verbose=False)
    texts = tmp_path / "texts"
    (texts / "a").mkdir(parents=True)
    (texts / "a" / "x.txt").write_text("x")
    with pytest.raises(ValueError, match="texts"):
        utils.image_dataset_from_directory(texts, verbose=False)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        utils.image_dataset_from_directory(tmp_path / "nowhere", verbose=False)
    with pytest.raises(ValueError, match="class_names"):
        utils.image_dataset_from_directory(tree, class_names=["red", "purple"], verbose=False)
    with pytest.raises(ValueError, match="validation_split must be set"):
        utils.image_dataset_from_directory(tree, subset="training", seed=1, verbose=False)
    with pytest.raises(ValueError, match="validation_split must be set"):
        utils.image_dataset_from_directory(tree, validation_split=0.2, seed=1, verbose=False)
    with pytest.raises(ValueError, match="seed"):
        utils.image_dataset_from_directory(tree, validation_split=0.2, subset="training", verbose=False)
    with pytest.raises(ValueError, match="between 0 and 1"):
        utils.image_dataset_from_directory(tree, validation_split=1.5, subset="training", seed=1, verbose=False)
    with pytest.raises(ValueError, match="subset"):
        utils.image_dataset_from_directory(tree, validation_split=0.2, subset="test", seed=1, verbose=False)
    with pytest.raises(ValueError, match="label_mode"):
        utils.image_dataset_from_directory(tree, label_mode="sparse", verbose=False)
    with pytest.raises(ValueError, match="labels"):
        utils.image_dataset_from_directory(tree, labels=[0, 1], verbose=False)
    with pytest.raises(ValueError, match="interpolation"):
        utils.image_dataset_from_directory(tree, interpolation="cubic", verbose=False)
    with pytest.raises(ValueError, match="image_size"):
        utils.image_dataset_from_directory(tree, image_size=(8, 0), verbose=False)
    # a corrupt file: found when its batch is decoded, by fit or by indexing, with its name
    bad = _make_tree(tmp_path / "bad", per_class=(2, 0))
    (bad / "green" / "zz_corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    ds = utils.image_dataset_from_directory(bad, image_size=(8, 8), batch_size=7, shuffle=False, verbose=False)
    with pytest.raises(OSError, match="zz_corrupt.jpg"):
        ds[0]
    model = nncore.Sequential([nncore.Input((8, 8, 3)), nncore.layers.GlobalAveragePooling2D(),
                               nncore.layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    with pytest.raises(OSError, match="zz_corrupt.jpg"):
        model.fit(ds, epochs=1, verbose=0)
    with pytest.raises(OSError, match="zz_corrupt.jpg"):
        utils.image_dataset_from_directory(bad, image_size=None, verbose=False)


# -- against Keras --------------------------------------------------------------------------------------------------

def test_load_img_matches_keras(tree):
    keras = pytest.importorskip("keras")
    path = str(tree / "green" / "img_4.jpg")
    for kw in (dict(target_size=(9, 13), interpolation="bilinear"), dict(target_size=(20, 7)),
               dict(target_size=(10, 10), interpolation="bicubic", keep_aspect_ratio=True),
               dict(color_mode="grayscale"), dict(color_mode="rgba", target_size=(5, 5), interpolation="lanczos")):
        ours = utils.img_to_array(utils.load_img(path, **kw))
        theirs = keras.utils.img_to_array(keras.utils.load_img(path, **kw))
        np.testing.assert_array_equal(ours, theirs)
    x = np.random.default_rng(0).normal(size=(4, 5, 3))
    np.testing.assert_array_equal(np.asarray(utils.array_to_img(x)), np.asarray(keras.utils.array_to_img(x)))


def test_resizing_matches_keras_resize(tree):
    """The dataset's bilinear/nearest resizing equals keras.ops.image.resize (TF's half-pixel kernels; the torch
    backend's bilinear and nearest-exact agree with them)."""
    keras = pytest.importorskip("keras")
    path = str(tree / "red" / "img_3.jpg")
    raw = utils.img_to_array(utils.load_img(path))
    from nncore._images import _resample
    for size in ((9, 13), (40, 31)):
        for method in ("bilinear", "nearest"):
            theirs = keras.ops.convert_to_numpy(keras.ops.image.resize(raw, size, interpolation=method))
            np.testing.assert_allclose(_resample(raw.astype(np.uint8), size, method), theirs, atol=2e-3)
    ds = utils.image_dataset_from_directory(tree, image_size=(9, 13), batch_size=15, shuffle=False, verbose=False)
    k = ds.file_paths.index(path)
    theirs = keras.ops.convert_to_numpy(keras.ops.image.resize(raw, (9, 13), interpolation="bilinear"))
    np.testing.assert_allclose(ds[0][0][k], theirs, atol=2e-3)


def test_file_order_matches_keras(tree):
    keras = pytest.importorskip("keras")
    kw = dict(seed=7, validation_split=0.3, image_size=(8, 8))
    ours = {s: utils.image_dataset_from_directory(tree, subset=s, verbose=False, **kw) for s in ("training",
                                                                                                 "validation")}
    try:
        theirs = {s: keras.utils.image_dataset_from_directory(tree, subset=s, verbose=False, **kw)
                  for s in ("training", "validation")}
        for s in theirs:
            assert ours[s].file_paths == theirs[s].file_paths
            assert ours[s].class_names == theirs[s].class_names
        return
    except ImportError:
        pass  # Keras's dataset is a tf.data (or grain) dataset: compare with the Keras functions that order the files
    from keras.src.utils import dataset_utils
    from nncore._images import ALLOWLIST_FORMATS
    paths, labels, names = dataset_utils.index_directory(str(tree), "inferred", formats=ALLOWLIST_FORMATS,
                                                         shuffle=True, seed=7, verbose=False)
    assert names == ours["training"].class_names
    for s in ("training", "validation"):
        p, lab = dataset_utils.get_training_or_validation_split(paths, labels, 0.3, s)
        assert ours[s].file_paths == p
        np.testing.assert_array_equal(ours[s]._labels, lab)
