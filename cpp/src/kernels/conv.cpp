// 2-D convolution on channels-last data, two ways:
//   direct (few input channels, C <= 4): per block of output rows, the block's input goes into a small buffer
//     (with stride 1 a zero-padded slab of the input rows, whose shifted windows are the taps; else the patch
//     tap-major) and a per-ISA kernel (conv_<isa>.cpp) computes the block with the output channels in vector
//     registers, bias and relu fused into the stores; backward-weights keeps a tile of dW in registers over the
//     block, with relu's derivative and the bias gradient folded into the same pass.
//   implicit GEMM (stride 1, more channels): per block of output rows, the input rows it reads go zero-padded
//     into a channels-last slab, and a per-ISA tile reads its A operand in place from the slab, tap after tap
//     (conv_internal.hpp), against the weights packed once per call. Backward-data is the same convolution of
//     dz (relu's mask applied while building the slab) with the kernel flipped and transposed; backward-weights
//     is, per tap, slab^T dz over the slab's grid of positions (dz packed once per block with zeros between the
//     output rows), through the GEMM micro-kernel reading the slab in place.
//   im2col + GEMM (everything else): y(rows, OC) = cols(rows, KH*KW*C) @ w(KH*KW*C, OC), rows = (b, oh, ow),
//     with bias and relu as the GEMM's epilogue; backward-weights dw += cols^T @ dz, backward-data
//     dcols = dz @ w^T, then col2im adds into dx. Rows go in blocks whose im2col stays in L2; a 1x1, stride-1,
//     unpadded convolution needs no im2col at all: x itself is the (rows, C) matrix.
// Results do not depend on the thread count: every output element is computed by one thread with a fixed
// order over K; dw and db are summed into a fixed number of partials (fixed groups of blocks, chosen from the
// shapes alone) and the partials are added in order.
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

#include "kernels/conv_internal.hpp"
#include "kernels/gemm_internal.hpp"
#include "kernels/kernels.hpp"
#include "kernels/thread_buffer.hpp"
#include "kernels/parallel.hpp"

