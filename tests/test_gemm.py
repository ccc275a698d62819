"""Tests for the GEMM (cpp/src/kernels/gemm*.cpp through nncore.ops.matmul / matmul_reference).

Every SIMD path this CPU has, ragged sizes around the micro-kernel tiles (MR, NR in 6..32) and blocking, all
four transpose combinations, against NumPy in float64; bit-identical results for 1 and 2 threads (documented).
"""
from __future__ import annotations

import numpy as np
import pytest

import nncore
from nncore import ops

from conftest import gemm_tol

# (M, K, N): ragged around the tiles (1, MR±1, NR±1, primes), a few past one K slab or one M/N block.
SHAPES = [
    (1, 1, 1), (1, 7, 1), (2, 5, 3), (5, 1, 6), (6, 16, 7), (7, 6, 15), (15, 17, 16), (16, 2, 17),
    (17, 31, 33), (31, 33, 1), (33, 15, 31), (1, 97, 127), (97, 127, 5), (127, 1, 97), (5, 257, 6),
    (257, 33, 17), (17, 257, 257), (33, 97, 257), (257, 257, 33), (6, 513, 7),
    # Around the AVX2 tile width (24), past one M block (MC = 192/256), past the in-place A limit (N > 512)
    # and past one N block (NC ~ 4096).
    (4, 9, 23), (9, 3, 25), (5, 7, 49), (193, 31, 47), (200, 40, 530), (3, 5, 4133),
    # Few rows (the small-M kernel with row-major B): 1-4 rows in one group, ragged groups, strips of 64 / 256 /
    # 96 columns with a ragged last one, and 64 rows (its largest M). AVX-512's groups of 8 rows and strips of 48
    # columns: 8+4+1 and 8+4+2+1 rows, last strips of 34, 4, 40 and 16 columns.
    (1, 300, 257), (2, 64, 129), (3, 40, 300), (6, 100, 200), (11, 33, 97), (64, 50, 70),
    (13, 50, 130), (15, 33, 100), (10, 20, 40), (9, 17, 16),
    # 64 rows or more (AVX2 and AVX-512: B packed per strip, K in blocks of up to 256, C keeping the partial sums):
    # 8+4+1 row groups, three and two K blocks, last strips of 34, 29 and 17 columns.
    (100, 600, 130), (77, 257, 61), (200, 300, 17), (256, 1000, 200),
]
TRANSPOSES = [(False, False), (False, True), (True, False), (True, True)]


def operands(rng: np.random.Generator, m: int, k: int, n: int, ta: bool, tb: bool):
    """Stored operands for op(a) (m, k) and op(b) (k, n), and the float64 product."""
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
    a64 = a.astype(np.float64)
    b64 = b.astype(np.float64)
    want = (a64.T if ta else a64) @ (b64.T if tb else b64)
    return a, b, want


@pytest.mark.parametrize("ta,tb", TRANSPOSES, ids=["nn", "nt", "tn", "tt"])
def test_matmul_matches_numpy_float64(isa, ta, tb):
    rng = np.random.default_rng(hash((ta, tb)) % 2**32)
    for m, k, n in SHAPES:
        a, b, want = operands(rng, m, k, n, ta, tb)
        got = ops.matmul(a, b, transpose_a=ta, transpose_b=tb)
        assert got.dtype == np.float32
        assert got.shape == (m, n)
        np.testing.assert_allclose(got, want, rtol=0, atol=gemm_tol(k),
                                   err_msg=f"isa={isa} M,K,N={m},{k},{n} ta={ta} tb={tb}")


@pytest.mark.parametrize("ta,tb", TRANSPOSES, ids=["nn", "nt", "tn", "tt"])
def test_matmul_reference_matches_numpy_float64(ta, tb):
    rng = np.random.default_rng(7)
    for m, k, n in SHAPES[:14]:
        a, b, want = operands(rng, m, k, n, ta, tb)
        got = ops.matmul_reference(a, b, transpose_a=ta, transpose_b=tb)
        assert got.shape == (m, n)
        # The reference accumulates in double and rounds once.
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_matmul_agrees_with_reference(isa):
    rng = np.random.default_rng(3)
    for (m, k, n), (ta, tb) in zip(SHAPES, TRANSPOSES * 7):
        a, b, _ = operands(rng, m, k, n, ta, tb)
        np.testing.assert_allclose(ops.matmul(a, b, ta, tb), ops.matmul_reference(a, b, ta, tb),
                                   rtol=0, atol=gemm_tol(k))


