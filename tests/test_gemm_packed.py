"""Tests for the pre-packed-B GEMM (gemm_pack_b / gemm_packed_b in cpp/src/kernels/gemm.cpp, through
nncore.ops.matmul_packed): one op(B) packed once and reused for a stack of A slices, as the recurrent layers do
at every time step.

Every SIMD path this CPU has, ragged sizes around the tiles and past one K slab (K > KC = 256), B stored both
ways, beta 0 and 1, with and without bias, against NumPy in float64; bit-identical for 1 and 2 threads and
equal to the ordinary GEMM wherever that computes C itself.
"""
from __future__ import annotations

import numpy as np
import pytest

from nncore import ops

from conftest import gemm_tol

# (M, K, N): ragged around MR (4, 8) and NR (8, 24, 32), K past one and two slabs (KC = 256) and not a multiple
# of 8, N at and just past the narrow-kernel limit (16), N past one NR strip several times.
SHAPES = [
    (1, 1, 1), (3, 5, 7), (7, 3, 16), (9, 17, 17), (8, 128, 512), (32, 512, 128), (33, 300, 47),
    (5, 257, 33), (17, 600, 25), (4, 1, 23), (31, 31, 95), (64, 513, 130),
]
TRANSPOSES = [(False, False), (False, True), (True, False), (True, True)]


def operands(rng: np.random.Generator, s: int, m: int, k: int, n: int, ta: bool, tb: bool):
    a = rng.standard_normal((s, k, m) if ta else (s, m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
    c = rng.standard_normal((s, m, n)).astype(np.float32)
    bias = rng.standard_normal(n).astype(np.float32)
    return a, b, c, bias


def want(a, b, c, bias, ta, tb, beta, with_bias):
    a64 = a.astype(np.float64)
    b64 = b.astype(np.float64)
    out = (a64.transpose(0, 2, 1) if ta else a64) @ (b64.T if tb else b64)
    if beta != 0:
        out += beta * c.astype(np.float64)
    if with_bias:
        out += bias.astype(np.float64)
    return out


@pytest.mark.parametrize("ta,tb", TRANSPOSES, ids=["nn", "nt", "tn", "tt"])
@pytest.mark.parametrize("beta", [0.0, 1.0])
@pytest.mark.parametrize("with_bias", [False, True], ids=["nobias", "bias"])
def test_matmul_packed_matches_numpy_float64(isa, ta, tb, beta, with_bias):
    rng = np.random.default_rng(hash((ta, tb, beta, with_bias)) % 2**32)
    for m, k, n in SHAPES:
        a, b, c, bias = operands(rng, 3, m, k, n, ta, tb)
        got = ops.matmul_packed(a, b, ta, tb, c=c, beta=beta, bias=bias if with_bias else None)
        assert got.dtype == np.float32 and got.shape == (3, m, n)
        np.testing.assert_allclose(got, want(a, b, c, bias, ta, tb, beta, with_bias), rtol=0,
                                   atol=gemm_tol(k) + (1e-5 if beta or with_bias else 0),
                                   err_msg=f"isa={isa} M,K,N={m},{k},{n} ta={ta} tb={tb} beta={beta}")


def test_matmul_packed_beta_zero_ignores_nan_in_c():
    rng = np.random.default_rng(1)
    a, b, _, _ = operands(rng, 2, 9, 300, 40, False, False)
    c = np.full((2, 9, 40), np.nan, np.float32)
    got = ops.matmul_packed(a, b, c=c, beta=0.0)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, a.astype(np.float64) @ b.astype(np.float64), rtol=0, atol=gemm_tol(300))


@pytest.mark.parametrize("m,k,n", [(32, 128, 512), (32, 512, 128), (67, 300, 97), (13, 700, 300)])
@pytest.mark.parametrize("ta,tb", TRANSPOSES, ids=["nn", "nt", "tn", "tt"])
def test_matmul_packed_one_and_two_threads_bit_identical(restore_threads, m, k, n, ta, tb):
    rng = np.random.default_rng(m + k + n)
    a, b, c, bias = operands(rng, 2, m, k, n, ta, tb)
    restore_threads(1)
    one = ops.matmul_packed(a, b, ta, tb, c=c, beta=1.0, bias=bias)
    restore_threads(2)
    two = ops.matmul_packed(a, b, ta, tb, c=c, beta=1.0, bias=bias)
    assert np.array_equal(one, two)
    np.testing.assert_allclose(two, want(a, b, c, bias, ta, tb, 1.0, True), rtol=0, atol=gemm_tol(k) + 1e-5)


@pytest.mark.parametrize("tb", [False, True], ids=["n", "t"])
def test_matmul_packed_equals_plain_gemm_bit_for_bit(isa, tb):
    # The recurrent step's shapes, where the plain GEMM computes C itself (not C^T): the same packed strips go
    # through the same micro-kernel, so the results agree exactly. With few rows and a B that fits in L2 (the
    # last three: batch 1 and 3 of a recurrent step, 40 rows of 300 x 200) both take the small-M kernel on B.
    rng = np.random.default_rng(4)
    for m, k, n in [(32, 128, 512), (32, 128, 384), (8, 64, 256), (31, 300, 500), (1, 128, 512), (3, 700, 300),
                    (40, 300, 200)]:
        a, b, _, _ = operands(rng, 1, m, k, n, False, tb)
        np.testing.assert_array_equal(ops.matmul_packed(a, b, transpose_b=tb)[0], ops.matmul(a[0], b, False, tb),
                                      err_msg=f"isa={isa} M,K,N={m},{k},{n} tb={tb}")


def test_matmul_packed_zero_sizes():
    b = np.ones((5, 3), np.float32)
    assert ops.matmul_packed(np.empty((0, 4, 5), np.float32), b).shape == (0, 4, 3)
    assert ops.matmul_packed(np.empty((2, 0, 5), np.float32), b).shape == (2, 0, 3)
    # K = 0: the product is zeros, plus beta * c and the bias.
    c = np.full((2, 4, 3), 2.0, np.float32)
    got = ops.matmul_packed(np.empty((2, 4, 0), np.float32), np.empty((0, 3), np.float32), c=c, beta=1.0,
                            bias=np.array([1, 2, 3], np.float32))
    np.testing.assert_array_equal(got, np.broadcast_to(np.array([3, 4, 5], np.float32), (2, 4, 3)))


def test_matmul_packed_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"matmul_packed: expected a to be 3-D"):
        ops.matmul_packed(np.ones((3, 3)), np.ones((3, 3)))
    with pytest.raises(ValueError, match=r"inner dimensions differ.*\(2, 3\).*\(4, 5\)"):
        ops.matmul_packed(np.ones((1, 2, 3)), np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"expected c of shape \(1, 2, 5\), got \(2, 5\)"):
        ops.matmul_packed(np.ones((1, 2, 3)), np.ones((3, 5)), c=np.ones((2, 5)), beta=1.0)
    with pytest.raises(ValueError, match=r"expected bias of shape \(5,\), got \(4,\)"):
        ops.matmul_packed(np.ones((1, 2, 3)), np.ones((3, 5)), bias=np.ones(4))