namespace nncore::kernels {

const ConvKernel& conv_active_kernel() {
#if defined(NNCORE_X86)
  switch (active_isa()) {
    case Isa::avx512: return conv_kernel_avx512;
    case Isa::avx2: return conv_kernel_avx2;
    default: break;
  }
#endif
  return conv_kernel_generic;
}

namespace {

constexpr int64_t kTapFloats = 4096;   // direct, tap-major: 16 KiB patch per block, L1-resident
constexpr int64_t kSlabPixels = 1024;  // direct, slab: output pixels per block (a 28x28 image is one block)
constexpr int64_t kMaxChunks = 8;      // direct backward-weights: partial sums of dW, db

bool is_pointwise(const ConvGeom& g) {
  return g.KH == 1 && g.KW == 1 && g.sh == 1 && g.sw == 1 && g.pt == 0 && g.pl == 0 && g.OH == g.H && g.OW == g.W;
}

// Few input channels: K = KH*KW*C is too short for a GEMM to repay packing, and the output is wide.
bool is_direct(const ConvGeom& g) { return g.C <= 4 && !is_pointwise(g); }

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// Direct path with stride 1: the taps are shifted windows of one zero-padded slab of input rows (see
// conv_internal.hpp); other strides lay the patch out tap-major.
bool direct_slab(const ConvGeom& g) { return g.sh == 1 && g.sw == 1; }

// Direct path: blocks of whole output rows of one image, evened out (26 rows as 13 + 13, not 17 + 9).
struct DirectBlocks {
  int64_t rows;       // output rows per block (the last block of an image may have fewer)
  int64_t per_image;  // blocks per image
};
DirectBlocks direct_blocks(const ConvGeom& g) {
  const int64_t max_rows = direct_slab(g) ? std::max<int64_t>(1, kSlabPixels / g.OW)
                                          : std::max<int64_t>(1, kTapFloats / ((g.taps() + 1) * g.OW));
  const int64_t n = ceil_div(g.OH, std::min(max_rows, g.OH));
  const int64_t rows = ceil_div(g.OH, n);
  return {rows, ceil_div(g.OH, rows)};
}

int64_t direct_chunks(const ConvGeom& g) { return std::min(g.B * direct_blocks(g).per_image, kMaxChunks); }

thread_local ThreadBuffer tls_taps;

// Copies and fills of a few dozen floats, the input buffers' unit of work. Plain loops would be turned into
// memcpy/memset calls, which cost more than the copy at this size; SSE is part of the x86-64 baseline.
void copy_floats(float* dst, const float* src, int64_t n) {
  int64_t i = 0;
#if defined(__SSE__)
  for (; i + 8 <= n; i += 8) {
    _mm_storeu_ps(dst + i, _mm_loadu_ps(src + i));
    _mm_storeu_ps(dst + i + 4, _mm_loadu_ps(src + i + 4));
  }
  if (i + 4 <= n) {
    _mm_storeu_ps(dst + i, _mm_loadu_ps(src + i));
    i += 4;
  }
  switch (n - i) {  // at most 3 left
    case 3: dst[i + 2] = src[i + 2]; [[fallthrough]];
    case 2: dst[i + 1] = src[i + 1]; [[fallthrough]];
    case 1: dst[i] = src[i]; [[fallthrough]];
    default: return;
  }
#endif
  for (; i < n; ++i) dst[i] = src[i];
}
void add_floats(float* __restrict dst, const float* __restrict src, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
}
void fill_floats(float* dst, float v, int64_t n) {
  int64_t i = 0;
#if defined(__SSE__)
  const __m128 vv = _mm_set1_ps(v);
  for (; i + 4 <= n; i += 4) _mm_storeu_ps(dst + i, vv);
  switch (n - i) {
    case 3: dst[i + 2] = v; [[fallthrough]];
    case 2: dst[i + 1] = v; [[fallthrough]];
    case 1: dst[i] = v; [[fallthrough]];
    default: return;
  }
#endif
  for (; i < n; ++i) dst[i] = v;
}

// The input buffer of one direct block (see conv_internal.hpp): `planes` planes of `plane` floats (slab: one per
// channel; tap-major: one per tap), then a plane of ones for the bias gradient. Every plane ends in pix_tile
// floats of slack that the forward's last tile may read.
struct DirectLayout {
  bool slab;
  int64_t grid_w, slab_rows, plane, planes;
  int64_t floats() const { return (planes + 1) * plane; }
};
DirectLayout direct_layout(const ConvGeom& g, int64_t rows, int pix_tile) {
  if (direct_slab(g)) {
    const int64_t grid_w = g.OW + (g.KW - 1) * g.dw, slab_rows = rows + (g.KH - 1) * g.dh;
    return {true, grid_w, slab_rows, slab_rows * grid_w + pix_tile, g.C};
  }
  return {false, g.OW, 0, rows * g.OW + pix_tile, g.taps()};
}

// off[t] for the taps t = (kh, kw, c), and off[taps] = the plane of ones.
void direct_offsets(const ConvGeom& g, const DirectLayout& L, int64_t* off) {
  for (int64_t kh = 0; kh < g.KH; ++kh)
    for (int64_t kw = 0; kw < g.KW; ++kw)
      for (int64_t c = 0; c < g.C; ++c) {
        const int64_t t = (kh * g.KW + kw) * g.C + c;
        off[t] = L.slab ? c * L.plane + kh * g.dh * L.grid_w + kw * g.dw : t * L.plane;
      }
  off[g.taps()] = L.planes * L.plane;
}

// Output columns [lo, hi) whose input column ow*sw + off lies inside [0, W).
void inside_columns(const ConvGeom& g, int64_t off, int64_t n, int64_t* lo, int64_t* hi) {
  *lo = std::min(n, std::max<int64_t>(0, ceil_div(std::max<int64_t>(-off, 0), g.sw)));
  *hi = std::max(*lo, std::min(n, floor_div(g.W - 1 - off, g.sw) + 1));
}

// The block of output rows [oh0, oh1) of image xb into a (layout L); `ones` adds the plane of ones.
void build_block(float* a, const DirectLayout& L, const float* xb, const ConvGeom& g, int64_t oh0, int64_t oh1,
                 int pix_tile, bool ones) {
  const int64_t rows = oh1 - oh0;
  if (L.slab) {
    // Slab row r is input row oh0 - pt + r; slab column j is input column j - pl (stride 1).
    const int64_t used = rows + (g.KH - 1) * g.dh;
    int64_t lo, hi;
    inside_columns(g, -g.pl, L.grid_w, &lo, &hi);
    for (int64_t c = 0; c < g.C; ++c) {
      float* plane = a + c * L.plane;
      for (int64_t r = 0; r < used; ++r) {
        float* dst = plane + r * L.grid_w;
        const int64_t ih = oh0 - g.pt + r;
        if (ih < 0 || ih >= g.H) {
          fill_floats(dst, 0.f, L.grid_w);
          continue;
        }
        fill_floats(dst, 0.f, lo);
        const float* src = xb + (ih * g.W + lo - g.pl) * g.C + c;
        if (g.C == 1) copy_floats(dst + lo, src, hi - lo);
        else
          for (int64_t j = 0; j < hi - lo; ++j) dst[lo + j] = src[j * g.C];
        fill_floats(dst + hi, 0.f, L.grid_w - hi);
      }
      fill_floats(plane + used * L.grid_w, 0.f, pix_tile);
    }
  } else {
    // Tap-major: row t holds tap t of the block's pixels p = (oh - oh0) * OW + ow.
    const int64_t npix = rows * g.OW, step = g.sw * g.C;
    for (int64_t kh = 0; kh < g.KH; ++kh)
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        const int64_t off = kw * g.dw - g.pl;
        int64_t lo, hi;
        inside_columns(g, off, g.OW, &lo, &hi);
        for (int64_t c = 0; c < g.C; ++c) {
          float* const row0 = a + ((kh * g.KW + kw) * g.C + c) * L.plane;
          float* dst = row0;
          for (int64_t oh = oh0; oh < oh1; ++oh, dst += g.OW) {
            const int64_t ih = oh * g.sh - g.pt + kh * g.dh;
            if (ih < 0 || ih >= g.H) {
              fill_floats(dst, 0.f, g.OW);
              continue;
            }
            fill_floats(dst, 0.f, lo);
            const float* src = xb + (ih * g.W + lo * g.sw + off) * g.C + c;  // x[ih][ow*sw + off][c] at ow = lo
            for (int64_t i = 0; i < hi - lo; ++i) dst[lo + i] = src[i * step];
            fill_floats(dst + hi, 0.f, g.OW - hi);
          }
          fill_floats(row0 + npix, 0.f, L.plane - npix);
        }
      }
  }
  if (ones) fill_floats(a + L.planes * L.plane, 1.f, rows * L.grid_w);
}

thread_local std::vector<int64_t> tls_offsets;  // the calling thread's tap offsets (read by all threads)

// ---- direct path ---------------------------------------------------------------------------------------------

// Parallel over (image, block of rows): each writes its own rows of y and z.
void forward_direct(float* y, float* z, const float* x, const float* w, const float* bias, bool relu,
                    const ConvGeom& g) {
  const ConvKernel& k = conv_active_kernel();
  const DirectBlocks blk = direct_blocks(g);
  const DirectLayout L = direct_layout(g, blk.rows, k.pix_tile);
  const int64_t taps = g.taps();
  tls_offsets.resize(static_cast<size_t>(taps + 1));
  const int64_t* off = tls_offsets.data();
  direct_offsets(g, L, tls_offsets.data());
  const double flops_per_unit = 2.0 * static_cast<double>(blk.rows * g.OW * taps * g.OC);
  parallel_range(g.B * blk.per_image, flops_per_unit, [&](int64_t u0, int64_t u1) {
    float* a = tls_taps.get(L.floats());
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t b = u / blk.per_image, oh0 = (u % blk.per_image) * blk.rows, oh1 = std::min(g.OH, oh0 + blk.rows);
      build_block(a, L, x + b * g.H * g.W * g.C, g, oh0, oh1, k.pix_tile, false);
      const int64_t at = (b * g.OH + oh0) * g.OW * g.OC;
      k.forward(oh1 - oh0, L.grid_w, g.OW, taps, a, off, w, g.OC, bias, relu, y + at, z != nullptr ? z + at : nullptr);
    }
  });
}

