"""Keras 3's ``keras.ops`` (on numpy arrays eagerly, on KerasTensors as nodes of a model's graph, see
``_keras_ops``), and nncore's functional kernels on numpy arrays (float32 in, float32 out) for tests,
experiments and custom code.

Example:
    >>> c = nncore.ops.matmul(a, b, transpose_b=True)   # a @ b.T on nncore's GEMM
    >>> h = nncore.ops.relu(nncore.ops.matmul(x, w) + b)  # x a KerasTensor: two graph nodes
"""
from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from . import _core
from ._convert import as_float32, pair

from . import _keras_ops
from ._keras_ops import *  # noqa: F401,F403 - the Keras ops

__all__ = ["matmul", "matmul_reference", "matmul_packed", "activation", "activation_backward", "loss", "conv2d",
           "conv2d_backward", "simple_rnn", "simple_rnn_backward", "lstm", "lstm_backward", "gru", "gru_backward",
           *_keras_ops.__all__]


def _matrix(a: Any, what: str) -> np.ndarray:
    arr = as_float32(a, f"matmul: {what}")
    if arr.ndim != 2:
        raise ValueError(f"matmul: expected {what} to be 2-D, got shape {arr.shape}")
    return arr


def matmul(a: Any, b: Any, transpose_a: bool = False, transpose_b: bool = False) -> Any:
    """``op(a) @ op(b)``. On KerasTensors a graph node (see ``_keras_ops.matmul_graph``); on 2-D arrays nncore's
    packed SIMD GEMM (``transpose_a`` means ``a`` is stored (K, M)); on other arrays numpy's matmul."""
    if _keras_ops._any_symbolic(a, b):
        if transpose_a or transpose_b:
            raise ValueError("ops.matmul: transpose_a/transpose_b are for arrays; on KerasTensors use ops.transpose")
        return _keras_ops.matmul_graph(a, b)
    if np.ndim(a) != 2 or np.ndim(b) != 2:
        a_, b_ = np.asarray(a), np.asarray(b)
        return np.matmul(np.swapaxes(a_, -1, -2) if transpose_a else a_, np.swapaxes(b_, -1, -2) if transpose_b else b_)
    return _core.matmul(_matrix(a, "a"), _matrix(b, "b"), bool(transpose_a), bool(transpose_b))


def matmul_reference(a: Any, b: Any, transpose_a: bool = False, transpose_b: bool = False) -> np.ndarray:
    """The plain reference GEMM that tests use as the oracle of ``matmul``."""
    return _core.matmul_ref(_matrix(a, "a"), _matrix(b, "b"), bool(transpose_a), bool(transpose_b))


def matmul_int8(a: Any, b: Any, reference: bool = False) -> np.ndarray:
    """``a @ b`` for int8 matrices a (M, K) and b (K, N), exactly, as int32 (K < 131072): the integer GEMM of
    quantized inference, on AMX tiles (8 rows or more) or AVX-512 VNNI where the CPU has them, else AVX2 or
    generic code. ``reference``: the plain loop twin."""
    def int8_matrix(x: Any, what: str) -> np.ndarray:
        arr = np.asarray(x)
        if arr.dtype != np.int8:
            raise TypeError(f"matmul_int8: expected {what} of dtype int8, got {arr.dtype}")
        if arr.ndim != 2:
            raise ValueError(f"matmul_int8: expected {what} to be 2-D, got shape {arr.shape}")
        return arr
    a_, b_ = int8_matrix(a, "a"), int8_matrix(b, "b")
    if a_.shape[1] != b_.shape[0]:
        raise ValueError(f"matmul_int8: a {a_.shape} and b {b_.shape}: inner dimensions differ")
    return _core.matmul_int8(a_, b_, bool(reference))


def matmul_packed(a: Any, b: Any, transpose_a: bool = False, transpose_b: bool = False, c: Any = None,
                  beta: float = 0.0, bias: Any = None, small_m: bool = False) -> np.ndarray:
    """``beta * c[s] + op(a[s]) @ op(b) + bias`` for every slice ``s`` of a 3-D ``a``, with ``op(b)`` packed once
    for the GEMM and reused by every slice (as recurrent layers do at each time step). ``small_m``: ``b`` (not
    transposed) packed in the layout of the kernel for products of few rows, as a Dense layer keeps its kernel for
    inference."""
    return _core.matmul_packed(as_float32(a, "matmul_packed: a"), _matrix(b, "b"), bool(transpose_a),
                               bool(transpose_b), None if c is None else as_float32(c, "matmul_packed: c"),
                               float(beta), None if bias is None else as_float32(bias, "matmul_packed: bias"),
                               bool(small_m))


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


