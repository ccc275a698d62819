// Embedding lookup and its scatter-add backward. Ids are floats holding integers (validated first).
#include <cmath>
#include <algorithm>
#include <cstring>

#include "kernels/kernels.hpp"
#include "kernels/parallel.hpp"

namespace nncore::kernels {

int64_t embedding_first_invalid(const float* ids, int64_t n, int64_t V) {
  const float limit = static_cast<float>(V);
  for (int64_t i = 0; i < n; ++i) {
    const float id = ids[i];
    if (!(id >= 0.f && id < limit && std::floor(id) == id)) return i;  // NaN fails every comparison
  }
  return -1;
}

// Parallel over rows: each writes its own output row.
void embedding_forward(float* y, float* mask, const float* ids, const float* table, int64_t n, int64_t D,
                       const float* row_scale) {
  parallel_range(n, static_cast<double>(D), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t id = static_cast<int64_t>(ids[i]);
      if (row_scale != nullptr) {
        const float s = row_scale[id];
        const float* __restrict t = table + id * D;
        float* __restrict o = y + i * D;
        for (int64_t d = 0; d < D; ++d) o[d] = t[d] / s;
      } else {
        std::memcpy(y + i * D, table + id * D, sizeof(float) * static_cast<size_t>(D));
      }
      if (mask) mask[i] = id != 0 ? 1.f : 0.f;
    }
  });
}

// Two rows may share an id, so a split over rows would race (or need atomics, whose order varies). Each thread
// owns a block of columns instead and walks all rows in order.
void embedding_backward(float* dtable, const float* dy, const float* ids, int64_t n, int64_t D) {
  constexpr int64_t kBlock = 16;  // columns per unit: a 64-byte line, so threads never share one
  const int64_t blocks = (D + kBlock - 1) / kBlock;
  parallel_range(blocks, static_cast<double>(n * kBlock), [&](int64_t b0, int64_t b1) {
    const int64_t c0 = b0 * kBlock, c1 = std::min(b1 * kBlock, D);
    for (int64_t i = 0; i < n; ++i) {
      float* __restrict d = dtable + static_cast<int64_t>(ids[i]) * D;
      const float* __restrict g = dy + i * D;
#pragma omp simd
      for (int64_t c = c0; c < c1; ++c) d[c] += g[c];
    }
  });
}

}  // namespace nncore::kernels