// dw += sum over pixels of patch^T g, db += sum of g, g = dy (* (y > 0) for relu: ymask not null).
// The (image, block) units are cut into direct_chunks(g) fixed chunks; each chunk sums into its own partial
// (taps + 1 rows: the last is db, from the tap of ones) on one thread, and the partials are added in chunk
// order afterwards, so the result does not depend on how chunks were spread over threads.
void backward_weights_direct(float* dw, float* db, const float* dy, const float* ymask, const float* x,
                             const ConvGeom& g, float* partials) {
  const ConvKernel& k = conv_active_kernel();
  const DirectBlocks blk = direct_blocks(g);
  const DirectLayout L = direct_layout(g, blk.rows, k.pix_tile);
  const int64_t taps = g.taps(), rows = taps + 1;
  tls_offsets.resize(static_cast<size_t>(rows));
  const int64_t* off = tls_offsets.data();
  direct_offsets(g, L, tls_offsets.data());
  const int64_t units = g.B * blk.per_image, chunks = direct_chunks(g), part = rows * g.OC;
  const double flops_per_chunk = 2.0 * static_cast<double>(ceil_div(units, chunks) * blk.rows * g.OW * rows * g.OC);
  parallel_range(chunks, flops_per_chunk, [&](int64_t c0, int64_t c1) {
    float* a = tls_taps.get(L.floats());
    for (int64_t c = c0; c < c1; ++c) {
      float* acc = partials + c * part;
      std::memset(acc, 0, sizeof(float) * static_cast<size_t>(part));
      for (int64_t u = units * c / chunks; u < units * (c + 1) / chunks; ++u) {
        const int64_t b = u / blk.per_image, oh0 = (u % blk.per_image) * blk.rows;
        const int64_t oh1 = std::min(g.OH, oh0 + blk.rows);
        build_block(a, L, x + b * g.H * g.W * g.C, g, oh0, oh1, k.pix_tile, true);
        const int64_t at = (b * g.OH + oh0) * g.OW * g.OC;
        k.backward_weights(oh1 - oh0, L.grid_w, g.OW, rows, a, off, dy + at,
                           ymask != nullptr ? ymask + at : nullptr, g.OC, acc);
      }
    }
  });
  for (int64_t c = 0; c < chunks; ++c) {
    const float* pc = partials + c * part;
    add_floats(dw, pc, taps * g.OC);
    if (db != nullptr) add_floats(db, pc + taps * g.OC, g.OC);
  }
}

// ---- im2col + GEMM path ----------------------------------------------------------------------------------------

// Blocks of output rows whose im2col (pixels x K) stays in L2 next to the GEMM's packed panels: a whole
// batch's im2col would stream through memory twice (written, then read by the GEMM) and run the micro-kernel
// at two thirds of its in-cache speed.
constexpr int64_t kColsFloats = int64_t{1} << 17;     // 512 KiB of im2col per block
constexpr int64_t kMinBlockPixels = 256;              // and at least this many rows: each block packs all of w
constexpr int64_t kPartialFloats = int64_t{1} << 20;  // backward-weights partial sums, all groups
constexpr int64_t kMaxGroups = 8;

// A block is `rows` output rows of one image (per_image blocks per image), or, for small images, `images`
// whole images: the rows (b, oh, ow) of a block are consecutive either way.
struct GemmBlocks {
  int64_t rows, per_image, images;
  int64_t units(const ConvGeom& g) const { return images > 1 ? ceil_div(g.B, images) : g.B * per_image; }
};
GemmBlocks gemm_blocks(const ConvGeom& g) {
  const int64_t target = std::max(kColsFloats, kMinBlockPixels * g.taps());
  const int64_t max_rows = std::max<int64_t>(1, target / (g.taps() * g.OW));
  if (max_rows >= 2 * g.OH && g.B > 1) return {g.OH, 1, std::min(g.B, max_rows / g.OH)};
  const int64_t n = ceil_div(g.OH, std::min(max_rows, g.OH));
  const int64_t rows = ceil_div(g.OH, n);
  return {rows, ceil_div(g.OH, rows), 1};
}

// Images [b0, b0 + nb) and their output rows [oh0, oh1) that make up block u.
struct BlockSpan {
  int64_t b0, nb, oh0, oh1;
  int64_t pixels(const ConvGeom& g) const { return nb * (oh1 - oh0) * g.OW; }
  int64_t first(const ConvGeom& g) const { return (b0 * g.OH + oh0) * g.OW; }  // first output pixel
};
BlockSpan block_span(const GemmBlocks& blk, const ConvGeom& g, int64_t u) {
  if (blk.images > 1) return {u * blk.images, std::min(blk.images, g.B - u * blk.images), 0, g.OH};
  const int64_t oh0 = (u % blk.per_image) * blk.rows;
  return {u / blk.per_image, 1, oh0, std::min(g.OH, oh0 + blk.rows)};
}

// Backward-weights sums its blocks into this many partials of dW, db (fixed by the shapes, so that the sum's
// order never depends on the thread count), at most kPartialFloats in all; 1 means straight into dw, db.
int64_t gemm_groups(const ConvGeom& g) {
  const int64_t units = gemm_blocks(g).units(g);
  const int64_t fit = kPartialFloats / ((g.taps() + 1) * g.OC);
  return std::max<int64_t>(1, std::min({units, fit, kMaxGroups}));
}

thread_local ThreadBuffer tls_cols;
thread_local ThreadBuffer tls_dz;

void copy_values(float* dst, const float* src, int64_t n) { copy_floats(dst, src, n); }
void fill_zeros(float* dst, int64_t n) { fill_floats(dst, 0.f, n); }
void copy_values(int8_t* dst, const int8_t* src, int64_t n) { std::memcpy(dst, src, static_cast<size_t>(n)); }
void fill_zeros(int8_t* dst, int64_t n) { std::memset(dst, 0, static_cast<size_t>(n)); }

