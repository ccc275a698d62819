#include "kernels/nd.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "kernels/kernels.hpp"
#include "kernels/parallel.hpp"

namespace nncore::kernels {

int64_t NdGeom::size() const {
  int64_t n = 1;
  for (int i = 0; i < rank; ++i) n *= dims[i];
  return n;
}

bool broadcast_geometry(const std::vector<int64_t>& a, const std::vector<int64_t>& b, NdGeom& g,
                        std::vector<int64_t>& out) {
  const size_t r = std::max(a.size(), b.size());
  if (r > static_cast<size_t>(kMaxRank)) return false;
  out.assign(r, 1);
  std::vector<int64_t> da(r, 1), db(r, 1);
  for (size_t i = 0; i < a.size(); ++i) da[r - a.size() + i] = a[i];
  for (size_t i = 0; i < b.size(); ++i) db[r - b.size() + i] = b[i];
  for (size_t i = 0; i < r; ++i) {
    if (da[i] != db[i] && da[i] != 1 && db[i] != 1) return false;
    out[i] = da[i] == 1 ? db[i] : da[i];
  }
  // Contiguous strides of each operand, 0 where it is broadcast.
  std::vector<int64_t> sa(r), sb(r), so(r);
  int64_t pa = 1, pb = 1, po = 1;
  for (size_t i = r; i-- > 0;) {
    sa[i] = da[i] == 1 && out[i] != 1 ? 0 : pa;
    sb[i] = db[i] == 1 && out[i] != 1 ? 0 : pb;
    so[i] = po;
    pa *= da[i];
    pb *= db[i];
    po *= out[i];
  }
  // Merge axis i into i+1 when every operand steps through both as one contiguous axis (or broadcasts both).
  g.rank = 0;
  for (size_t i = 0; i < r; ++i) {
    if (out[i] == 1 && r > 1) continue;  // a unit axis adds nothing
    if (g.rank > 0) {
      const int j = g.rank - 1;
      const int64_t d = out[i];
      const bool merge = g.strides[0][j] == sa[i] * d && g.strides[1][j] == sb[i] * d;
      if (merge) {
        g.dims[j] *= d;
        g.strides[0][j] = sa[i];
        g.strides[1][j] = sb[i];
        continue;
      }
    }
    g.dims[g.rank] = out[i];
    g.strides[0][g.rank] = sa[i];
    g.strides[1][g.rank] = sb[i];
    ++g.rank;
  }
  if (g.rank == 0) {
    g.rank = 1;
    g.dims[0] = 1;
    g.strides[0][0] = g.strides[1][0] = 0;
  }
  int64_t p = 1;
  for (int i = g.rank; i-- > 0;) {
    g.strides[2][i] = p;
    p *= g.dims[i];
  }
  return true;
}

namespace {

inline float apply(BinaryOp op, float a, float b) {
  switch (op) {
    case BinaryOp::add: return a + b;
    case BinaryOp::subtract: return a - b;
    case BinaryOp::multiply: return a * b;
    case BinaryOp::divide: return a / b;
    case BinaryOp::maximum: return a >= b ? a : b;
    case BinaryOp::minimum: return a <= b ? a : b;
    case BinaryOp::power: return std::pow(a, b);
    case BinaryOp::equal: return a == b ? 1.f : 0.f;
    case BinaryOp::not_equal: return a != b ? 1.f : 0.f;
    case BinaryOp::greater: return a > b ? 1.f : 0.f;
    case BinaryOp::greater_equal: return a >= b ? 1.f : 0.f;
    case BinaryOp::less: return a < b ? 1.f : 0.f;
    case BinaryOp::less_equal: return a <= b ? 1.f : 0.f;
  }
  return 0.f;
}

// Calls f(out offset, a offset, b offset, n, a step, b step) for each run of the innermost axis; on several threads
// (disjoint ranges of rows) when cost_per_element > 0 and the work is worth it, f then writing its output row only.
template <typename F>
void for_each_row(const NdGeom& g, double cost_per_element, F&& f) {
  const int last = g.rank - 1;
  const int64_t n = g.dims[last], sa = g.strides[0][last], sb = g.strides[1][last];
  int64_t rows = 1;
  for (int i = 0; i < last; ++i) rows *= g.dims[i];
  if (rows == 0 || n == 0) return;  // an empty batch (and no axis of length 0 to divide by below)
  const auto range = [&](int64_t r0, int64_t r1) {
    int64_t idx[kMaxRank] = {};
    for (int64_t i = last - 1, rest = r0; i >= 0; --i) {  // row r0's index
      idx[i] = rest % g.dims[i];
      rest /= g.dims[i];
    }
    for (int64_t r = r0; r < r1; ++r) {
      int64_t oa = 0, ob = 0;
      for (int i = 0; i < last; ++i) {
        oa += idx[i] * g.strides[0][i];
        ob += idx[i] * g.strides[1][i];
      }
      f(r * n, oa, ob, n, sa, sb);
      for (int i = last - 1; i >= 0; --i) {
        if (++idx[i] < g.dims[i]) break;
        idx[i] = 0;
      }
    }
  };
  if (cost_per_element > 0) parallel_range(rows, cost_per_element * static_cast<double>(n), range);
  else range(0, rows);
}

}  // namespace

void binary_forward(BinaryOp op, float* y, const float* a, const float* b, const NdGeom& g) {
  // Each output element alone: rows split over the threads. An element counts as 10 flops (memory-bound: a residual
  // add over 6,400 x 32 floats took ~40 us on one thread, all of it while the other waited).
  for_each_row(g, 10.0, [&](int64_t o, int64_t oa, int64_t ob, int64_t n, int64_t sa, int64_t sb) {
    float* yr = y + o;
    const float* ar = a + oa;
    const float* br = b + ob;
    if (sa == 1 && sb == 1) {
      switch (op) {
        case BinaryOp::add:
          for (int64_t i = 0; i < n; ++i) yr[i] = ar[i] + br[i];
          return;
        case BinaryOp::multiply:
          for (int64_t i = 0; i < n; ++i) yr[i] = ar[i] * br[i];
          return;
        default: break;
      }
    } else if (sa == 1 && sb == 0 && op == BinaryOp::add) {
      const float v = br[0];
      for (int64_t i = 0; i < n; ++i) yr[i] = ar[i] + v;
      return;
    } else if (sa == 1 && sb == 0 && op == BinaryOp::multiply) {
      const float v = br[0];
      for (int64_t i = 0; i < n; ++i) yr[i] = ar[i] * v;
      return;
    }
    for (int64_t i = 0; i < n; ++i) yr[i] = apply(op, ar[i * sa], br[i * sb]);
  });
}

void binary_backward(BinaryOp op, float* da, float* db, const float* dy, const float* a, const float* b,
                     const float* y, const NdGeom& g) {
  // Serial: where a or b is broadcast, many rows add into the same gradient element.
  for_each_row(g, 0.0, [&](int64_t o, int64_t oa, int64_t ob, int64_t n, int64_t sa, int64_t sb) {
    const float* g_ = dy + o;
    const float* yr = y + o;
    for (int64_t i = 0; i < n; ++i) {
      const float av = a[oa + i * sa], bv = b[ob + i * sb], gv = g_[i];
      float ga = 0.f, gb = 0.f;
      switch (op) {
        case BinaryOp::add: ga = gv; gb = gv; break;
        case BinaryOp::subtract: ga = gv; gb = -gv; break;
        case BinaryOp::multiply: ga = gv * bv; gb = gv * av; break;
        case BinaryOp::divide: ga = gv / bv; gb = -gv * av / (bv * bv); break;
        case BinaryOp::maximum: (av >= bv ? ga : gb) = gv; break;
        case BinaryOp::minimum: (av <= bv ? ga : gb) = gv; break;
        case BinaryOp::power:
          ga = gv * bv * std::pow(av, bv - 1.f);
          gb = av > 0.f ? gv * yr[i] * std::log(av) : 0.f;
          break;
        case BinaryOp::equal:
        case BinaryOp::not_equal:
        case BinaryOp::greater:
        case BinaryOp::greater_equal:
        case BinaryOp::less:
        case BinaryOp::less_equal: break;  // piecewise constant
      }
      if (da != nullptr) da[oa + i * sa] += ga;
      if (db != nullptr) db[ob + i * sb] += gb;
    }
  });
}

void unary_forward(UnaryOp op, float* y, const float* x, int64_t n, float lo, float hi) {
  switch (op) {
    case UnaryOp::tanh: return act_forward(Act::tanh, y, x, 1, n, 0.f);
    case UnaryOp::sigmoid: return act_forward(Act::sigmoid, y, x, 1, n, 0.f);
    case UnaryOp::relu: return act_forward(Act::relu, y, x, 1, n, 0.f);
    case UnaryOp::gelu: return act_forward(Act::gelu, y, x, 1, n, 0.f);
    default: break;
  }
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    float r = 0.f;
    switch (op) {
      case UnaryOp::negative: r = -v; break;
      case UnaryOp::exp: r = std::exp(v); break;
      case UnaryOp::log: r = std::log(v); break;
      case UnaryOp::sqrt: r = std::sqrt(v); break;
      case UnaryOp::square: r = v * v; break;
      case UnaryOp::abs: r = std::fabs(v); break;
      case UnaryOp::erf: r = std::erf(v); break;
      case UnaryOp::sin: r = std::sin(v); break;
      case UnaryOp::cos: r = std::cos(v); break;
      case UnaryOp::softplus: r = v > 20.f ? v : std::log1p(std::exp(v)); break;
      case UnaryOp::reciprocal: r = 1.f / v; break;
      case UnaryOp::sign: r = static_cast<float>((v > 0.f) - (v < 0.f)); break;
      case UnaryOp::clip: r = std::min(std::max(v, lo), hi); break;
      case UnaryOp::floor: r = std::floor(v); break;
      case UnaryOp::ceil: r = std::ceil(v); break;
      case UnaryOp::round: r = std::nearbyint(v); break;  // the default rounding mode: half to even
      case UnaryOp::trunc: r = std::trunc(v); break;
      case UnaryOp::logical_not: r = v == 0.f ? 1.f : 0.f; break;
      default: break;
    }
    y[i] = r;
  }
}