def test_matmul_small_exact_values(isa):
    # Integers well inside float32's exact range: any correct summation order gives the exact product.
    rng = np.random.default_rng(11)
    for m, k, n in [(1, 1, 1), (7, 5, 17), (33, 31, 15)]:
        a = rng.integers(-8, 9, (m, k)).astype(np.float32)
        b = rng.integers(-8, 9, (k, n)).astype(np.float32)
        np.testing.assert_array_equal(ops.matmul(a, b), (a.astype(np.int64) @ b.astype(np.int64)))


# The last four: few rows of C (the small-M kernel for row-major B: threads split the columns, or the rows when each
# thread gets 64 or more).
@pytest.mark.parametrize("m,k,n", [(300, 257, 513), (257, 300, 97), (513, 129, 300), (31, 1000, 1025), (1, 784, 256),
                                   (3, 700, 300), (40, 300, 200), (200, 700, 300)])
@pytest.mark.parametrize("ta,tb", TRANSPOSES, ids=["nn", "nt", "tn", "tt"])
def test_matmul_one_and_two_threads_bit_identical(restore_threads, m, k, n, ta, tb):
    rng = np.random.default_rng(m + k + n)
    a, b, want = operands(rng, m, k, n, ta, tb)
    restore_threads(1)
    one = ops.matmul(a, b, ta, tb)
    restore_threads(2)
    two = ops.matmul(a, b, ta, tb)
    assert np.array_equal(one, two)
    np.testing.assert_allclose(two, want, rtol=0, atol=gemm_tol(k))


@pytest.mark.parametrize("ta", [False, True], ids=["n", "t"])
def test_matmul_small_m_rows_are_the_same_sums_packed_or_in_place(isa, ta):
    # From 64 rows on, the small-M kernel packs B and keeps partial sums in C between K blocks; below, it reads B
    # in place over the whole of K. Each element is the same k-ordered sum either way: the first 24 rows of a
    # product are bit-identical to the product of those 24 rows alone.
    rng = np.random.default_rng(13)
    for m, k, n in [(100, 600, 130), (256, 784, 256), (77, 257, 61), (64, 32, 256)]:
        a, b, want = operands(rng, m, k, n, ta, False)
        whole = ops.matmul(a, b, transpose_a=ta)
        head = ops.matmul(a[:, :24] if ta else a[:24], b, transpose_a=ta)
        assert np.array_equal(whole[:24], head), f"isa={isa} M,K,N={m},{k},{n} ta={ta}"
        np.testing.assert_allclose(whole, want, rtol=0, atol=gemm_tol(k))


@pytest.mark.parametrize("ta", [False, True], ids=["n", "t"])
def test_matmul_small_m_split_over_threads_bit_identical_on_every_isa(isa, restore_threads, ta):
    # Two threads split the small-M kernel's columns, or its rows when each gets 64 or more (then packed): the same
    # bits as one thread on every SIMD path.
    rng = np.random.default_rng(17)
    for m, k, n in [(200, 700, 300), (130, 300, 100), (64, 50, 200), (40, 300, 200)]:
        a, b, want = operands(rng, m, k, n, ta, False)
        restore_threads(1)
        one = ops.matmul(a, b, transpose_a=ta)
        restore_threads(2)
        two = ops.matmul(a, b, transpose_a=ta)
        assert np.array_equal(one, two), f"isa={isa} M,K,N={m},{k},{n} ta={ta}"
        np.testing.assert_allclose(two, want, rtol=0, atol=gemm_tol(k))


def test_matmul_repeated_calls_identical():
    # Reused per-thread packing buffers must not leak state between calls of different shapes.
    rng = np.random.default_rng(5)
    a, b, want = operands(rng, 37, 300, 45, False, False)
    first = ops.matmul(a, b)
    ops.matmul(rng.standard_normal((301, 513)).astype(np.float32), rng.standard_normal((513, 7)).astype(np.float32))
    assert np.array_equal(first, ops.matmul(a, b))
    np.testing.assert_allclose(first, want, rtol=0, atol=gemm_tol(300))