// cols (npix x K) for output rows [oh0, oh1) of image xb: row (oh, ow) holds the KH x KW x C patch, zeros
// where padded. T: float, or int8 for the quantized convolution.
template <typename T>
void im2col_block(T* cols, const T* xb, const ConvGeom& g, int64_t oh0, int64_t oh1) {
  const int64_t KWC = g.KW * g.C;
  T* dst = cols;
  for (int64_t oh = oh0; oh < oh1; ++oh)
    for (int64_t ow = 0; ow < g.OW; ++ow) {
      const int64_t iw0 = ow * g.sw - g.pl;
      const bool row_inside = iw0 >= 0 && iw0 + (g.KW - 1) * g.dw < g.W;
      for (int64_t kh = 0; kh < g.KH; ++kh) {
        const int64_t ih = oh * g.sh - g.pt + kh * g.dh;
        if (ih < 0 || ih >= g.H) {
          fill_zeros(dst, KWC);
          dst += KWC;
          continue;
        }
        const T* xr = xb + ih * g.W * g.C;
        if (row_inside && g.dw == 1) {  // the KW pixels are contiguous in x
          copy_values(dst, xr + iw0 * g.C, KWC);
          dst += KWC;
          continue;
        }
        for (int64_t kw = 0; kw < g.KW; ++kw, dst += g.C) {
          const int64_t iw = iw0 + kw * g.dw;
          if (iw < 0 || iw >= g.W) fill_zeros(dst, g.C);
          else copy_values(dst, xr + iw * g.C, g.C);
        }
      }
    }
}

// cols for block `sp`: the rows of each of its images one after another.
const float* block_cols(const BlockSpan& sp, const float* x, const ConvGeom& g) {
  if (is_pointwise(g)) return x + sp.first(g) * g.C;  // x itself is the (pixels, C) matrix
  const int64_t per_image = (sp.oh1 - sp.oh0) * g.OW * g.taps();
  float* buf = tls_cols.get(sp.nb * per_image);
  for (int64_t i = 0; i < sp.nb; ++i)
    im2col_block(buf + i * per_image, x + (sp.b0 + i) * g.H * g.W * g.C, g, sp.oh0, sp.oh1);
  return buf;
}

// dxb (one image) += the scatter of dcols (npix x K) of output rows [oh0, oh1).
void col2im_block_add(float* dxb, const float* dcols, const ConvGeom& g, int64_t oh0, int64_t oh1) {
  const float* src = dcols;
  for (int64_t oh = oh0; oh < oh1; ++oh)
    for (int64_t ow = 0; ow < g.OW; ++ow)
      for (int64_t kh = 0; kh < g.KH; ++kh) {
        const int64_t ih = oh * g.sh - g.pt + kh * g.dh;
        for (int64_t kw = 0; kw < g.KW; ++kw, src += g.C) {
          const int64_t iw = ow * g.sw - g.pl + kw * g.dw;
          if (ih >= 0 && ih < g.H && iw >= 0 && iw < g.W) add_floats(dxb + (ih * g.W + iw) * g.C, src, g.C);
        }
      }
}

// f(u, serial) for every unit u in [0, n): spread over the threads, each unit's GEMMs then on its own thread,
// when there are units enough for all of them; else one unit after another, each GEMM threaded itself. The
// results are the same either way (no GEMM result depends on its thread split).
template <typename F>
void for_units(int64_t n, double flops_per_unit, F&& f) {
  const int nt = threads_for(static_cast<double>(n) * flops_per_unit);
  if (nt > 1 && n >= nt) {
    parallel_range(n, flops_per_unit, [&](int64_t u0, int64_t u1) {
      for (int64_t u = u0; u < u1; ++u) f(u, true);
    });
  } else {
    for (int64_t u = 0; u < n; ++u) f(u, false);
  }
}

void gemm_any(bool serial, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
              const float* B, int64_t ldb, float beta, float* C, int64_t ldc, const GemmEpilogue& ep = {}) {
  if (serial) gemm_serial(trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc, ep);
  else gemm(trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc, ep);
}

// The rows of dz for one block: dy itself, or dy * (y > 0) in a thread buffer for relu.
const float* block_dz(const float* dy, const float* ymask, int64_t at, int64_t npix, int64_t OC) {
  if (ymask == nullptr) return dy + at * OC;
  float* dz = tls_dz.get(npix * OC);
  relu_backward_serial(dz, dy + at * OC, ymask + at * OC, npix * OC);
  return dz;
}

void forward_gemm(float* y, float* z, const float* x, const float* w, const float* bias, bool relu,
                  const ConvGeom& g) {
  const GemmBlocks blk = gemm_blocks(g);
  const int64_t K = g.taps();
  const double flops = 2.0 * static_cast<double>(blk.images * blk.rows * g.OW * K * g.OC);
  for_units(blk.units(g), flops, [&](int64_t u, bool serial) {
    const BlockSpan sp = block_span(blk, g, u);
    const int64_t at = sp.first(g);
    GemmEpilogue ep;
    ep.bias = bias;
    ep.relu = relu;
    ep.preact = z != nullptr ? z + at * g.OC : nullptr;
    gemm_any(serial, false, false, sp.pixels(g), g.OC, K, block_cols(sp, x, g), K, w, g.OC, 0.f, y + at * g.OC, g.OC,
             ep);
  });
}

// dw += cols^T dz, db += column sums of dz. Blocks are cut into gemm_groups(g) fixed groups; each group sums
// into its own partial on one thread, and the partials are added in group order (see backward_weights_direct).
void backward_weights_gemm(float* dw, float* db, const float* dy, const float* ymask, const float* x,
                           const ConvGeom& g, float* partials) {
  const GemmBlocks blk = gemm_blocks(g);
  const int64_t K = g.taps(), units = blk.units(g), groups = gemm_groups(g), part = (K + 1) * g.OC;
  // One block into (pdw, pdb).
  const auto block = [&](int64_t u, float* pdw, float* pdb, bool serial) {
    const BlockSpan sp = block_span(blk, g, u);
    const int64_t npix = sp.pixels(g);
    const float* dz = block_dz(dy, ymask, sp.first(g), npix, g.OC);
    if (pdw != nullptr) gemm_any(serial, true, false, K, g.OC, npix, block_cols(sp, x, g), K, dz, g.OC, 1.f, pdw, g.OC);
    if (pdb != nullptr)
      for (int64_t p = 0; p < npix; ++p) add_floats(pdb, dz + p * g.OC, g.OC);
  };
  if (groups == 1) {  // straight into dw, db, block after block; the GEMMs use the threads
    for (int64_t u = 0; u < units; ++u) block(u, dw, db, false);
    return;
  }
  const double flops = 2.0 * static_cast<double>(ceil_div(units, groups) * blk.images * blk.rows * g.OW * K * g.OC);
  parallel_range(groups, flops, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      float* acc = partials + c * part;
      std::memset(acc, 0, sizeof(float) * static_cast<size_t>(part));
      for (int64_t u = units * c / groups; u < units * (c + 1) / groups; ++u)
        block(u, dw != nullptr ? acc : nullptr, db != nullptr ? acc + K * g.OC : nullptr, true);
    }
  });
  for (int64_t c = 0; c < groups; ++c) {
    const float* pc = partials + c * part;
    if (dw != nullptr) add_floats(dw, pc, K * g.OC);
    if (db != nullptr) add_floats(db, pc + K * g.OC, g.OC);
  }
}

