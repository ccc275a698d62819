"""Metrics as objects and names (nncore.metrics, Keras 3's keras.metrics): values against hand-computed cases and
NumPy references, the same values inside fit/evaluate, weighted_metrics, per-output metrics, Metric subclasses,
metric functions traced into C++, saving, and the errors for what compile cannot log."""
import json

import numpy as np
import pytest

import nncore
from nncore import metrics as M
from nncore.layers import Dense


# ---- NumPy references -------------------------------------------------------------------------------------------
def confusion_ref(y, p, thresholds, w=None):
    """tp, fp, tn, fn per threshold: positive when p > t, target when y != 0 (Keras's definition)."""
    y = np.asarray(y, np.float64).ravel() != 0
    p = np.asarray(p, np.float64).ravel()
    w = np.ones_like(p) if w is None else np.asarray(w, np.float64).ravel()
    out = []
    for t in thresholds:
        pos = p > t
        out.append([np.sum(w * (y & pos)), np.sum(w * (~y & pos)), np.sum(w * (~y & ~pos)), np.sum(w * (y & ~pos))])
    return np.array(out).T  # (4, T)


def auc_ref(y, p, num_thresholds=200, curve="ROC", summation="interpolation", w=None, thresholds=None):
    eps = 1e-7
    inner = list(thresholds) if thresholds is not None else \
        [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
    t = np.array([-eps] + sorted(inner) + [1 + eps])
    tp, fp, tn, fn = confusion_ref(y, np.clip(p, 0, 1), t, w)
    div = lambda a, b: np.where(b == 0, 0.0, a / np.where(b == 0, 1, b))
    if curve == "PR" and summation == "interpolation":
        dtp = tp[:-1] - tp[1:]
        P = tp + fp
        slope = div(dtp, np.maximum(P[:-1] - P[1:], 0))
        intercept = tp[1:] - slope * P[1:]
        ratio = np.where((P[:-1] > 0) & (P[1:] > 0), div(P[:-1], np.maximum(P[1:], 0)), 1.0)
        return float(np.sum(div(slope * (dtp + intercept * np.log(ratio)), np.maximum(tp[1:] + fn[1:], 0))))
    recall = div(tp, tp + fn)
    x, yv = (div(fp, fp + tn), recall) if curve == "ROC" else (recall, div(tp, tp + fp))
    h = {"interpolation": (yv[:-1] + yv[1:]) / 2, "minoring": np.minimum(yv[:-1], yv[1:]),
         "majoring": np.maximum(yv[:-1], yv[1:])}[summation]
    return float(np.sum((x[:-1] - x[1:]) * h))


def value(m):
    return np.asarray(m.result(), np.float64)


# ---- standalone objects: Keras's documented examples and references ----------------------------------------------
def test_keras_documented_values():
    m = M.AUC(num_thresholds=3)
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    assert value(m) == pytest.approx(0.75)
    m.reset_state()
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9], sample_weight=[1, 0, 0, 1])
    assert value(m) == pytest.approx(1.0)

    p = M.Precision()
    p.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    assert value(p) == pytest.approx(2 / 3)
    p.reset_state()
    p.update_state([0, 1, 1, 1], [1, 0, 1, 1], sample_weight=[0, 0, 1, 0])
    assert value(p) == pytest.approx(1.0)
    p = M.Precision(top_k=2)  # only the two largest of a row are positive
    p.update_state([0, 0, 1, 1], [1, 1, 1, 1])
    assert value(p) == pytest.approx(0.0)
    p = M.Precision(top_k=4)
    p.update_state([0, 0, 1, 1], [1, 1, 1, 1])
    assert value(p) == pytest.approx(0.5)

    r = M.Recall()
    r.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    assert value(r) == pytest.approx(2 / 3)
    r.reset_state()
    r.update_state([0, 1, 1, 1], [1, 0, 1, 1], sample_weight=[0, 0, 1, 0])
    assert value(r) == pytest.approx(1.0)

    f = M.F1Score(threshold=0.5)
    yt = np.array([[1, 1, 1], [1, 0, 0], [1, 1, 0]], np.int32)
    yp = np.array([[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]], np.float32)
    f.update_state(yt, yp)
    np.testing.assert_allclose(value(f), [0.5, 0.8, 0.6666667], rtol=1e-5)
    fm = M.F1Score(average="macro", threshold=0.5)
    fm.update_state(yt, yp)
    assert value(fm) == pytest.approx(np.mean([0.5, 0.8, 2 / 3]), rel=1e-5)

    tp = M.TruePositives()
    tp.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    assert value(tp) == 2.0
    fn = M.FalseNegatives()
    fn.update_state([0, 1, 1, 1], [1, 0, 1, 1], sample_weight=[0, 0, 1, 0])
    assert value(fn) == 0.0

    acc = M.BinaryAccuracy()
    acc.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]])
    assert value(acc) == pytest.approx(0.75)
    top = M.SparseTopKCategoricalAccuracy(k=1)
    top.update_state([2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    assert value(top) == pytest.approx(0.5)
    rmse = M.RootMeanSquaredError()
    rmse.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]])
    assert value(rmse) == pytest.approx(0.5)
    exact = M.Accuracy()
    exact.update_state([[1], [2], [3], [4]], [[0], [2], [3], [4]])
    assert value(exact) == pytest.approx(0.75)


