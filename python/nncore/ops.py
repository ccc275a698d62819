"""Functional kernels on numpy arrays (float32 in, float32 out), for tests, experiments and custom code.

Example:
    >>> c = nncore.ops.matmul(a, b, transpose_b=True)   # a @ b.T on nncore's GEMM
"""
from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from . import _core
from ._convert import as_float32, pair

__all__ = ["matmul", "matmul_reference", "activation", "activation_backward", "loss", "conv2d", "conv2d_backward"]


def _matrix(a: Any, what: str) -> np.ndarray:
    arr = as_float32(a, f"matmul: {what}")
    if arr.ndim != 2:
        raise ValueError(f"matmul: expected {what} to be 2-D, got shape {arr.shape}")
    return arr


def matmul(a: Any, b: Any, transpose_a: bool = False, transpose_b: bool = False) -> np.ndarray:
    """``op(a) @ op(b)`` with nncore's packed SIMD GEMM; ``transpose_a`` means ``a`` is stored (K, M)."""
    return _core.matmul(_matrix(a, "a"), _matrix(b, "b"), bool(transpose_a), bool(transpose_b))


def matmul_reference(a: Any, b: Any, transpose_a: bool = False, transpose_b: bool = False) -> np.ndarray:
    """The plain reference GEMM that tests use as the oracle of ``matmul``."""
    return _core.matmul_ref(_matrix(a, "a"), _matrix(b, "b"), bool(transpose_a), bool(transpose_b))


def activation(name: str, x: Any, alpha: Optional[float] = None) -> np.ndarray:
    """``act(x)``; softmax runs over the last axis. ``alpha``: leaky_relu slope / elu alpha."""
    return _core.activation_forward(name, as_float32(x, f"activation '{name}': x"), alpha)


def activation_backward(name: str, dy: Any, x: Any, y: Any, alpha: Optional[float] = None) -> np.ndarray:
    """``dy * act'(x)`` given the forward input ``x`` and output ``y``."""
    return _core.activation_backward(name, as_float32(dy, "activation_backward: dy"),
                                     as_float32(x, "activation_backward: x"),
                                     as_float32(y, "activation_backward: y"), alpha)


def loss(name: str, y_pred: Any, y_true: Any, from_logits: bool = False) -> Tuple[float, np.ndarray]:
    """Mean loss over the batch and its gradient with respect to ``y_pred``."""
    return _core.loss(name, as_float32(y_pred, f"{name}: y_pred"), as_float32(y_true, f"{name}: y_true"),
                      bool(from_logits))


def conv2d(x: Any, w: Any, b: Any = None, strides: Any = 1, padding: str = "valid", dilation: Any = 1,
           reference: bool = False) -> np.ndarray:
    """2-D convolution, channels-last: x (B, H, W, C), w (KH, KW, C, OC), b (OC,) -> (B, OH, OW, OC).

    ``padding`` is ``'valid'`` or ``'same'`` (Keras's rule); ``reference=True`` runs the plain direct loops.
    """
    return _core.conv2d(as_float32(x, "conv2d: x"), as_float32(w, "conv2d: w"),
                        None if b is None else as_float32(b, "conv2d: b"), pair(strides, "conv2d: strides"),
                        padding, pair(dilation, "conv2d: dilation"), bool(reference))


def conv2d_backward(dy: Any, x: Any, w: Any, strides: Any = 1, padding: str = "valid", dilation: Any = 1,
                    reference: bool = False) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients ``(dx, dw, db)`` of :func:`conv2d` for the output gradient ``dy``."""
    return _core.conv2d_backward(as_float32(dy, "conv2d_backward: dy"), as_float32(x, "conv2d_backward: x"),
                                 as_float32(w, "conv2d_backward: w"), pair(strides, "conv2d_backward: strides"),
                                 padding, pair(dilation, "conv2d_backward: dilation"), bool(reference))