def test_matmul_accepts_float64_and_non_contiguous():
    rng = np.random.default_rng(2)
    a64 = rng.standard_normal((9, 14))
    b64 = rng.standard_normal((14, 20))
    got = ops.matmul(a64, b64)
    assert got.dtype == np.float32
    want = a64.astype(np.float32).astype(np.float64) @ b64.astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(got, want, rtol=0, atol=gemm_tol(14))

    big = rng.standard_normal((18, 28)).astype(np.float32)
    a_nc = big[::2, ::2]          # strided view (9, 14)
    b_nc = big[:14, :20]          # sliced rows (14, 20)
    b_t = np.asfortranarray(b_nc)  # column-major copy
    assert not (a_nc.flags.c_contiguous or b_nc.flags.c_contiguous or b_t.flags.c_contiguous)
    want = a_nc.astype(np.float64) @ b_t.astype(np.float64)
    np.testing.assert_allclose(ops.matmul(a_nc, b_t), want, rtol=0, atol=gemm_tol(14))
    np.testing.assert_allclose(ops.matmul(a_nc, b_nc), want, rtol=0, atol=gemm_tol(14))
    # A transposed view of a C array with transpose flags: op(a.T^T) = a.
    np.testing.assert_allclose(ops.matmul(a_nc.T, b_t, transpose_a=True), want, rtol=0, atol=gemm_tol(14))
    # Inputs are not modified.
    assert np.array_equal(big, big.copy())


def test_matmul_int_and_bool_inputs():
    a = np.arange(6).reshape(2, 3)
    b = np.ones((3, 2), dtype=bool)
    np.testing.assert_array_equal(ops.matmul(a, b), [[3, 3], [12, 12]])


@pytest.mark.parametrize("ta,tb", TRANSPOSES, ids=["nn", "nt", "tn", "tt"])
def test_matmul_zero_inner_dimension_gives_zeros(ta, tb):
    a = np.empty((0, 3) if ta else (3, 0), np.float32)
    b = np.empty((4, 0) if tb else (0, 4), np.float32)
    for fn in (ops.matmul, ops.matmul_reference):
        out = fn(a, b, ta, tb)
        assert out.shape == (3, 4)
        assert np.array_equal(out, np.zeros((3, 4), np.float32))


def test_matmul_zero_rows_or_columns():
    a = np.empty((0, 5), np.float32)
    b = np.ones((5, 3), np.float32)
    assert ops.matmul(a, b).shape == (0, 3)
    assert ops.matmul(b.T, np.empty((5, 0), np.float32)).shape == (3, 0)


@pytest.mark.parametrize("bad", [np.ones(3), np.ones((2, 3, 4)), np.float32(2.0)])
def test_matmul_reference_rejects_non_2d(bad):
    with pytest.raises(ValueError, match=r"matmul: expected a to be 2-D, got shape"):
        ops.matmul_reference(bad, np.ones((3, 3)))
    with pytest.raises(ValueError, match=r"matmul: expected b to be 2-D, got shape"):
        ops.matmul_reference(np.ones((3, 3)), bad)


def test_matmul_of_other_ranks_is_numpys():
    """keras.ops.matmul takes any rank, as numpy: 1-D vectors and stacks of matrices."""
    rng = np.random.default_rng(3)
    for a, b in [((3,), (3, 3)), ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 2))]:
        x, y = rng.standard_normal(a), rng.standard_normal(b)
        np.testing.assert_allclose(ops.matmul(x, y), np.matmul(x, y))
    with pytest.raises(ValueError):
        ops.matmul(np.float32(2.0), np.ones((3, 3)))


@pytest.mark.parametrize("fn", [ops.matmul, ops.matmul_reference])
def test_matmul_inner_dimension_mismatch_names_both_shapes(fn):
    with pytest.raises(ValueError, match=r"inner dimensions differ.*\(2, 3\).*\(4, 5\)"):
        fn(np.ones((2, 3)), np.ones((4, 5)))
    # With transposes, the message shows op(a) and op(b).
    with pytest.raises(ValueError, match=r"op\(a\) is \(3, 2\) and op\(b\) is \(5, 4\)"):
        fn(np.ones((2, 3)), np.ones((4, 5)), transpose_a=True, transpose_b=True)


@pytest.mark.parametrize("bad", [np.array([["a", "b"]]), np.array([[None, 1.0]], dtype=object),
                                 np.array([[1 + 2j]])])
def test_matmul_rejects_non_numeric_dtype(bad):
    with pytest.raises(TypeError, match=r"matmul: a: expected a numeric array"):
        ops.matmul(bad, np.ones((bad.shape[1], 2)))
    with pytest.raises(TypeError, match=r"matmul: b: expected a numeric array"):
        ops.matmul(np.ones((2, bad.shape[0])), bad)


def test_set_isa_rejects_unknown_name():
    before = nncore.get_isa()
    with pytest.raises(ValueError, match=r"expected one of generic, avx2, avx512; got 'sse9'"):
        nncore.set_isa("sse9")
    assert nncore.get_isa() == before
