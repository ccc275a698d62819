"""Keras's ``keras.utils``: label and array helpers, sequence padding, seeding, drawing a model's graph, and image
files (``load_img``, ``img_to_array``, ``array_to_img``, ``save_img``, ``image_dataset_from_directory``; these need
Pillow).

Example:
    >>> y = nncore.utils.to_categorical([0, 2, 1], num_classes=3)
    >>> nncore.utils.plot_model(model, "model.png", show_shapes=True)   # needs pydot and graphviz
"""
from __future__ import annotations

import os
from typing import Any, List, Optional, Sequence

import numpy as np

from ._convert import py_shape

from ._feeds import PyDataset, Sequence  # noqa: E402,F401
from ._images import (array_to_img, image_dataset_from_directory, img_to_array, load_img,  # noqa: E402,F401
                      save_img)

__all__ = ["to_categorical", "normalize", "pad_sequences", "set_random_seed", "plot_model", "model_to_dot",
           "PyDataset", "Sequence", "split_dataset", "load_img", "img_to_array", "array_to_img", "save_img",
           "image_dataset_from_directory"]


def to_categorical(x: Any, num_classes: Optional[int] = None) -> np.ndarray:
    """One-hot rows for integer class labels (``(N,)`` or ``(N, 1)`` -> ``(N, num_classes)``; other shapes gain a
    last axis), float32 as Keras."""
    x = np.asarray(x)
    if x.size and (not np.all(np.isfinite(x)) or np.any(x != np.floor(x)) or np.any(x < 0)):
        raise ValueError("to_categorical: expected integer class labels >= 0")
    x = x.astype(np.int64)
    if x.ndim > 1 and x.shape[-1] == 1:
        x = x.reshape(x.shape[:-1])
    if num_classes is None:
        num_classes = int(x.max()) + 1 if x.size else 0
    num_classes = int(num_classes)
    if x.size and int(x.max()) >= num_classes:
        raise ValueError(f"to_categorical: label {int(x.max())} is out of range for num_classes={num_classes}")
    out = np.zeros(x.shape + (num_classes,), np.float32)
    np.put_along_axis(out, x[..., None], 1.0, axis=-1)
    return out


def normalize(x: Any, axis: int = -1, order: int = 2) -> np.ndarray:
    """``x`` divided by its ``order``-norm along ``axis`` (rows of zeros stay zeros)."""
    x = np.asarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, ord=order, axis=axis, keepdims=True)
    return x / np.where(norm == 0, 1, norm)


def pad_sequences(sequences: Sequence[Sequence[Any]], maxlen: Optional[int] = None, dtype: Any = "int32",
                  padding: str = "pre", truncating: str = "pre", value: Any = 0.0) -> np.ndarray:
    """Keras's pad_sequences: a list of sequences as one ``(len(sequences), maxlen)`` array, padded with ``value``
    and cut to ``maxlen``, at the start (``"pre"``, Keras's default) or the end (``"post"``)."""
    if padding not in ("pre", "post"):
        raise ValueError(f"pad_sequences: padding must be 'pre' or 'post', got {padding!r}")
    if truncating not in ("pre", "post"):
        raise ValueError(f"pad_sequences: truncating must be 'pre' or 'post', got {truncating!r}")
    seqs = [np.asarray(s) for s in sequences]
    lengths = [len(s) for s in seqs]
    if maxlen is None:
        maxlen = max(lengths) if lengths else 0
    if maxlen < 0:
        raise ValueError(f"pad_sequences: maxlen must be >= 0, got {maxlen}")
    sample_shape = next((s.shape[1:] for s in seqs if len(s)), ())
    out = np.full((len(seqs), maxlen) + tuple(sample_shape), value, dtype=dtype)
    for i, s in enumerate(seqs):
        if not len(s) or maxlen == 0:
            continue
        if s.shape[1:] != sample_shape:
            raise ValueError(f"pad_sequences: sequence {i} has elements of shape {s.shape[1:]}, the others "
                             f"{sample_shape}")
        cut = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        if padding == "post":
            out[i, :len(cut)] = cut
        else:
            out[i, maxlen - len(cut):] = cut
    return out