# ---- recurrent layers as functions over whole sequences -------------------------------------------------------

def _optional(a: Any, what: str) -> Optional[np.ndarray]:
    return None if a is None else as_float32(a, what)


def _arrays(arrays: Optional[Sequence[Any]], what: str) -> List[np.ndarray]:
    if arrays is None:
        return []
    if isinstance(arrays, np.ndarray):
        arrays = [arrays]
    return [as_float32(a, what) for a in arrays]


def _rnn(cell: str, activation: str, x: Any, kernel: Any, recurrent_kernel: Any, bias: Any, mask: Any,
         initial_state: Any, return_sequences: bool, go_backwards: bool, zero_output_for_mask: bool,
         reference: bool, recurrent_mask: Any = None) -> Tuple[np.ndarray, list]:
    return _core.rnn(cell, activation, as_float32(x, f"{cell}: x"), as_float32(kernel, f"{cell}: kernel"),
                     as_float32(recurrent_kernel, f"{cell}: recurrent_kernel"), _optional(bias, f"{cell}: bias"),
                     _optional(mask, f"{cell}: mask"), _arrays(initial_state, f"{cell}: initial_state"),
                     bool(return_sequences), bool(go_backwards), bool(zero_output_for_mask), bool(reference),
                     _optional(recurrent_mask, f"{cell}: recurrent_mask"))


def _rnn_backward(cell: str, activation: str, dy: Any, dstates: Any, x: Any, kernel: Any, recurrent_kernel: Any,
                  bias: Any, mask: Any, initial_state: Any, return_sequences: bool, go_backwards: bool,
                  zero_output_for_mask: bool, reference: bool, recurrent_mask: Any = None) -> tuple:
    return _core.rnn_backward(cell, activation, as_float32(dy, f"{cell}_backward: dy"),
                              _arrays(dstates, f"{cell}_backward: dstates"), as_float32(x, f"{cell}_backward: x"),
                              as_float32(kernel, f"{cell}_backward: kernel"),
                              as_float32(recurrent_kernel, f"{cell}_backward: recurrent_kernel"),
                              _optional(bias, f"{cell}_backward: bias"), _optional(mask, f"{cell}_backward: mask"),
                              _arrays(initial_state, f"{cell}_backward: initial_state"), bool(return_sequences),
                              bool(go_backwards), bool(zero_output_for_mask), bool(reference),
                              _optional(recurrent_mask, f"{cell}_backward: recurrent_mask"))


