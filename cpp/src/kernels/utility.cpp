// Kernels of the small Keras utility layers: ReLU with its arguments, PReLU, the elementwise maximum/minimum
// merges, RepeatVector, Permute, Rescaling, the Gaussian noise layers and ActivityRegularization. Plain loops,
// parallel over a static split of the flat index or of the rows; each thread writes its own range, and every sum
// (PReLU's alpha gradient, RepeatVector's backward) runs in one fixed order, so no result depends on the thread count.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/kernels.hpp"
#include "kernels/parallel.hpp"

namespace nncore::kernels {

// ---- ReLU(max_value, negative_slope, threshold) ---------------------------------------------------------------
// y = x > t ? min(x, max) : slope * (x - t)  (Keras's ReLU: the identity above the threshold, clipped at max_value,
// a line of slope `negative_slope` through (t, 0) below it).
void relu_ext_forward(float* y, const float* x, int64_t n, float max_value, float negative_slope, float threshold) {
  parallel_range(n, 2.0, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const float v = x[i];
      y[i] = v > threshold ? std::fmin(v, max_value) : negative_slope * (v - threshold);
    }
  });
}

// Backward of the line above: 1 on (t, max), 0 from max up (clipped), slope at and below t.
void relu_ext_backward(float* dx, const float* dy, const float* x, int64_t n, float max_value, float negative_slope,
                       float threshold) {
  parallel_range(n, 2.0, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const float v = x[i];
      dx[i] = v > threshold ? (v < max_value ? dy[i] : 0.f) : negative_slope * dy[i];
    }
  });
}

// ---- PReLU -------------------------------------------------------------------------------------------------------
// x (B, E) per-sample flat; alpha (A); amap (E) the alpha entry of each per-sample element (null: identity, A == E).
// y = x > 0 ? x : alpha[amap[e]] * x.
void prelu_forward(float* y, const float* x, const float* alpha, const int64_t* amap, int64_t B, int64_t E) {
  parallel_range(B, static_cast<double>(E), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const float* xr = x + b * E;
      float* yr = y + b * E;
      for (int64_t e = 0; e < E; ++e) {
        const float a = alpha[amap != nullptr ? amap[e] : e];
        yr[e] = xr[e] > 0.f ? xr[e] : a * xr[e];
      }
    }
  });
}

// Backward of y = x > 0 ? x : alpha * x: dx = x > 0 ? dy : alpha * dy (overwritten); dalpha[a] += sum over the batch
// and over the elements e sharing entry a of dy * min(x, 0). Two loop nests: dx parallel over the rows; dalpha
// parallel over its entries, each summed in the order (b, then e ascending as order/starts list them).
void prelu_backward(float* dx, float* dalpha, const float* dy, const float* x, const float* alpha,
                    const int64_t* amap, const int64_t* order, const int64_t* starts, int64_t B, int64_t E,
                    int64_t A) {
  if (dx != nullptr)
    parallel_range(B, static_cast<double>(E), [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        const float* xr = x + b * E;
        const float* gr = dy + b * E;
        float* dr = dx + b * E;
        for (int64_t e = 0; e < E; ++e) {
          const float a = alpha[amap != nullptr ? amap[e] : e];
          dr[e] = xr[e] > 0.f ? gr[e] : a * gr[e];
        }
      }
    });
  if (dalpha == nullptr) return;
  parallel_range(A, static_cast<double>(B) * static_cast<double>(E) / static_cast<double>(A > 0 ? A : 1),
                 [&](int64_t a0, int64_t a1) {
                   for (int64_t a = a0; a < a1; ++a) {
                     const int64_t k0 = order != nullptr ? starts[a] : a, k1 = order != nullptr ? starts[a + 1] : a + 1;
                     float acc = dalpha[a];
                     for (int64_t b = 0; b < B; ++b)
                       for (int64_t k = k0; k < k1; ++k) {
                         const int64_t e = order != nullptr ? order[k] : k;
                         const float v = x[b * E + e];
                         acc += v > 0.f ? 0.f : dy[b * E + e] * v;
                       }
                     dalpha[a] = acc;
                   }
                 });
}

// ---- Maximum / Minimum merges ------------------------------------------------------------------------------------
// y = max (or min) of xs[0..k) elementwise; arg = the input chosen: a later input replaces the running extremum only
// when strictly greater (smaller), so ties go to the first input (TensorFlow's rule for its gradient).
void extremum_forward(float* y, int32_t* arg, const float* const* xs, int64_t k, int64_t n, bool max) {
  parallel_range(n, static_cast<double>(k), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      float best = xs[0][i];
      int32_t who = 0;
      for (int64_t j = 1; j < k; ++j) {
        const float v = xs[j][i];
        if (max ? v > best : v < best) {
          best = v;
          who = static_cast<int32_t>(j);
        }
      }
      y[i] = best;
      arg[i] = who;
    }
  });
}