def split_dataset(dataset: Any, left_size: Any = None, right_size: Any = None, shuffle: bool = False,
                  seed: Optional[int] = None) -> tuple:
    """Keras's split_dataset for in-memory data: an array or a tuple/list of arrays (x, y, ...) with one first axis,
    split into (left, right) of the same structure. Sizes are fractions in (0, 1) or sample counts; one may be
    None (the rest); ``shuffle`` permutes the samples first (seeded)."""
    parts = list(dataset) if isinstance(dataset, (tuple, list)) else [dataset]
    arrays = [np.asarray(a) for a in parts]
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError(f"split_dataset: the arrays must have the same number of samples, got "
                         f"{[len(a) for a in arrays]}")

    def count(size: Any, what: str) -> Optional[int]:
        if size is None:
            return None
        if isinstance(size, float):
            if not 0.0 < size < 1.0:
                raise ValueError(f"split_dataset: {what} as a fraction must be in (0, 1), got {size}")
            return int(round(size * n))
        if int(size) < 0 or int(size) > n:
            raise ValueError(f"split_dataset: {what} must be in [0, {n}], got {size}")
        return int(size)

    left, right = count(left_size, "left_size"), count(right_size, "right_size")
    if left is None and right is None:
        raise ValueError("split_dataset: give left_size or right_size")
    left = n - right if left is None else left
    right = n - left if right is None else right
    if left + right > n:
        raise ValueError(f"split_dataset: left_size + right_size = {left + right} exceeds the {n} samples")
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    a = [arr[order[:left]] for arr in arrays]
    b = [arr[order[left:left + right]] for arr in arrays]
    if not isinstance(dataset, (tuple, list)):
        return a[0], b[0]
    return type(dataset)(a) if isinstance(dataset, list) else tuple(a), \
        type(dataset)(b) if isinstance(dataset, list) else tuple(b)


def set_random_seed(seed: int) -> None:
    """Seeds nncore's weight initializers, dropout and shuffling (``nncore.set_random_seed``) and NumPy's global
    generator, as Keras's does for its backends."""
    import nncore
    nncore.set_random_seed(int(seed))
    np.random.seed(int(seed) % 2 ** 32)


# ---- drawing the graph ----------------------------------------------------------------------------------------------
def _pydot() -> Any:
    try:
        import pydot
    except ImportError as exc:
        raise ImportError("plot_model needs pydot and Graphviz: pip install 'nncore[plot]' (pydot) and install "
                          "Graphviz's dot program (apt-get install graphviz; brew install graphviz)") from exc
    return pydot


def _shape_text(shapes: List[tuple]) -> str:
    text = ", ".join(str(s) for s in shapes)
    return text if len(shapes) == 1 else f"[{text}]"