@pytest.mark.parametrize("curve", ["ROC", "PR"])
@pytest.mark.parametrize("summation", ["interpolation", "minoring", "majoring"])
def test_auc_matches_reference(curve, summation):
    rng = np.random.default_rng(1)
    y = (rng.random(301) < 0.4).astype(np.float32)
    p = np.clip(0.3 * y + 0.7 * rng.random(301), 0, 1).astype(np.float32)
    p[:5] = [0.0, 1.0, 0.5, 0.25, 1.0]  # edges and exact thresholds
    w = rng.random(301).astype(np.float32)
    for n in (3, 7, 200):
        m = M.AUC(num_thresholds=n, curve=curve, summation_method=summation)
        m.update_state(y[:150], p[:150], sample_weight=w[:150])  # two batches accumulate
        m.update_state(y[150:], p[150:], sample_weight=w[150:])
        assert value(m) == pytest.approx(auc_ref(y, p, n, curve, summation, w), rel=1e-6, abs=1e-9)
    # Thresholds given unevenly: the plain threshold loop rather than the buckets.
    m = M.AUC(thresholds=[0.1, 0.35, 0.6, 0.9], curve=curve, summation_method=summation)
    m.update_state(y, p)
    assert value(m) == pytest.approx(auc_ref(y, p, curve=curve, summation=summation,
                                             thresholds=[0.1, 0.35, 0.6, 0.9]), rel=1e-6, abs=1e-9)


def test_auc_logits_and_multi_label():
    rng = np.random.default_rng(2)
    y = (rng.random((64, 3)) < 0.5).astype(np.float32)
    z = (2 * y - 1 + rng.standard_normal((64, 3))).astype(np.float32)
    a, b = M.AUC(from_logits=True), M.AUC()
    a.update_state(y, z)
    b.update_state(y, 1 / (1 + np.exp(-z)))
    assert value(a) == pytest.approx(float(value(b)), rel=1e-6)
    ml = M.AUC(multi_label=True)
    ml.update_state(y, 1 / (1 + np.exp(-z)))
    per_label = [auc_ref(y[:, j], 1 / (1 + np.exp(-z[:, j]))) for j in range(3)]
    assert value(ml) == pytest.approx(np.mean(per_label), rel=1e-5)


def test_confusion_metrics_match_reference_on_random_data():
    rng = np.random.default_rng(3)
    y = (rng.random((40, 5)) < 0.3).astype(np.float32)
    p = rng.random((40, 5)).astype(np.float32)
    w = rng.random(40).astype(np.float32)
    t = [0.2, 0.5, 0.7]
    wr = np.repeat(w, 5)
    ref = confusion_ref(y, p, t, wr)
    for k, cls in enumerate((M.TruePositives, M.FalsePositives, M.TrueNegatives, M.FalseNegatives)):
        m = cls(thresholds=t)
        m.update_state(y, p, sample_weight=w)
        np.testing.assert_allclose(value(m), ref[k], rtol=1e-6)
    pr = M.Precision(thresholds=t)
    pr.update_state(y, p, sample_weight=w)
    np.testing.assert_allclose(value(pr), ref[0] / (ref[0] + ref[1]), rtol=1e-6)
    # class_id: one column; top_k: a row's k largest only.
    rc = M.Recall(class_id=2)
    rc.update_state(y, p)
    c = confusion_ref(y[:, 2], p[:, 2], [0.5])
    assert value(rc) == pytest.approx(c[0, 0] / (c[0, 0] + c[3, 0]))
    pk = M.Precision(top_k=2)
    pk.update_state(y, p)
    order = np.argsort(-p, axis=1, kind="stable")[:, :2]
    kept = np.zeros_like(p, bool)
    np.put_along_axis(kept, order, True, axis=1)
    assert value(pk) == pytest.approx(np.sum(kept & (y != 0)) / np.sum(kept))