// dx = col2im(dz w^T). Parallel over whole images (a block of several, or one image with all its row blocks):
// an image's row blocks overlap in dx (the kernel's halo), so one thread adds them all, in order.
void backward_data_gemm(float* dx, const float* dy, const float* ymask, const float* w, const ConvGeom& g) {
  const GemmBlocks blk = gemm_blocks(g);
  const int64_t K = g.taps(), in_image = g.H * g.W * g.C;
  const bool pointwise = is_pointwise(g);
  const int64_t n = blk.images > 1 ? blk.units(g) : g.B, blocks = blk.images > 1 ? 1 : blk.per_image;
  const double flops = 2.0 * static_cast<double>(blk.images * g.rows_per_image() * K * g.OC);
  for_units(n, flops, [&](int64_t v, bool serial) {
    for (int64_t k = 0; k < blocks; ++k) {
      const BlockSpan sp = block_span(blk, g, v * blocks + k);
      const int64_t npix = sp.pixels(g), at = sp.first(g);
      const float* dz = block_dz(dy, ymask, at, npix, g.OC);
      if (pointwise) {  // dx rows are the block's pixels
        gemm_any(serial, false, true, npix, g.C, g.OC, dz, g.OC, w, g.OC, 0.f, dx + at * g.C, g.C);
        continue;
      }
      if (k == 0) fill_floats(dx + sp.b0 * in_image, 0.f, sp.nb * in_image);
      float* dcols = tls_cols.get(npix * K);
      gemm_any(serial, false, true, npix, K, g.OC, dz, g.OC, w, g.OC, 0.f, dcols, K);
      const int64_t per_image = (sp.oh1 - sp.oh0) * g.OW * K;
      for (int64_t i = 0; i < sp.nb; ++i)
        col2im_block_add(dx + (sp.b0 + i) * in_image, dcols + i * per_image, g, sp.oh0, sp.oh1);
    }
  });
}

// ---- implicit-GEMM path ---------------------------------------------------------------------------------------

// A stride-1 convolution out (B, OH, OW, OC) of src (B, H, W, C), zero-padded by pt, pl (any sign), dilation dh,
// dw; src is read times (mask > 0) when mask is not null (backward-data: relu's derivative, taken from y).
struct Implicit {
  const float* src;
  const float* mask;
  int64_t B, H, W, C, OH, OW, OC, KH, KW, dh, dw, pt, pl;
  int64_t taps() const { return KH * KW; }
  int64_t grid_w() const { return OW + (KW - 1) * dw; }
};

// Which passes take the implicit GEMM, by measurement (Zen 4, batch 32, against im2col + GEMM): its tiles are 32 or
// 64 channels wide, so the channels a pass writes (forward OC, backward-data C) must be more than the GEMM
// path's narrow kernel takes (16); backward-weights runs the GEMM micro-kernel over the positions of one image
// at a time, which needs 16 or more input channels (its tile's rows) and 128 or more positions per image.
bool implicit_geometry(const ConvGeom& g) {
  return g.sh == 1 && g.sw == 1 && !is_pointwise(g) && !is_direct(g);
}
bool takes_implicit_forward(const ConvGeom& g) { return implicit_geometry(g) && g.OC > 16; }
bool takes_implicit_backward_data(const ConvGeom& g) { return implicit_geometry(g) && g.C > 16; }
bool takes_implicit_backward_weights(const ConvGeom& g) {
  return takes_implicit_forward(g) && g.C >= 16 && g.OH * (g.OW + (g.KW - 1) * g.dw) >= 128;
}

constexpr int64_t kSlabFloats = int64_t{1} << 16;  // 256 KiB of input rows per block: L2, beside a weight panel

thread_local ThreadBuffer tls_slab;
thread_local ThreadBuffer tls_packed;

// Panel p of a kernel's N columns starts at column p * NR and at p * K * NR in the packed weights; it is NR
// wide, or narrow_nr for a last panel of that many columns or fewer (conv_internal.hpp), and its tiles have as
// many pixels as the kernel's tile of that width.
struct Panel {
  int64_t cols, width, mr;
};
Panel panel(const ConvKernel& k, int64_t N, int64_t p) {
  const int64_t cols = std::min<int64_t>(k.tile_nr, N - p * k.tile_nr);
  if (cols <= k.narrow_nr) return {cols, k.narrow_nr, k.narrow_mr};
  return {cols, k.tile_nr, k.tile_mr};
}

// The (K x N) matrix at(k, j) into panels, k-major, zero past N, in the calling thread's buffer; all threads of
// the call read it.
template <typename At>
const float* pack_panels(int64_t K, int64_t N, At at) {
  const ConvKernel& k = conv_active_kernel();
  const int64_t panels = ceil_div(N, k.tile_nr);
  float* dst = tls_packed.get(panels * K * k.tile_nr);
  for (int64_t p = 0; p < panels; ++p) {
    const Panel pn = panel(k, N, p);
    for (int64_t r = 0; r < K; ++r) {
      float* d = dst + p * K * k.tile_nr + r * pn.width;
      for (int64_t j = 0; j < pn.width; ++j) d[j] = j < pn.cols ? at(r, p * k.tile_nr + j) : 0.f;
    }
  }
  return dst;
}

