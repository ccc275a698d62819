"""Finite-difference check of a model's analytic gradients (``Model.compute_gradients``)."""
from __future__ import annotations

from typing import Any, Dict, List

import numpy as np

from ._convert import as_float32

__all__ = ["gradient_check"]


def _trainable_indices(layer: Any) -> List[int]:
    """Indices into ``layer.weights`` of the trainable weights (views share memory with trainable_weights)."""
    trainable = layer.trainable_weights
    return [i for i, w in enumerate(layer.weights) if any(np.shares_memory(w, t) for t in trainable)]


def gradient_check(model: Any, x: Any, y: Any, epsilon: float = 1e-3, max_checks_per_weight: int = 20,
                   seed: int = 0, floor: float = 1e-3, verbose: bool = False) -> Dict[str, float]:
    """Compares the analytic gradients with central finite differences of the loss.

    For up to ``max_checks_per_weight`` randomly chosen entries ``w`` of every trainable weight, the numeric
    gradient is ``n = (L(w + eps) - L(w - eps)) / (2 eps)``, where ``L`` is the loss that
    ``compute_gradients`` differentiates: the batch mean in inference mode plus the weight penalties. Each
    entry is restored bit-exactly afterwards. The error of an entry is ``|a - n| / max(|a| + |n|, floor)``;
    ``floor`` keeps float32 rounding in the loss from dominating gradients close to zero. Returns
    ``{layer_name: worst error}`` for the layers with trainable weights; below ~1e-2 is a pass in float32.

    Example:
        >>> errors = nncore.gradient_check(model, x[:8], y[:8], verbose=True)
        >>> assert max(errors.values()) < 1e-2
    """
    if max_checks_per_weight < 1:
        raise ValueError(f"gradient_check: max_checks_per_weight must be >= 1, got {max_checks_per_weight}")
    if not epsilon > 0:
        raise ValueError(f"gradient_check: epsilon must be > 0, got {epsilon}")
    # Several inputs or outputs arrive as lists or dicts; the model converts those itself.
    x = x if isinstance(x, (list, tuple, dict)) else as_float32(x, "gradient_check: x")
    y = y if isinstance(y, (list, tuple, dict)) else as_float32(y, "gradient_check: y")
    model.compute_gradients(x, y)
    layers = model._layers  # the layers with weights (model.layers also lists a functional model's InputLayers)
    analytic = {layer.name: [g.copy() for g in layer.gradients] for layer in layers}

    def loss() -> float:
        return model.compute_gradients(x, y)

    rng = np.random.default_rng(seed)
    worst: Dict[str, float] = {}
    rows = []
    for layer in layers:
        names = list(layer._impl.weight_names)
        for i in _trainable_indices(layer):
            w = layer.weights[i]  # a view: writes reach the model
            g = analytic[layer.name][i]
            idx = rng.choice(w.size, size=min(max_checks_per_weight, w.size), replace=False)
            err = 0.0
            for flat in idx:
                j = np.unravel_index(flat, w.shape)
                saved = w[j].copy()
                w[j] = saved + np.float32(epsilon)
                up_step = float(w[j]) - float(saved)  # the step float32 actually took
                lp = loss()
                w[j] = saved - np.float32(epsilon)
                down_step = float(saved) - float(w[j])
                lm = loss()
                w[j] = saved
                n = (lp - lm) / (up_step + down_step)
                a = float(g[j])
                err = max(err, abs(a - n) / max(abs(a) + abs(n), floor))
            worst[layer.name] = max(worst.get(layer.name, 0.0), err)
            rows.append((layer.name, names[i] if i < len(names) else str(i), len(idx), err))
    model.compute_gradients(x, y)  # leave the gradients of the unperturbed weights behind
    if verbose:
        print(f"{'layer':<24}{'weight':<16}{'checked':>8}{'worst error':>14}")
        for name, wname, count, err in rows:
            print(f"{name:<24}{wname:<16}{count:>8}{err:>14.3e}")
    return worst