@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
@pytest.mark.parametrize("threshold", [None, 0.4])
def test_fbeta_matches_reference(average, threshold):
    rng = np.random.default_rng(4)
    y = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 50)]
    p = rng.random((50, 4)).astype(np.float32)
    w = rng.random(50).astype(np.float32)
    beta, eps = 2.0, 1e-7
    pred = (p > threshold) if threshold is not None else (p >= p.max(1, keepdims=True)) & (np.abs(p) > 1e-9)
    pred = pred.astype(np.float64)
    axis = None if average == "micro" else 0
    tp = np.sum(w[:, None] * pred * y, axis=axis)
    fp = np.sum(w[:, None] * pred * (1 - y), axis=axis)
    fn = np.sum(w[:, None] * (1 - pred) * y, axis=axis)
    support = np.sum(w[:, None] * y, axis=axis)
    prec, rec = tp / (tp + fp + eps), tp / (tp + fn + eps)
    f = (1 + beta ** 2) * prec * rec / (beta ** 2 * prec + rec + eps)
    want = f if average is None else np.sum(f * support / (np.sum(support) + eps)) if average == "weighted" \
        else np.mean(f)
    m = M.FBetaScore(average=average, beta=beta, threshold=threshold)
    m.update_state(y[:20], p[:20], sample_weight=w[:20])
    m.update_state(y[20:], p[20:], sample_weight=w[20:])
    np.testing.assert_allclose(value(m), want, rtol=1e-5)


def test_function_metrics_and_mean():
    rng = np.random.default_rng(5)
    t = rng.random((10, 3)).astype(np.float32)
    p = rng.random((10, 3)).astype(np.float32)
    m = M.MeanMetricWrapper(lambda a, b: nncore.ops.mean(nncore.ops.abs(a - b), axis=-1), name="l1")
    m.update_state(t, p)
    assert value(m) == pytest.approx(np.mean(np.abs(t - p)), rel=1e-6)
    kl = M.KLDivergence()
    kl.update_state(t, p)
    tc, pc = np.clip(t, 1e-7, 1), np.clip(p, 1e-7, 1)
    assert value(kl) == pytest.approx(np.mean(np.sum(tc * np.log(tc / pc), -1)), rel=1e-5)
    cs = M.CosineSimilarity()
    cs.update_state(t, p)
    cos = np.sum(t * p, -1) / np.linalg.norm(t, axis=-1) / np.linalg.norm(p, axis=-1)
    assert value(cs) == pytest.approx(np.mean(cos), rel=1e-5)
    mean = M.Mean()
    mean.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    assert value(mean) == pytest.approx(2.0)
    s = M.Sum()
    s.update_state([1, 3, 5, 7])
    assert value(s) == 16.0


# ---- in fit / evaluate ------------------------------------------------------------------------------------------
def _binary_data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 8)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] + 0.3 * rng.standard_normal(n) > 0).astype(np.float32).reshape(-1, 1)
    return x, y


def _binary_model():
    nncore.utils.set_random_seed(0)
    return nncore.Sequential([nncore.Input((8,)), Dense(8, activation="relu"), Dense(1, activation="sigmoid")])