// Slab rows [0, used) of image b for output rows from oh0: slab row r is src row oh0 - pt + r, slab column j is
// src column j - pl, zero outside src; then `slack` zeros that the last tiles may read.
void build_slab(float* s, const Implicit& c, int64_t b, int64_t oh0, int64_t used, int64_t slack) {
  const int64_t gw = c.grid_w(), lo = std::clamp<int64_t>(c.pl, 0, gw), hi = std::clamp(c.W + c.pl, lo, gw);
  for (int64_t r = 0; r < used; ++r) {
    float* dst = s + r * gw * c.C;
    const int64_t ih = oh0 - c.pt + r;
    if (ih < 0 || ih >= c.H) {
      fill_floats(dst, 0.f, gw * c.C);
      continue;
    }
    fill_floats(dst, 0.f, lo * c.C);
    const int64_t at = ((b * c.H + ih) * c.W + lo - c.pl) * c.C, n = (hi - lo) * c.C;
    if (c.mask == nullptr) copy_floats(dst + lo * c.C, c.src + at, n);
    else relu_backward_serial(dst + lo * c.C, c.src + at, c.mask + at, n);
    fill_floats(dst + hi * c.C, 0.f, (gw - hi) * c.C);
  }
  fill_floats(s + used * gw * c.C, 0.f, slack);
}

// Blocks of output rows per image whose slab fits kSlabFloats (at least one row each).
int64_t slab_blocks(const Implicit& c) {
  const int64_t halo = (c.KH - 1) * c.dh;
  return ceil_div(c.OH, std::clamp<int64_t>(kSlabFloats / (c.grid_w() * c.C) - halo, 1, c.OH));
}

// The taps' offsets into the slab (conv_internal.hpp), in the calling thread's tls_offsets.
const int64_t* slab_offsets(const Implicit& c) {
  tls_offsets.resize(static_cast<size_t>(c.taps()));
  int64_t* off = tls_offsets.data();
  for (int64_t kh = 0; kh < c.KH; ++kh)
    for (int64_t kw = 0; kw < c.KW; ++kw) off[kh * c.KW + kw] = (kh * c.dh * c.grid_w() + kw * c.dw) * c.C;
  return off;
}

// out (and z: the pre-activation, when not null) = the convolution with `packed` (pack_panels of the K x OC
// kernel, K = taps * C, rows (kh, kw, c)), plus bias, relu'd. Parallel over (image, block of output rows); each
// output element is one tile's fixed-order sum, whatever the blocks and threads.
void run_implicit(float* out, float* z, const Implicit& c, const float* packed, const float* bias, bool relu) {
  const ConvKernel& k = conv_active_kernel();
  const int64_t taps = c.taps(), gw = c.grid_w(), K = taps * c.C, NR = k.tile_nr;
  const int64_t panels = ceil_div(c.OC, NR), halo = (c.KH - 1) * c.dh;
  const int64_t* off = slab_offsets(c);
  // Blocks of output rows, evened; more of them when the batch alone leaves threads idle.
  const double flops_per_row = 2.0 * static_cast<double>(c.OW * K * c.OC);
  const int nt = threads_for(flops_per_row * static_cast<double>(c.B * c.OH));
  int64_t per_image = slab_blocks(c);
  if (c.B * per_image < nt) per_image = std::min(c.OH, ceil_div(nt, c.B));
  const int64_t rows = ceil_div(c.OH, per_image);
  per_image = ceil_div(c.OH, rows);
  const int64_t slack = std::max(k.tile_mr, k.narrow_mr) * c.C;
  parallel_range(c.B * per_image, flops_per_row * static_cast<double>(rows), [&](int64_t u0, int64_t u1) {
    float* s = tls_slab.get((rows + halo) * gw * c.C + slack);
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t b = u / per_image, oh0 = (u % per_image) * rows, oh1 = std::min(c.OH, oh0 + rows);
      build_slab(s, c, b, oh0, oh1 - oh0 + halo, slack);
      for (int64_t p = 0; p < panels; ++p) {
        const float* bp = packed + p * K * NR;
        const Panel pn = panel(k, c.OC, p);
        for (int64_t r = 0; r < oh1 - oh0; ++r)
          for (int64_t ow = 0; ow < c.OW; ow += pn.mr) {
            const int64_t at = ((b * c.OH + oh0 + r) * c.OW + ow) * c.OC + p * NR;
            k.implicit(taps, off, c.C, s + (r * gw + ow) * c.C, bp, bias != nullptr ? bias + p * NR : nullptr, relu,
                       std::min(pn.mr, c.OW - ow), pn.cols, out + at, z != nullptr ? z + at : nullptr, c.OC);
          }
      }
    }
  });
}

void forward_implicit(float* y, float* z, const float* x, const float* w, const float* bias, bool relu,
                      const ConvGeom& g) {
  const Implicit c{x, nullptr, g.B, g.H, g.W, g.C, g.OH, g.OW, g.OC, g.KH, g.KW, g.dh, g.dw, g.pt, g.pl};
  const int64_t OC = g.OC;
  const float* packed = pack_panels(g.taps(), OC, [&](int64_t k, int64_t j) { return w[k * OC + j]; });
  run_implicit(y, z, c, packed, bias, relu);
}

// dx[ih][iw] = sum over taps of dz[ih + pt - kh*dh][iw + pl - kw*dw] . w[kh][kw]^T: a stride-1 convolution of dz,
// padded by (KH-1)*dh - pt, (KW-1)*dw - pl, with the kernel flipped in both directions and (C, OC) transposed.
void backward_data_implicit(float* dx, const float* dy, const float* ymask, const float* w, const ConvGeom& g) {
  const Implicit c{dy, ymask, g.B, g.OH, g.OW, g.OC, g.H, g.W, g.C, g.KH, g.KW, g.dh, g.dw,
                   (g.KH - 1) * g.dh - g.pt, (g.KW - 1) * g.dw - g.pl};
  const int64_t KH = g.KH, KW = g.KW, C = g.C, OC = g.OC;
  const float* packed = pack_panels(KH * KW * OC, C, [&](int64_t k, int64_t j) {
    const int64_t t = k / OC, oc = k % OC, kh = KH - 1 - t / KW, kw = KW - 1 - t % KW;
    return w[((kh * KW + kw) * C + j) * OC + oc];
  });
  run_implicit(dx, nullptr, c, packed, nullptr, false);
}