void unary_backward(UnaryOp op, float* dx, const float* dy, const float* x, const float* y, int64_t n, float lo,
                    float hi) {
  switch (op) {
    case UnaryOp::tanh: return act_backward(Act::tanh, dx, dy, x, y, 1, n, 0.f);
    case UnaryOp::sigmoid: return act_backward(Act::sigmoid, dx, dy, x, y, 1, n, 0.f);
    case UnaryOp::relu: return act_backward(Act::relu, dx, dy, x, y, 1, n, 0.f);
    case UnaryOp::gelu: return act_backward(Act::gelu, dx, dy, x, y, 1, n, 0.f);
    default: break;
  }
  constexpr float kTwoOverSqrtPi = 1.1283791670955126f;
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i], g = dy[i];
    float d = 0.f;
    switch (op) {
      case UnaryOp::negative: d = -1.f; break;
      case UnaryOp::exp: d = y[i]; break;
      case UnaryOp::log: d = 1.f / v; break;
      case UnaryOp::sqrt: d = 0.5f / y[i]; break;
      case UnaryOp::square: d = 2.f * v; break;
      case UnaryOp::abs: d = static_cast<float>((v > 0.f) - (v < 0.f)); break;
      case UnaryOp::erf: d = kTwoOverSqrtPi * std::exp(-v * v); break;
      case UnaryOp::sin: d = std::cos(v); break;
      case UnaryOp::cos: d = -std::sin(v); break;
      case UnaryOp::softplus: d = 1.f / (1.f + std::exp(-v)); break;
      case UnaryOp::reciprocal: d = -y[i] * y[i]; break;
      case UnaryOp::sign: d = 0.f; break;
      case UnaryOp::clip: d = v >= lo && v <= hi ? 1.f : 0.f; break;
      case UnaryOp::floor:
      case UnaryOp::ceil:
      case UnaryOp::round:
      case UnaryOp::trunc:
      case UnaryOp::logical_not: d = 0.f; break;
      default: break;
    }
    dx[i] = g * d;
  }
}