def test_compile_metrics_equal_the_standalone_objects_on_predictions():
    x, y = _binary_data()
    model = _binary_model()
    objs = [M.AUC(), M.AUC(curve="PR", name="pr_auc"), M.Precision(thresholds=0.4), M.Recall(), M.TruePositives(),
            M.F1Score(average="micro", threshold=0.5), M.BinaryCrossentropy(), M.RootMeanSquaredError(),
            M.KLDivergence(), M.MeanMetricWrapper(lambda t, p: nncore.ops.abs(t - p), name="l1")]
    model.compile("adam", "binary_crossentropy", metrics=["accuracy", "auc"][:1] + objs)
    hist = model.fit(x, y, epochs=2, batch_size=32, verbose=0)
    assert set(hist.history) == {"loss", "accuracy", "auc", "pr_auc", "precision", "recall", "true_positives",
                                 "f1_score", "binary_crossentropy", "root_mean_squared_error", "kl_divergence", "l1"}
    logs = model.evaluate(x, y, batch_size=64, verbose=0, return_dict=True)
    p = model.predict(x, verbose=0)
    for obj in objs:
        fresh = type(obj).from_config(obj.get_config()) if not isinstance(obj, M.MeanMetricWrapper) else obj
        fresh.reset_state()
        fresh.update_state(y, p)
        assert logs[obj.name] == pytest.approx(float(value(fresh)), rel=1e-5, abs=1e-7), obj.name
    assert logs["auc"] == pytest.approx(auc_ref(y, p), rel=1e-5)
    assert logs["accuracy"] == pytest.approx(np.mean((p > 0.5) == (y > 0.5)), rel=1e-6)
    assert logs["binary_crossentropy"] == pytest.approx(logs["loss"], rel=1e-5)


def test_metric_state_resets_every_epoch_and_evaluation():
    x, y = _binary_data()
    model = _binary_model()
    model.compile("sgd", "binary_crossentropy", metrics=[M.TruePositives(), M.FalseNegatives()])
    h = model.fit(x, y, epochs=3, batch_size=50, verbose=0, shuffle=False)
    # Counts of one epoch's samples: the positives split into TP and FN every epoch.
    for tp, fn in zip(h.history["true_positives"], h.history["false_negatives"]):
        assert tp + fn == pytest.approx(float(y.sum()))
    r1 = model.evaluate(x, y, verbose=0, return_dict=True)
    r2 = model.evaluate(x, y, verbose=0, return_dict=True)
    assert r1 == r2


def test_weighted_metrics_read_sample_weights():
    x, y = _binary_data()
    w = np.random.default_rng(9).random(len(x)).astype(np.float32)
    model = _binary_model()
    model.compile("adam", "binary_crossentropy", metrics=["accuracy", M.AUC()],
                  weighted_metrics=[M.BinaryAccuracy(name="w_acc"), M.AUC(name="w_auc")])
    logs = model.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)
    p = model.predict(x, verbose=0)
    hit = ((p > 0.5) == (y > 0.5)).ravel()
    assert logs["accuracy"] == pytest.approx(hit.mean(), rel=1e-6)
    assert logs["w_acc"] == pytest.approx(np.sum(w * hit) / np.sum(w), rel=1e-6)
    assert logs["auc"] == pytest.approx(auc_ref(y, p), rel=1e-5)
    assert logs["w_auc"] == pytest.approx(auc_ref(y, p, w=w), rel=1e-5)
    h = model.fit(x, y, sample_weight=w, epochs=1, batch_size=40, verbose=0)
    assert "w_auc" in h.history


def test_per_output_metrics_as_lists_and_dicts():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((64, 6)).astype(np.float32)
    yc = rng.integers(0, 3, 64).astype(np.float32)
    yr = rng.standard_normal((64, 2)).astype(np.float32)
    inp = nncore.Input((6,))
    h = Dense(8, activation="relu")(inp)
    cls = Dense(3, activation="softmax", name="cls")(h)
    reg = Dense(2, name="reg")(h)
    model = nncore.Model(inp, [cls, reg])
    model.compile("adam", ["sparse_categorical_crossentropy", "mse"],
                  metrics={"cls": ["accuracy", M.SparseTopKCategoricalAccuracy(k=2)], "reg": [M.MeanAbsoluteError()]})
    assert model.metrics_names == ["loss", "cls_loss", "reg_loss", "cls_accuracy",
                                   "cls_sparse_top_k_categorical_accuracy", "reg_mean_absolute_error"]
    logs = model.evaluate(x, [yc, yr], verbose=0, return_dict=True)
    pc, pr = model.predict(x, verbose=0)
    assert logs["cls_accuracy"] == pytest.approx(np.mean(np.argmax(pc, 1) == yc), rel=1e-6)
    assert logs["reg_mean_absolute_error"] == pytest.approx(np.mean(np.abs(pr - yr)), rel=1e-5)
    model.compile("adam", ["sparse_categorical_crossentropy", "mse"], metrics=[["accuracy"], ["mae", "mse"]])
    assert model.metrics_names[3:] == ["cls_accuracy", "reg_mae", "reg_mse"]
    model.compile("adam", ["sparse_categorical_crossentropy", "mse"], metrics={"reg": "mae"})
    assert model.metrics_names[3:] == ["reg_mae"]
    with pytest.raises(ValueError, match=r"metrics names unknown output\(s\) \['nope'\]"):
        model.compile("adam", ["sparse_categorical_crossentropy", "mse"], metrics={"nope": "mae"})


