"""The int8 GEMM of quantized inference (cpp/src/kernels/gemm_s8*.cpp through nncore.ops.matmul_int8): exact int32
results against NumPy's int64 product on every SIMD path (AVX-512 VNNI with its +128 correction, AVX2 on int16
pairs, generic), ragged sizes around the tiles (4 rows, 16- / 8-column panels, K in groups of 4 / 2), the extreme
values (-128 x -128 sums), the thread split, and bad input. Where the CPU has AMX-INT8, its kernel (blocks of 32 rows
on 16-row tiles, K in chunks of 64) against the same product and the VNNI kernel, on sizes around its blocks."""
import numpy as np
import pytest

import nncore
from nncore import ops

SHAPES = [(1, 1, 1), (1, 3, 5), (2, 4, 16), (3, 5, 17), (4, 7, 33), (5, 8, 64), (6, 9, 65), (7, 130, 70),
          (9, 255, 129), (1, 784, 256), (32, 784, 256), (33, 1, 100), (64, 63, 15), (17, 1000, 7),
          # AVX-512's groups of 8 rows x 3 panels, then 4: 8+4+1 rows over 40 columns, 8+4 over 13 panels
          (13, 70, 40), (12, 33, 200)]


def product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a.astype(np.int64) @ b.astype(np.int64)).astype(np.int32)


def test_matmul_int8_is_exact_on_every_isa(isa):
    rng = np.random.default_rng(0)
    for m, k, n in SHAPES:
        a = rng.integers(-128, 128, (m, k)).astype(np.int8)
        b = rng.integers(-128, 128, (k, n)).astype(np.int8)
        got = ops.matmul_int8(a, b)
        assert got.dtype == np.int32 and got.shape == (m, n)
        np.testing.assert_array_equal(got, product(a, b), err_msg=f"isa={isa} M,K,N={m},{k},{n}")
        np.testing.assert_array_equal(ops.matmul_int8(a, b, reference=True), product(a, b))


def test_matmul_int8_extreme_values(isa):
    # -128 everywhere: every product is +16384, the VNNI path's +128 shift meets its largest correction.
    for m, k, n in [(3, 4000, 20), (5, 3, 17)]:
        a = np.full((m, k), -128, np.int8)
        b = np.full((k, n), -128, np.int8)
        np.testing.assert_array_equal(ops.matmul_int8(a, b), np.full((m, n), 16384 * k, np.int32))
        b[:, ::2] = 127
        np.testing.assert_array_equal(ops.matmul_int8(a, b), product(a, b))


def test_matmul_int8_one_and_two_threads_identical(restore_threads):
    rng = np.random.default_rng(1)
    for m, k, n in [(3, 500, 300), (100, 300, 40), (256, 784, 256)]:
        a = rng.integers(-128, 128, (m, k)).astype(np.int8)
        b = rng.integers(-128, 128, (k, n)).astype(np.int8)
        restore_threads(1)
        one = ops.matmul_int8(a, b)
        restore_threads(2)
        np.testing.assert_array_equal(ops.matmul_int8(a, b), one)
        np.testing.assert_array_equal(one, product(a, b))


# Around AMX's blocks: 8 rows (its fewest), 16-row tiles, 32-row blocks, an odd panel count, K around chunks of 64;
# blocks of up to 16 rows drain groups of 8 panels (32 panels; 13 = 8 + 5; a 16-row block after a 32-row one).
AMX_SHAPES = [(8, 1, 1), (8, 784, 256), (15, 64, 16), (16, 65, 17), (17, 63, 33), (31, 128, 48), (32, 784, 256),
              (33, 70, 40), (47, 200, 80), (64, 4000, 20), (100, 130, 17), (256, 784, 256),
              (16, 128, 512), (12, 64, 200), (48, 100, 300)]


@pytest.fixture(params=[False, True], ids=["vnni", "amx"])
def amx(request):
    """The avx512 path with AMX tiles off (the VNNI kernel) and on (skipped where the CPU or OS lacks AMX)."""
    if nncore._core.best_isa() != "avx512":
        pytest.skip("the AVX-512 path is not available on this CPU")
    if request.param and not nncore._core.has_amx():
        pytest.skip("AMX-INT8 is not available on this CPU or operating system")
    isa, before = nncore.get_isa(), nncore._core.get_amx()
    nncore.set_isa("avx512")
    nncore._core.set_amx(request.param)
    assert nncore._core.get_amx() == request.param
    yield request.param
    nncore._core.set_amx(before)
    nncore.set_isa(isa)


def test_matmul_int8_is_exact_with_and_without_amx(amx, restore_threads):
    rng = np.random.default_rng(2)
    for m, k, n in SHAPES + AMX_SHAPES:
        a = rng.integers(-128, 128, (m, k)).astype(np.int8)
        b = rng.integers(-128, 128, (k, n)).astype(np.int8)
        for threads in (1, 2):
            restore_threads(threads)
            np.testing.assert_array_equal(ops.matmul_int8(a, b), product(a, b),
                                          err_msg=f"amx={amx} threads={threads} M,K,N={m},{k},{n}")
    a = np.full((40, 300), -128, np.int8)
    np.testing.assert_array_equal(ops.matmul_int8(a, a.T.copy()), np.full((40, 40), 16384 * 300, np.int32))


def test_set_amx_where_the_cpu_lacks_it():
    if nncore._core.has_amx():
        return  # on by default, unless NNCORE_AMX=0
    assert not nncore._core.get_amx()
    with pytest.raises(ValueError, match="does not offer AMX-INT8"):
        nncore._core.set_amx(True)
    nncore._core.set_amx(False)


def test_matmul_int8_bad_input():
    a = np.zeros((2, 3), np.int8)
    with pytest.raises(TypeError, match="dtype int8, got float32"):
        ops.matmul_int8(a.astype(np.float32), np.zeros((3, 2), np.int8))
    with pytest.raises(ValueError, match=r"inner dimensions differ"):
        ops.matmul_int8(a, np.zeros((4, 2), np.int8))
    with pytest.raises(ValueError, match="2-D"):
        ops.matmul_int8(np.zeros(3, np.int8), np.zeros((3, 2), np.int8))
    with pytest.raises(Exception, match=r"K must be in \[0, 131072\)"):
        ops.matmul_int8(np.zeros((1, 131072), np.int8), np.zeros((131072, 1), np.int8))
    assert ops.matmul_int8(np.zeros((0, 3), np.int8), np.zeros((3, 2), np.int8)).shape == (0, 2)