namespace {
// Strides of a contiguous array of these dims.
std::vector<int64_t> contiguous(const std::vector<int64_t>& dims) {
  std::vector<int64_t> s(dims.size());
  int64_t p = 1;
  for (size_t i = dims.size(); i-- > 0;) {
    s[i] = p;
    p *= dims[i];
  }
  return s;
}

// For each input element in order: f(input flat index, output flat index).
template <typename F>
void for_each_reduced(const std::vector<int64_t>& dims, const std::vector<char>& reduce, F&& f) {
  const size_t r = dims.size();
  std::vector<int64_t> out_stride(r, 0);
  int64_t p = 1;
  for (size_t i = r; i-- > 0;) {
    if (reduce[i]) continue;
    out_stride[i] = p;
    p *= dims[i];
  }
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  std::vector<int64_t> idx(r, 0);
  int64_t o = 0;
  for (int64_t k = 0; k < n; ++k) {
    f(k, o);
    for (size_t i = r; i-- > 0;) {
      o += out_stride[i];
      if (++idx[i] < dims[i]) break;
      o -= out_stride[i] * dims[i];
      idx[i] = 0;
    }
  }
}
}  // namespace

void reduce_forward(ReduceOp op, float* y, int64_t* arg, const float* x, const std::vector<int64_t>& dims,
                    const std::vector<char>& reduce) {
  int64_t n_out = 1, count = 1;
  for (size_t i = 0; i < dims.size(); ++i) (reduce[i] ? count : n_out) *= dims[i];
  if (op == ReduceOp::sum || op == ReduceOp::mean) {
    std::vector<double> acc(static_cast<size_t>(n_out), 0.0);
    for_each_reduced(dims, reduce, [&](int64_t k, int64_t o) { acc[static_cast<size_t>(o)] += x[k]; });
    const double s = op == ReduceOp::mean ? 1.0 / static_cast<double>(count) : 1.0;
    for (int64_t o = 0; o < n_out; ++o) y[o] = static_cast<float>(acc[static_cast<size_t>(o)] * s);
    return;
  }
  std::vector<char> seen(static_cast<size_t>(n_out), 0);
  const bool is_max = op == ReduceOp::max || op == ReduceOp::argmax;
  for_each_reduced(dims, reduce, [&](int64_t k, int64_t o) {
    const float v = x[k];
    if (!seen[static_cast<size_t>(o)] || (is_max ? v > y[o] : v < y[o]) || std::isnan(v)) {
      if (seen[static_cast<size_t>(o)] && std::isnan(y[o])) return;  // a NaN stays
      seen[static_cast<size_t>(o)] = 1;
      y[o] = v;
      arg[o] = k;
    }
  });
  if (op == ReduceOp::argmax || op == ReduceOp::argmin) {  // the position along the one reduced axis
    int64_t stride = 1, len = 1;
    for (size_t i = dims.size(); i-- > 0;) {
      if (reduce[i]) {
        len = dims[i];
        break;
      }
      stride *= dims[i];
    }
    for (int64_t o = 0; o < n_out; ++o) y[o] = static_cast<float>((arg[o] / stride) % len);
  }
}