class CategoricalTruePositives(M.Metric):
    """The keras-io guide's custom metric (training_with_built_in_methods), as written there."""

    def __init__(self, name="categorical_true_positives", **kwargs):
        super().__init__(name=name, **kwargs)
        self.true_positives = self.add_variable(shape=(), name="ctp", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        ops = nncore.ops
        y_pred = ops.reshape(ops.argmax(y_pred, axis=1), (-1, 1))
        values = ops.cast(y_true, "int32") == ops.cast(y_pred, "int32")
        values = ops.cast(values, "float32")
        if sample_weight is not None:
            sample_weight = ops.cast(sample_weight, "float32")
            values = ops.multiply(values, sample_weight)
        self.true_positives.assign_add(ops.sum(values))

    def result(self):
        return self.true_positives

    def reset_state(self):
        self.true_positives.assign(0.0)


def test_metric_subclass_runs_in_fit_and_evaluate():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((90, 5)).astype(np.float32)
    y = rng.integers(0, 4, 90).astype(np.float32)
    model = nncore.Sequential([nncore.Input((5,)), Dense(4, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=[CategoricalTruePositives()])
    # update_state sees y_true shaped as given, as in Keras: the metric compares it with a (batch, 1) column, so its
    # labels go in as a column too (labels of shape (n,) broadcast to (batch, batch) there, in Keras as here).
    h = model.fit(x, y.reshape(-1, 1), epochs=2, batch_size=32, verbose=0)
    assert len(h.history["categorical_true_positives"]) == 2
    assert all(0 <= v <= 90 for v in h.history["categorical_true_positives"])
    logs = model.evaluate(x, y.reshape(-1, 1), verbose=0, return_dict=True)
    p = model.predict(x, verbose=0)
    assert logs["categorical_true_positives"] == np.sum(np.argmax(p, 1) == y)
    # A metric that fails names itself.
    class Broken(M.Metric):
        def update_state(self, y_true, y_pred, sample_weight=None):
            raise RuntimeError("broken metric")

        def result(self):
            return 0.0
    model.compile("adam", "sparse_categorical_crossentropy", metrics=[Broken()])
    with pytest.raises(RuntimeError, match="broken metric"):
        model.fit(x, y, epochs=1, verbose=0)


def test_metric_functions_are_traced_for_sparse_and_dense_targets():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((50, 5)).astype(np.float32)
    y = rng.integers(0, 3, 50).astype(np.float32)

    def max_plus_label(y_true, y_pred):  # y_true: one integer label per sample, as the sparse loss reads it
        return nncore.ops.max(y_pred, axis=-1) + nncore.ops.mean(y_true, axis=-1)

    model = nncore.Sequential([nncore.Input((5,)), Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=[max_plus_label])
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    p = model.predict(x, verbose=0)
    assert logs["max_plus_label"] == pytest.approx(np.mean(p.max(1) + y), rel=1e-5)


def test_metrics_survive_save_and_load(tmp_path):
    x, y = _binary_data()
    w = np.linspace(0.5, 1.5, len(x)).astype(np.float32)
    model = _binary_model()
    model.compile("adam", "binary_crossentropy", metrics=["accuracy", M.Precision(thresholds=0.3, name="p30"),
                                                         M.AUC(num_thresholds=50, curve="PR"), "kl_divergence"],
                  weighted_metrics=[M.Recall(name="w_recall")])
    model.fit(x, y, epochs=1, verbose=0)
    before = model.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)
    model.save(tmp_path / "m.nncore")
    loaded = nncore.load_model(tmp_path / "m.nncore")
    assert loaded.metrics_names == model.metrics_names
    after = loaded.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)
    for k in before:
        assert after[k] == pytest.approx(before[k], rel=1e-6), k


def test_metric_subclass_is_skipped_by_a_loaded_file(tmp_path):
    x, y = _binary_data()
    model = _binary_model()

    class Count(M.Metric):
        def __init__(self, name="count", **kw):
            super().__init__(name=name, **kw)
            self.n = self.add_variable(name="n")

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.n.assign_add(len(y_pred))

        def result(self):
            return self.n

    model.compile("adam", "binary_crossentropy", metrics=["accuracy", Count()])
    assert model.evaluate(x, y, verbose=0, return_dict=True)["count"] == len(x)
    model.save(tmp_path / "m.nncore")
    loaded = nncore.load_model(tmp_path / "m.nncore")
    assert loaded.metrics_names == ["loss", "accuracy"]


# ---- what compile refuses -------------------------------------------------------------------------------------------
def test_compile_refuses_with_clear_errors():
    model = _binary_model()
    with pytest.raises(ValueError, match=r"unknown metric 'precison'; valid metrics: accuracy.*precision"):
        model.compile("adam", "binary_crossentropy", metrics=["precison"])
    three = nncore.Sequential([nncore.Input((4,)), Dense(3, activation="softmax")])
    with pytest.raises(ValueError, match=r"'f1_score' with average=None gives one value per class \(3\).*"
                                         r"average='macro'"):
        three.compile("adam", "categorical_crossentropy", metrics=[M.F1Score()])
    with pytest.raises(ValueError, match=r"'precision' has 2 thresholds.*its own metric"):
        model.compile("adam", "binary_crossentropy", metrics=[M.Precision(thresholds=[0.3, 0.6])])
    with pytest.raises(ValueError, match=r"Mean 'mean' averages the values you give update_state"):
        model.compile("adam", "binary_crossentropy", metrics=[M.Mean()])
    with pytest.raises(ValueError, match=r"two metrics of the model are named 'auc'"):
        model.compile("adam", "binary_crossentropy", metrics=["auc", M.AUC()])
    with pytest.raises(ValueError, match=r"threshold values must be in \[0, 1\], got 1.5"):
        M.Precision(thresholds=1.5)
    with pytest.raises(ValueError, match=r"num_thresholds must be an integer > 1, got 1"):
        M.AUC(num_thresholds=1)
    with pytest.raises(ValueError, match=r"curve must be 'ROC' or 'PR', got 'XY'"):
        M.AUC(curve="XY")
    with pytest.raises(ValueError, match=r"average must be None, 'micro', 'macro' or 'weighted', got 'mean'"):
        M.F1Score(average="mean")
    with pytest.raises(ValueError, match=r"class_id 7 is out of range for 3 classes"):
        m = M.Precision(class_id=7)
        m.update_state(np.eye(3)[[0, 1]], np.eye(3)[[0, 1]])
    sparse = nncore.Sequential([nncore.Input((4,)), Dense(3, activation="softmax")])
    with pytest.raises(ValueError, match=r"metric 'precision'.*loss 'sparse_categorical_crossentropy' takes integer "
                                         r"labels.*incompatible shapes"):
        sparse.compile("adam", "sparse_categorical_crossentropy", metrics=[M.Precision()])


def test_names_and_serialization():
    assert M.get("auc").name == "auc" and isinstance(M.get("AUC"), M.AUC)
    assert M.get("accuracy") == "accuracy"  # resolved against the loss at compile
    p = M.Precision(thresholds=0.3, top_k=None, class_id=1, name="p")
    q = M.deserialize(json.loads(json.dumps(M.serialize(p))))
    assert isinstance(q, M.Precision) and q.get_config() == p.get_config()
    assert set(["precision", "recall", "auc", "f1_score", "true_positives", "root_mean_squared_error"]) <= \
        set(nncore._core.metric_names())


def test_matches_keras_when_available():
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(10)
    y = (rng.random((100, 4)) < 0.4).astype(np.float32)
    p = rng.random((100, 4)).astype(np.float32)
    w = rng.random(100).astype(np.float32)
    pairs = [(M.AUC(), keras.metrics.AUC()), (M.AUC(curve="PR"), keras.metrics.AUC(curve="PR")),
             (M.Precision(thresholds=0.4), keras.metrics.Precision(thresholds=0.4)),
             (M.Recall(top_k=2), keras.metrics.Recall(top_k=2)),
             (M.F1Score(average="weighted"), keras.metrics.F1Score(average="weighted")),
             (M.AUC(multi_label=True), keras.metrics.AUC(multi_label=True))]
    for ours, theirs in pairs:
        ours.update_state(y, p, sample_weight=w)
        theirs.update_state(y, p, sample_weight=w)
        assert float(value(ours)) == pytest.approx(float(np.asarray(theirs.result())), rel=1e-4), type(ours).__name__