# The small-M layout (gemm_pack_b_small_m: a Dense kernel kept packed for inference): fewer than 64 rows read B in
# place, from 64 the packed units; rows around the groups of 8 and 4 and single rows, N ragged around the 16- and
# 8-column units and the 48/32-column strips, K past one and two blocks of 256.
SMALL_M_SHAPES = [
    (1, 7, 40), (5, 7, 17), (32, 300, 47), (63, 600, 130), (64, 7, 17), (64, 784, 256), (65, 300, 47),
    (70, 33, 100), (77, 40, 300), (96, 257, 33), (100, 513, 130), (128, 256, 256), (130, 600, 130),
    (200, 1000, 200), (256, 784, 256), (255, 9, 20), (67, 5, 36),
]


@pytest.mark.parametrize("beta", [0.0, 1.0])
@pytest.mark.parametrize("with_bias", [False, True], ids=["nobias", "bias"])
def test_matmul_packed_small_m_layout_equals_plain_gemm_bit_for_bit(isa, threads, beta, with_bias):
    rng = np.random.default_rng(7)
    for m, k, n in SMALL_M_SHAPES:
        a, b, c, bias = operands(rng, 2, m, k, n, False, False)
        kw = dict(c=c, beta=beta, bias=bias if with_bias else None)
        got = ops.matmul_packed(a, b, **kw, small_m=True)
        np.testing.assert_array_equal(got, ops.matmul_packed(a, b, **kw),
                                      err_msg=f"isa={isa} threads={threads} M,K,N={m},{k},{n}")
        np.testing.assert_allclose(got, want(a, b, c, bias, False, False, beta, with_bias), rtol=0,
                                   atol=gemm_tol(k) + (1e-5 if beta or with_bias else 0),
                                   err_msg=f"isa={isa} threads={threads} M,K,N={m},{k},{n}")


def test_matmul_packed_small_m_layout_one_and_two_threads_bit_identical(restore_threads):
    # Two threads split 256 columns (fewer than 128 rows) or the rows (128 and more) of the packed product.
    rng = np.random.default_rng(8)
    for m, k, n in [(32, 784, 256), (64, 784, 256), (256, 784, 256), (200, 300, 130)]:
        a, b, _, bias = operands(rng, 1, m, k, n, False, False)
        restore_threads(1)
        one = ops.matmul_packed(a, b, bias=bias, small_m=True)
        restore_threads(2)
        assert np.array_equal(one, ops.matmul_packed(a, b, bias=bias, small_m=True)), (m, k, n)


def test_matmul_packed_small_m_layout_rejects_transposed_b():
    with pytest.raises(ValueError, match=r"small-M layout packs a row-major b"):
        ops.matmul_packed(np.ones((1, 2, 3)), np.ones((5, 3)), transpose_b=True, small_m=True)