void reduce_backward(ReduceOp op, float* dx, const float* dy, const int64_t* arg, const std::vector<int64_t>& dims,
                     const std::vector<char>& reduce) {
  int64_t n = 1, n_out = 1, count = 1;
  for (size_t i = 0; i < dims.size(); ++i) {
    n *= dims[i];
    (reduce[i] ? count : n_out) *= dims[i];
  }
  if (op == ReduceOp::sum || op == ReduceOp::mean) {
    const float s = op == ReduceOp::mean ? 1.f / static_cast<float>(count) : 1.f;
    for_each_reduced(dims, reduce, [&](int64_t k, int64_t o) { dx[k] = dy[o] * s; });
    return;
  }
  std::memset(dx, 0, sizeof(float) * static_cast<size_t>(n));
  if (op == ReduceOp::argmax || op == ReduceOp::argmin) return;  // piecewise constant
  for (int64_t o = 0; o < n_out; ++o) dx[arg[o]] += dy[o];
}

void permute(float* y, const float* x, const std::vector<int64_t>& dims, const std::vector<int64_t>& perm) {
  const size_t r = dims.size();
  const std::vector<int64_t> xs = contiguous(dims);
  std::vector<int64_t> od(r), os(r);  // output dims and the input stride walked along each output axis
  for (size_t i = 0; i < r; ++i) {
    od[i] = dims[static_cast<size_t>(perm[i])];
    os[i] = xs[static_cast<size_t>(perm[i])];
  }
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  std::vector<int64_t> idx(r, 0);
  int64_t off = 0;
  for (int64_t k = 0; k < n; ++k) {
    y[k] = x[off];
    for (size_t i = r; i-- > 0;) {
      off += os[i];
      if (++idx[i] < od[i]) break;
      off -= os[i] * od[i];
      idx[i] = 0;
    }
  }
}