def lstm(x: Any, kernel: Any, recurrent_kernel: Any, bias: Any = None, mask: Any = None, initial_state: Any = None,
         return_sequences: bool = True, go_backwards: bool = False, zero_output_for_mask: bool = False,
         reference: bool = False, recurrent_mask: Any = None
         ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An LSTM over a whole sequence with Keras's weights: returns ``(y, h, c)``.

    x (B, T, I); kernel (I, 4U), recurrent_kernel (U, 4U), bias (4U,) or None; gates i, f, c, o. ``y`` is
    (B, T, U) with ``return_sequences``, else the last output (B, U); ``h``, ``c`` the final states. ``mask``
    (B, T) of 0/1: masked steps keep the states and output the previous state (zeros with
    ``zero_output_for_mask``). ``initial_state``: ``[h0, c0]`` or None (zeros). ``reference=True`` runs the plain
    step-by-step loops.
    ``recurrent_mask`` (B, U): multiplies the state fed to the recurrent kernel at every step (recurrent
    dropout's mask).

    Example:
        >>> y, h, c = nncore.ops.lstm(x, kernel, recurrent_kernel, bias)
    """
    y, states = _rnn("lstm", "tanh", x, kernel, recurrent_kernel, bias, mask, initial_state, return_sequences,
                     go_backwards, zero_output_for_mask, reference, recurrent_mask)
    return y, states[0], states[1]


def lstm_backward(dy: Any, x: Any, kernel: Any, recurrent_kernel: Any, bias: Any = None, mask: Any = None,
                  initial_state: Any = None, dstates: Any = None, return_sequences: bool = True,
                  go_backwards: bool = False, zero_output_for_mask: bool = False, reference: bool = False,
                  recurrent_mask: Any = None) -> tuple:
    """Gradients of :func:`lstm` for the output gradient ``dy`` (and optionally ``dstates = [dh, dc]`` of the
    final states): ``(dx, dkernel, drecurrent_kernel, dbias, [dh0, dc0])`` (``dbias`` None without a bias)."""
    return _rnn_backward("lstm", "tanh", dy, dstates, x, kernel, recurrent_kernel, bias, mask, initial_state,
                         return_sequences, go_backwards, zero_output_for_mask, reference, recurrent_mask)


def gru(x: Any, kernel: Any, recurrent_kernel: Any, bias: Any = None, mask: Any = None, initial_state: Any = None,
        return_sequences: bool = True, go_backwards: bool = False, zero_output_for_mask: bool = False,
        reference: bool = False, recurrent_mask: Any = None) -> Tuple[np.ndarray, np.ndarray]:
    """A GRU (Keras's ``reset_after=True`` form) over a whole sequence: returns ``(y, h)``.

    kernel (I, 3U), recurrent_kernel (U, 3U), bias (2, 3U) or None (row 0 input bias, row 1 recurrent bias);
    gates z, r, h. Other arguments as :func:`lstm` (``initial_state``: ``[h0]``).
    """
    y, states = _rnn("gru", "tanh", x, kernel, recurrent_kernel, bias, mask, initial_state, return_sequences,
                     go_backwards, zero_output_for_mask, reference, recurrent_mask)
    return y, states[0]


def gru_backward(dy: Any, x: Any, kernel: Any, recurrent_kernel: Any, bias: Any = None, mask: Any = None,
                 initial_state: Any = None, dstates: Any = None, return_sequences: bool = True,
                 go_backwards: bool = False, zero_output_for_mask: bool = False, reference: bool = False,
                 recurrent_mask: Any = None) -> tuple:
    """Gradients of :func:`gru`: ``(dx, dkernel, drecurrent_kernel, dbias, [dh0])``."""
    return _rnn_backward("gru", "tanh", dy, dstates, x, kernel, recurrent_kernel, bias, mask, initial_state,
                         return_sequences, go_backwards, zero_output_for_mask, reference, recurrent_mask)


def simple_rnn(x: Any, kernel: Any, recurrent_kernel: Any, bias: Any = None, activation: str = "tanh",
               mask: Any = None, initial_state: Any = None, return_sequences: bool = True, go_backwards: bool = False,
               zero_output_for_mask: bool = False, reference: bool = False, recurrent_mask: Any = None
               ) -> Tuple[np.ndarray, np.ndarray]:
    """A SimpleRNN, ``h = activation(x W + h U + b)``, over a whole sequence: returns ``(y, h)``.

    kernel (I, U), recurrent_kernel (U, U), bias (U,) or None; activation linear, relu, sigmoid or tanh.
    """
    y, states = _rnn("simple_rnn", activation, x, kernel, recurrent_kernel, bias, mask, initial_state,
                     return_sequences, go_backwards, zero_output_for_mask, reference, recurrent_mask)
    return y, states[0]


def simple_rnn_backward(dy: Any, x: Any, kernel: Any, recurrent_kernel: Any, bias: Any = None,
                        activation: str = "tanh", mask: Any = None, initial_state: Any = None, dstates: Any = None,
                        return_sequences: bool = True, go_backwards: bool = False,
                        zero_output_for_mask: bool = False, reference: bool = False,
                        recurrent_mask: Any = None) -> tuple:
    """Gradients of :func:`simple_rnn`: ``(dx, dkernel, drecurrent_kernel, dbias, [dh0])``."""
    return _rnn_backward("simple_rnn", activation, dy, dstates, x, kernel, recurrent_kernel, bias, mask,
                         initial_state, return_sequences, go_backwards, zero_output_for_mask, reference,
                         recurrent_mask)