def model_to_dot(model: Any, show_shapes: bool = False, show_dtype: bool = False, show_layer_names: bool = True,
                 rankdir: str = "TB", expand_nested: bool = False, dpi: int = 200,
                 show_layer_activations: bool = False, show_trainable: bool = False) -> Any:
    """The model's graph as a ``pydot.Dot``: a node per model input and per layer call, an edge per tensor."""
    if rankdir not in ("TB", "LR"):
        raise ValueError(f"plot_model: rankdir must be 'TB' or 'LR', got {rankdir!r}")
    if getattr(model, "_impl", None) is None or not model._impl.built:
        raise ValueError(f"plot_model: model '{model.name}' is not built yet: start it with nncore.Input(shape) or "
                         "call it on data first")
    pydot = _pydot()
    impl = model._impl
    dot = pydot.Dot(graph_type="digraph", rankdir=rankdir, dpi=str(dpi), concentrate="true")
    dot.set_node_defaults(shape="record", fontname="Helvetica", fontsize="11")
    by_name = {l.name: l for l in model.layers}

    def label(name: str, cls: str, ins: List[tuple], outs: List[tuple], layer: Any) -> str:
        title = f"{name} ({cls})" if show_layer_names else cls
        if show_layer_activations and layer is not None:
            act = getattr(layer, "activation", None) or _config_of(layer).get("activation")
            act = getattr(act, "__name__", act)
            if isinstance(act, str) and act != "linear":
                title += f"\\nactivation: {act}"
        if show_trainable and layer is not None:
            title += f"\\ntrainable: {'yes' if layer.trainable else 'no'}"
        if not show_shapes:
            return title
        rows = [title]
        if ins:
            rows.append("input: " + _shape_text(ins))
        rows.append("output: " + _shape_text(outs))
        if show_dtype:
            rows.append("dtype: float32")
        return "{" + "|".join(r.replace("{", "\\{").replace("}", "\\}") for r in rows) + "}"

    ids = {}
    for i in range(impl.num_inputs):
        name = impl.input_name(i)
        shape = (None, *py_shape(impl.input_shape_of(i)))
        ids[(name, 0)] = f"input_{i}"
        dot.add_node(pydot.Node(ids[(name, 0)], label=label(name, "InputLayer", [], [shape], None)))
    value_shapes = {(impl.input_name(i), 0, 0): list(impl.input_shape_of(i)) for i in range(impl.num_inputs)}
    for k in range(impl.num_nodes):
        core = impl.node_layer(k)
        call = impl.node_call_index(k)
        refs = impl.node_inputs(k)
        node_id = f"node_{k}"
        ids[(core.name, call)] = node_id
        ins = [value_shapes[(r.layer, r.call, r.output)] for r in refs]  # per sample, -1 unknown
        outs = [list(o) for o in core.output_shapes_for(ins)]
        for j, o in enumerate(outs):
            value_shapes[(core.name, call, j)] = o
        layer = by_name.get(core.name)
        name = core.name if call == 0 else f"{core.name} (call {call})"
        shown = lambda ss: [(None, *py_shape(x)) for x in ss]  # noqa: E731
        dot.add_node(pydot.Node(node_id, label=label(name, core.class_name, shown(ins), shown(outs), layer)))
        for r in refs:
            dot.add_edge(pydot.Edge(ids[(r.layer, r.call)], node_id))
    return dot


def _config_of(layer: Any) -> dict:
    try:
        return layer.get_config()
    except Exception:  # a custom layer without get_config: nothing to show
        return {}


def plot_model(model: Any, to_file: str = "model.png", show_shapes: bool = False, show_dtype: bool = False,
               show_layer_names: bool = True, rankdir: str = "TB", expand_nested: bool = False, dpi: int = 200,
               show_layer_activations: bool = False, show_trainable: bool = False, **kwargs: Any) -> None:
    """Draws the model's graph to ``to_file`` (the format from its extension: png, svg, pdf, dot, ...) with pydot
    and Graphviz (an optional extra: ``pip install 'nncore[plot]'`` and Graphviz's ``dot`` program). A nested model
    is drawn as one node (``expand_nested`` is accepted and not built yet)."""
    unknown = set(kwargs) - {"show_layer_range"}
    if unknown:
        raise TypeError(f"plot_model: unexpected keyword argument(s): {', '.join(sorted(unknown))}")
    dot = model_to_dot(model, show_shapes=show_shapes, show_dtype=show_dtype, show_layer_names=show_layer_names,
                       rankdir=rankdir, expand_nested=expand_nested, dpi=dpi,
                       show_layer_activations=show_layer_activations, show_trainable=show_trainable)
    to_file = os.fspath(to_file)
    ext = os.path.splitext(to_file)[1].lstrip(".").lower() or "png"
    try:
        if ext == "dot":
            dot.write_raw(to_file)
        else:
            dot.write(to_file, format=ext)
    except FileNotFoundError as exc:
        raise ImportError("plot_model: Graphviz's dot program was not found; install Graphviz (apt-get install "
                          "graphviz; brew install graphviz) to draw models") from exc