// dx = arg == which ? dy : 0 (overwritten): the gradient goes to the input that was chosen.
void extremum_backward(float* dx, const float* dy, const int32_t* arg, int32_t which, int64_t n) {
  parallel_range(n, 1.0, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) dx[i] = arg[i] == which ? dy[i] : 0.f;
  });
}

// ---- RepeatVector ------------------------------------------------------------------------------------------------
// x (B, F) -> y (B, N, F): y[b, i, :] = x[b, :].
void repeat_vector_forward(float* y, const float* x, int64_t B, int64_t N, int64_t F) {
  parallel_range(B * N, static_cast<double>(F), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      std::memcpy(y + r * F, x + (r / N) * F, sizeof(float) * static_cast<size_t>(F));
  });
}

// dx[b, :] = sum_i dy[b, i, :] (overwritten), i ascending; parallel over the samples.
void repeat_vector_backward(float* dx, const float* dy, int64_t B, int64_t N, int64_t F) {
  parallel_range(B, static_cast<double>(N * F), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      float* d = dx + b * F;
      std::memset(d, 0, sizeof(float) * static_cast<size_t>(F));
      for (int64_t i = 0; i < N; ++i) {
        const float* g = dy + (b * N + i) * F;
        for (int64_t f = 0; f < F; ++f) d[f] += g[f];
      }
    }
  });
}

// ---- Permute -----------------------------------------------------------------------------------------------------
// Each of B samples of shape dims permuted: y's axis i is x's axis perm[i]. Parallel over the samples.
void permute_samples(float* y, const float* x, int64_t B, const std::vector<int64_t>& dims,
                     const std::vector<int64_t>& perm) {
  const size_t r = dims.size();
  int64_t E = 1;
  for (int64_t d : dims) E *= d;
  std::vector<int64_t> stride(r, 1), od(r), os(r);  // x's strides; per output axis its length and the x stride
  for (size_t i = r; i-- > 1;) stride[i - 1] = stride[i] * dims[i];
  for (size_t i = 0; i < r; ++i) {
    od[i] = dims[static_cast<size_t>(perm[i])];
    os[i] = stride[static_cast<size_t>(perm[i])];
  }
  parallel_range(B, static_cast<double>(E), [&](int64_t b0, int64_t b1) {
    std::vector<int64_t> idx(r);
    for (int64_t b = b0; b < b1; ++b) {
      const float* xb = x + b * E;
      float* yb = y + b * E;
      std::fill(idx.begin(), idx.end(), 0);
      int64_t off = 0;
      for (int64_t k = 0; k < E; ++k) {
        yb[k] = xb[off];
        for (size_t i = r; i-- > 0;) {  // the odometer over y's axes, the last fastest
          off += os[i];
          if (++idx[i] < od[i]) break;
          off -= os[i] * od[i];
          idx[i] = 0;
        }
      }
    }
  });
}

// ---- Rescaling ---------------------------------------------------------------------------------------------------
void scale_shift(float* y, const float* x, int64_t n, float scale, float offset) {
  parallel_range(n, 1.0, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) y[i] = x[i] * scale + offset;
  });
}

// ---- Gaussian noise ----------------------------------------------------------------------------------------------
namespace {
inline uint64_t mix64(uint64_t z) {  // splitmix64's finalizer
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// A standard normal draw for index i under `seed`: Box-Muller on the two 32-bit halves of one hash of (seed, i),
// u1 in (0, 1] (never 0, so the log is finite), computed in double.
inline float normal_at(uint64_t seed, int64_t i) {
  const uint64_t h = mix64(seed ^ (static_cast<uint64_t>(i) * 0xd1b54a32d192ed03ull));
  const double u1 = (static_cast<double>(h >> 32) + 1.0) * (1.0 / 4294967296.0);
  const double u2 = static_cast<double>(h & 0xffffffffull) * (1.0 / 4294967296.0);
  return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
}
}  // namespace

void add_gaussian_noise(float* y, const float* x, int64_t n, float stddev, uint64_t seed) {
  parallel_range(n, 40.0, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) y[i] = x[i] + stddev * normal_at(seed, i);
  });
}

void gaussian_dropout_forward(float* y, float* mask, const float* x, int64_t n, float stddev, uint64_t seed) {
  parallel_range(n, 40.0, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      mask[i] = 1.f + stddev * normal_at(seed, i);
      y[i] = x[i] * mask[i];
    }
  });
}

// ---- ActivityRegularization -------------------------------------------------------------------------------------
void activity_regularization_backward(float* dx, const float* dy, const float* x, int64_t n, float l1, float l2) {
  parallel_range(n, 2.0, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const float sign = x[i] > 0.f ? 1.f : (x[i] < 0.f ? -1.f : 0.f);
      dx[i] = dy[i] + l1 * sign + 2.f * l2 * x[i];
    }
  });
}

}  // namespace nncore::kernels