// Backward-weights: the (image, row block) units go in implicit_groups(g) fixed groups, each summed into its own
// partial of dW, db on one thread, the partials then added in group order (as backward_weights_gemm): the sums'
// order depends on the shapes alone, never on the thread count.
int64_t implicit_groups(const ConvGeom& g) {
  const Implicit c{nullptr, nullptr, g.B, g.H, g.W, g.C, g.OH, g.OW, g.OC, g.KH, g.KW, g.dh, g.dw, g.pt, g.pl};
  return std::min(g.B * slab_blocks(c), kMaxGroups);
}

// dw += sum over the block's pixels of the patch^T dz, db += the sum of dz rows. Per unit: the input rows into
// the slab; dz (dy, times relu's derivative when ymask is not null) packed into the GEMM's NR-column panels over
// the slab's grid positions q = r * grid_w + ow (zero where ow >= OW, so the positions between output rows add
// nothing); then for each tap t, dW_t (C x OC) += A_t^T dz with A_t the slab shifted by the tap, read in place by
// the micro-kernel (row i of its tile = channel i, k = position q).
void backward_weights_implicit(float* dw, float* db, const float* dy, const float* ymask, const float* x,
                               const ConvGeom& g, float* partials) {
  const Implicit c{x, nullptr, g.B, g.H, g.W, g.C, g.OH, g.OW, g.OC, g.KH, g.KW, g.dh, g.dw, g.pt, g.pl};
  const GemmKernel& gk = gemm_active_kernel();
  const int64_t MR = gk.MR, NR = gk.NR, taps = c.taps(), gw = c.grid_w(), halo = (c.KH - 1) * c.dh;
  const int64_t per_image = slab_blocks(c), rows = ceil_div(c.OH, per_image);
  const int64_t units = c.B * ceil_div(c.OH, rows), groups = implicit_groups(g), panels = ceil_div(c.OC, NR);
  const int64_t part = (taps * c.C + 1) * c.OC;
  // The micro-kernel's rows past C and the last taps' positions past the slab read this many zeros.
  const int64_t slack = (c.KW * c.dw + 1) * c.C + MR;
  const int64_t* off = slab_offsets(c);
  const double flops_per_group = 2.0 * static_cast<double>(ceil_div(units, groups) * rows * c.OW * taps * c.C * c.OC);
  parallel_range(groups, flops_per_group, [&](int64_t g0, int64_t g1) {
    float* s = tls_slab.get((rows + halo) * gw * c.C + slack);
    float* dzp = tls_dz.get(panels * rows * gw * NR);
    float tile[16 * 64];  // a ragged tile (MR x NR <= 16 x 64 for every GEMM kernel)
    for (int64_t gi = g0; gi < g1; ++gi) {
      float* acc = partials + gi * part;
      std::memset(acc, 0, sizeof(float) * static_cast<size_t>(part));
      for (int64_t u = units * gi / groups; u < units * (gi + 1) / groups; ++u) {
        const int64_t b = u / ceil_div(c.OH, rows), oh0 = (u % ceil_div(c.OH, rows)) * rows;
        const int64_t nr = std::min(c.OH, oh0 + rows) - oh0, K = nr * gw;
        build_slab(s, c, b, oh0, nr + halo, slack);
        // dz over the grid positions into panels (k-major, NR wide), and its row sums into db.
        for (int64_t r = 0; r < nr; ++r)
          for (int64_t ow = 0; ow < gw; ++ow) {
            const int64_t q = r * gw + ow, at = ((b * c.OH + oh0 + r) * c.OW + ow) * c.OC;
            for (int64_t p = 0; p < panels; ++p) {
              float* d = dzp + (p * K + q) * NR;
              const int64_t n = ow < c.OW ? std::min(NR, c.OC - p * NR) : 0;
              if (n > 0 && ymask != nullptr) relu_backward_serial(d, dy + at + p * NR, ymask + at + p * NR, n);
              else if (n > 0) copy_floats(d, dy + at + p * NR, n);
              fill_floats(d + n, 0.f, NR - n);
              if (n > 0) add_floats(acc + taps * c.C * c.OC + p * NR, d, n);
            }
          }
        for (int64_t t = 0; t < taps; ++t)
          for (int64_t i0 = 0; i0 < c.C; i0 += MR)
            for (int64_t p = 0; p < panels; ++p) {
              const float* a = s + off[t] + i0;
              float* dst = acc + (t * c.C + i0) * c.OC + p * NR;
              const int64_t mi = std::min(MR, c.C - i0), nj = std::min(NR, c.OC - p * NR);
              if (mi == MR && nj == NR) {
                gk.fn(K, a, 1, c.C, dzp + p * K * NR, 1.f, dst, c.OC);
                continue;
              }
              gk.fn(K, a, 1, c.C, dzp + p * K * NR, 0.f, tile, NR);
              for (int64_t i = 0; i < mi; ++i) add_floats(dst + i * c.OC, tile + i * NR, nj);
            }
      }
    }
  });
  for (int64_t gi = 0; gi < groups; ++gi) {
    const float* pc = partials + gi * part;
    add_floats(dw, pc, taps * c.C * c.OC);
    if (db != nullptr) add_floats(db, pc + taps * c.C * c.OC, c.OC);
  }
}

// Workspace: the partial sums of backward-weights, direct or GEMM path.
int64_t workspace_floats(const ConvGeom& g) {
  const int64_t groups = gemm_groups(g);  // the direct path's bias-only gradient goes this way too
  const int64_t gemm_part = groups > 1 ? groups * (g.taps() + 1) * g.OC : 0;
  const int64_t implicit_part = takes_implicit_backward_weights(g) ? implicit_groups(g) * (g.taps() + 1) * g.OC : 0;
  return std::max({gemm_part, implicit_part, is_direct(g) ? direct_chunks(g) * (g.taps() + 1) * g.OC : 0});
}

thread_local ThreadBuffer tls_qx, tls_qcols;

}  // namespace