namespace {
template <typename F>
void for_each_sliced(const std::vector<int64_t>& dims, const std::vector<int64_t>& start,
                     const std::vector<int64_t>& step, const std::vector<int64_t>& out, F&& f) {
  const size_t r = dims.size();
  const std::vector<int64_t> xs = contiguous(dims);
  int64_t n = 1, base = 0;
  for (size_t i = 0; i < r; ++i) {
    n *= out[i];
    base += start[i] * xs[i];
  }
  std::vector<int64_t> idx(r, 0);
  int64_t off = base;
  for (int64_t k = 0; k < n; ++k) {
    f(k, off);
    for (size_t i = r; i-- > 0;) {
      off += step[i] * xs[i];
      if (++idx[i] < out[i]) break;
      off -= step[i] * xs[i] * out[i];
      idx[i] = 0;
    }
  }
}
}  // namespace

void slice_forward(float* y, const float* x, const std::vector<int64_t>& dims, const std::vector<int64_t>& start,
                   const std::vector<int64_t>& step, const std::vector<int64_t>& out) {
  for_each_sliced(dims, start, step, out, [&](int64_t k, int64_t off) { y[k] = x[off]; });
}

void slice_backward(float* dx, const float* dy, const std::vector<int64_t>& dims, const std::vector<int64_t>& start,
                    const std::vector<int64_t>& step, const std::vector<int64_t>& out) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  std::memset(dx, 0, sizeof(float) * static_cast<size_t>(n));
  for_each_sliced(dims, start, step, out, [&](int64_t k, int64_t off) { dx[off] += dy[k]; });
}

void random_normal(float* y, int64_t n, float mean, float stddev, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(mean, stddev);
  for (int64_t i = 0; i < n; ++i) y[i] = d(rng);
}

void random_uniform(float* y, int64_t n, float lo, float hi, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  for (int64_t i = 0; i < n; ++i) y[i] = d(rng);
}

void log_softmax_forward(float* y, const float* x, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    float m = xr[0];
    for (int64_t j = 1; j < cols; ++j) m = std::max(m, xr[j]);
    double s = 0.0;
    for (int64_t j = 0; j < cols; ++j) s += std::exp(static_cast<double>(xr[j] - m));
    const float lse = m + static_cast<float>(std::log(s));
    for (int64_t j = 0; j < cols; ++j) yr[j] = xr[j] - lse;
  }
}

void log_softmax_backward(float* dx, const float* dy, const float* y, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* g = dy + r * cols;
    const float* yr = y + r * cols;
    float* d = dx + r * cols;
    double s = 0.0;
    for (int64_t j = 0; j < cols; ++j) s += g[j];
    for (int64_t j = 0; j < cols; ++j) d[j] = g[j] - std::exp(yr[j]) * static_cast<float>(s);
  }
}

}  // namespace nncore::kernels