void conv2d_forward_s8(float* y, const float* x, const Int8PackedB& w, const float* w_scale, const float* bias,
                       bool relu, const ConvGeom& g) {
  if (g.B == 0) return;
  const int64_t image = g.H * g.W * g.C, K = g.taps();
  // Each image quantized whole (one scale per sample), on the threads.
  float* xs = tls_qx.get(g.B + (g.B * image + 3) / 4);
  int8_t* qx = reinterpret_cast<int8_t*>(xs + g.B);
  parallel_range(g.B, static_cast<double>(image), [&](int64_t b0, int64_t b1) {
    quantize_rows_s8(b1 - b0, image, x + b0 * image, image, qx + b0 * image, image, xs + b0);
  });
  GemmEpilogue ep;
  ep.bias = bias;
  ep.relu = relu;
  const GemmBlocks blk = gemm_blocks(g);
  const double flops = 2.0 * static_cast<double>(blk.images * blk.rows * g.OW * K * g.OC);
  for_units(blk.units(g), flops, [&](int64_t u, bool serial) {
    const BlockSpan sp = block_span(blk, g, u);
    const int64_t per_image = (sp.oh1 - sp.oh0) * g.OW;
    int8_t* cols = is_pointwise(g) ? nullptr : reinterpret_cast<int8_t*>(tls_qcols.get((per_image * K + 3) / 4));
    for (int64_t i = 0; i < sp.nb; ++i) {
      const int64_t b = sp.b0 + i;
      const int8_t* a = qx + b * image + sp.oh0 * g.OW * g.C;  // pointwise: the pixels are the rows
      if (cols != nullptr) {
        im2col_block(cols, qx + b * image, g, sp.oh0, sp.oh1);
        a = cols;
      }
      const int64_t at = (b * g.OH + sp.oh0) * g.OW;
      gemm_s8_dequant(per_image, a, K, xs + b, 0, w, w_scale, 0.f, y + at * g.OC, g.OC, ep, serial);
    }
  });
}

int64_t conv2d_workspace_size(const ConvGeom& g) { return workspace_floats(g); }

bool conv2d_fuses(Act act) { return act == Act::linear || act == Act::relu; }

void conv2d_forward(float* y, float* z, const float* x, const float* w, const float* bias, Act act, float alpha,
                    const ConvGeom& g, float* ws, int64_t ws_size) {
  // Fused activations are applied as each tile is stored; others get the pre-activation written (to z, else
  // straight to y) and one act_forward pass after.
  if (g.B == 0) return;
  const bool fused = conv2d_fuses(act);
  float* out = fused || z == nullptr ? y : z;
  float* pre = fused ? z : nullptr;
  const bool relu = act == Act::relu;
  if (is_direct(g)) forward_direct(out, pre, x, w, bias, relu, g);
  else if (takes_implicit_forward(g)) forward_implicit(out, pre, x, w, bias, relu, g);
  else forward_gemm(out, pre, x, w, bias, relu, g);
  if (!fused) act_forward(act, y, out, g.B * g.rows_per_image(), g.OC, alpha);
}

void conv2d_backward(float* dx, float* dw, float* db, const float* dy, const float* y, Act act, const float* x,
                     const float* w, const ConvGeom& g, float* ws, int64_t ws_size) {
  if (g.B == 0) return;
  const float* ymask = act == Act::relu ? y : nullptr;  // dz = dy * relu'(z), from the output: y > 0 <=> z > 0
  if (dw != nullptr && is_direct(g)) backward_weights_direct(dw, db, dy, ymask, x, g, ws);
  else if (dw != nullptr && takes_implicit_backward_weights(g)) backward_weights_implicit(dw, db, dy, ymask, x, g, ws);
  else if (dw != nullptr || db != nullptr) backward_weights_gemm(dw, db, dy, ymask, x, g, ws);
  if (dx != nullptr && takes_implicit_backward_data(g)) backward_data_implicit(dx, dy, ymask, w, g);
  else if (dx != nullptr) backward_data_gemm(dx, dy, ymask, w, g);
}

// ---- reference (direct loops) ----------------------------------------------------------------------------
void conv2d_forward_ref(float* y, float* z, const float* x, const float* w, const float* bias, Act act,
                        float alpha, const ConvGeom& g) {
  float* out = z != nullptr ? z : y;
  for (int64_t b = 0; b < g.B; ++b)
    for (int64_t oh = 0; oh < g.OH; ++oh)
      for (int64_t ow = 0; ow < g.OW; ++ow)
        for (int64_t oc = 0; oc < g.OC; ++oc) {
          double s = bias != nullptr ? bias[oc] : 0.0;
          for (int64_t kh = 0; kh < g.KH; ++kh)
            for (int64_t kw = 0; kw < g.KW; ++kw) {
              const int64_t ih = oh * g.sh - g.pt + kh * g.dh, iw = ow * g.sw - g.pl + kw * g.dw;
              if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
              for (int64_t c = 0; c < g.C; ++c)
                s += static_cast<double>(x[((b * g.H + ih) * g.W + iw) * g.C + c]) *
                     w[((kh * g.KW + kw) * g.C + c) * g.OC + oc];
            }
          out[((b * g.OH + oh) * g.OW + ow) * g.OC + oc] = static_cast<float>(s);
        }
  act_forward(act, y, out, g.B * g.rows_per_image(), g.OC, alpha);
}

void conv2d_backward_ref(float* dx, float* dw, float* db, const float* dy, const float* y, Act act, const float* x,
                         const float* w, const ConvGeom& g) {
  if (dx != nullptr) std::memset(dx, 0, sizeof(float) * static_cast<size_t>(g.B * g.H * g.W * g.C));
  for (int64_t b = 0; b < g.B; ++b)
    for (int64_t oh = 0; oh < g.OH; ++oh)
      for (int64_t ow = 0; ow < g.OW; ++ow)
        for (int64_t oc = 0; oc < g.OC; ++oc) {
          const int64_t o = ((b * g.OH + oh) * g.OW + ow) * g.OC + oc;
          const float gy = act == Act::relu && !(y[o] > 0.f) ? 0.f : dy[o];
          if (db != nullptr) db[oc] += gy;
          for (int64_t kh = 0; kh < g.KH; ++kh)
            for (int64_t kw = 0; kw < g.KW; ++kw) {
              const int64_t ih = oh * g.sh - g.pt + kh * g.dh, iw = ow * g.sw - g.pl + kw * g.dw;
              if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
              for (int64_t c = 0; c < g.C; ++c) {
                const int64_t xi = ((b * g.H + ih) * g.W + iw) * g.C + c, wi = ((kh * g.KW + kw) * g.C + c) * g.OC + oc;
                if (dw != nullptr) dw[wi] += x[xi] * gy;
                if (dx != nullptr) dx[xi] += w[wi] * gy;
              }
            }
        }
}

}  // namespace nncore::kernels
