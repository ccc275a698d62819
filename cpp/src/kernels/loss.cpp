// Loss and metric kernels. Batch sums run in a fixed order in double, so a loss value never depends on the
// thread count; they cost O(B*C), negligible next to the layers, and so stay serial.
#include <algorithm>
#include <cmath>

#include "kernels/kernels.hpp"

namespace nncore::kernels {

namespace {
constexpr float kEps = 1e-7f;  // Keras's backend epsilon, used to clip probabilities

inline float clip_prob(float p) { return std::min(std::max(p, kEps), 1.f - kEps); }

int64_t argmax_row(const float* r, int64_t C) {
  int64_t best = 0;
  for (int64_t c = 1; c < C; ++c)
    if (r[c] > r[best]) best = c;
  return best;
}

// log(sum(exp(z))) of one row, stable.
double logsumexp_row(const float* z, int64_t C, float* exp_out) {
  float m = z[0];
  for (int64_t c = 1; c < C; ++c) m = std::max(m, z[c]);
  double s = 0.0;
  for (int64_t c = 0; c < C; ++c) {
    const float e = std::exp(z[c] - m);
    if (exp_out) exp_out[c] = e;
    s += e;
  }
  return m + std::log(s);
}
}  // namespace

double loss_mse(float* grad, const float* p, const float* y, int64_t B, int64_t D, float grad_scale) {
  double total = 0.0;
  const float g = 2.f * grad_scale / static_cast<float>(D);
  for (int64_t b = 0; b < B; ++b) {
    double s = 0.0;
    for (int64_t d = 0; d < D; ++d) {
      const float diff = p[b * D + d] - y[b * D + d];
      s += static_cast<double>(diff) * diff;
      if (grad) grad[b * D + d] = g * diff;
    }
    total += s / static_cast<double>(D);
  }
  return total;
}

double loss_mae(float* grad, const float* p, const float* y, int64_t B, int64_t D, float grad_scale) {
  double total = 0.0;
  const float g = grad_scale / static_cast<float>(D);
  for (int64_t b = 0; b < B; ++b) {
    double s = 0.0;
    for (int64_t d = 0; d < D; ++d) {
      const float diff = p[b * D + d] - y[b * D + d];
      s += std::fabs(diff);
      if (grad) grad[b * D + d] = diff > 0.f ? g : (diff < 0.f ? -g : 0.f);
    }
    total += s / static_cast<double>(D);
  }
  return total;
}

double loss_bce(float* grad, const float* p, const float* y, int64_t B, int64_t D, float grad_scale) {
  double total = 0.0;
  const float g = grad_scale / static_cast<float>(D);
  for (int64_t b = 0; b < B; ++b) {
    double s = 0.0;
    for (int64_t d = 0; d < D; ++d) {
      const int64_t i = b * D + d;
      const float pc = clip_prob(p[i]);
      s -= y[i] * std::log(pc) + (1.f - y[i]) * std::log(1.f - pc);
      // Clipping has zero gradient outside [eps, 1-eps], as in Keras.
      if (grad) grad[i] = (p[i] < kEps || p[i] > 1.f - kEps) ? 0.f : g * (pc - y[i]) / (pc * (1.f - pc));
    }
    total += s / static_cast<double>(D);
  }
  return total;
}

double loss_bce_logits(float* grad, const float* z, const float* y, int64_t B, int64_t D, float grad_scale) {
  // max(z,0) - z*y + log(1 + exp(-|z|)); gradient sigmoid(z) - y.
  double total = 0.0;
  const float g = grad_scale / static_cast<float>(D);
  for (int64_t b = 0; b < B; ++b) {
    double s = 0.0;
    for (int64_t d = 0; d < D; ++d) {
      const int64_t i = b * D + d;
      const float zi = z[i];
      s += std::max(zi, 0.f) - zi * y[i] + std::log1p(std::exp(-std::fabs(zi)));
      if (grad) {
        const float sig = zi >= 0.f ? 1.f / (1.f + std::exp(-zi)) : std::exp(zi) / (1.f + std::exp(zi));
        grad[i] = g * (sig - y[i]);
      }
    }
    total += s / static_cast<double>(D);
  }
  return total;
}

double loss_cce(float* grad, const float* p, const float* y, int64_t B, int64_t C, float grad_scale) {
  // Keras: q = clip(p / sum(p)); loss = -sum y log q. d/dp_j = -y_j/p_j [q_j kept] + sum_{c kept} y_c / S:
  // a clipped q_c drops its own term, but every p_j still enters S, so the second term reaches all j.
  double total = 0.0;
  for (int64_t b = 0; b < B; ++b) {
    const float* pr = p + b * C;
    const float* yr = y + b * C;
    double S = 0.0;
    for (int64_t c = 0; c < C; ++c) S += pr[c];
    double s = 0.0, ysum_kept = 0.0;
    for (int64_t c = 0; c < C; ++c) {
      const float q = static_cast<float>(pr[c] / S);
      s -= yr[c] * std::log(clip_prob(q));
      if (q >= kEps && q <= 1.f - kEps) ysum_kept += yr[c];
    }
    total += s;
    if (grad) {
      for (int64_t c = 0; c < C; ++c) {
        const float q = static_cast<float>(pr[c] / S);
        const double direct = (q >= kEps && q <= 1.f - kEps) ? -yr[c] / static_cast<double>(pr[c]) : 0.0;
        grad[b * C + c] = static_cast<float>(grad_scale * (direct + ysum_kept / S));
      }
    }
  }
  return total;
}

double loss_cce_logits(float* grad, const float* z, const float* y, int64_t B, int64_t C, float grad_scale) {
  // loss = sum_c y_c (lse - z_c); d/dz_j = softmax_j * sum(y) - y_j.
  double total = 0.0;
  for (int64_t b = 0; b < B; ++b) {
    const float* zr = z + b * C;
    const float* yr = y + b * C;
    float* gr = grad ? grad + b * C : nullptr;
    const double lse = logsumexp_row(zr, C, gr);
    double ysum = 0.0, s = 0.0;
    for (int64_t c = 0; c < C; ++c) {
      ysum += yr[c];
      s += yr[c] * (lse - zr[c]);
    }
    total += s;
    if (gr) {
      const float inv = static_cast<float>(std::exp(-(lse - *std::max_element(zr, zr + C))));
      for (int64_t c = 0; c < C; ++c)
        gr[c] = grad_scale * (gr[c] * inv * static_cast<float>(ysum) - yr[c]);
    }
  }
  return total;
}

double loss_scce(float* grad, const float* p, const float* labels, int64_t B, int64_t C, float grad_scale) {
  double total = 0.0;
  for (int64_t b = 0; b < B; ++b) {
    const float* pr = p + b * C;
    const int64_t t = static_cast<int64_t>(labels[b]);
    double S = 0.0;
    for (int64_t c = 0; c < C; ++c) S += pr[c];
    const double q = pr[t] / S;
    total -= std::log(clip_prob(static_cast<float>(q)));
    if (grad) {
      const bool clipped = q < kEps || q > 1.0 - kEps;
      for (int64_t c = 0; c < C; ++c)
        grad[b * C + c] = clipped ? 0.f : static_cast<float>(grad_scale * ((c == t ? -1.0 / pr[t] : 0.0) + 1.0 / S));
    }
  }
  return total;
}

double loss_scce_logits(float* grad, const float* z, const float* labels, int64_t B, int64_t C,
                        float grad_scale) {
  double total = 0.0;
  for (int64_t b = 0; b < B; ++b) {
    const float* zr = z + b * C;
    const int64_t t = static_cast<int64_t>(labels[b]);
    float* gr = grad ? grad + b * C : nullptr;
    const double lse = logsumexp_row(zr, C, gr);
    total += lse - zr[t];
    if (gr) {
      const float inv = static_cast<float>(std::exp(-(lse - *std::max_element(zr, zr + C))));
      for (int64_t c = 0; c < C; ++c) gr[c] = grad_scale * (gr[c] * inv - (c == t ? 1.f : 0.f));
    }
  }
  return total;
}

double metric_sparse_categorical_accuracy(const float* p, const float* labels, int64_t B, int64_t C) {
  double hits = 0.0;
  for (int64_t b = 0; b < B; ++b) hits += argmax_row(p + b * C, C) == static_cast<int64_t>(labels[b]) ? 1.0 : 0.0;
  return hits;
}

double metric_categorical_accuracy(const float* p, const float* y, int64_t B, int64_t C) {
  double hits = 0.0;
  for (int64_t b = 0; b < B; ++b) hits += argmax_row(p + b * C, C) == argmax_row(y + b * C, C) ? 1.0 : 0.0;
  return hits;
}

namespace {
// The target is in the top k when fewer than k classes score strictly higher (ties straddling the boundary
// count as in, as tf.math.in_top_k does).
bool in_top_k(const float* r, int64_t C, int64_t target, int64_t k) {
  int64_t higher = 0;
  for (int64_t c = 0; c < C; ++c) higher += r[c] > r[target] ? 1 : 0;
  return higher < k;
}
}  // namespace

double metric_sparse_top_k_accuracy(const float* p, const float* labels, int64_t B, int64_t C, int64_t k) {
  double hits = 0.0;
  for (int64_t b = 0; b < B; ++b) hits += in_top_k(p + b * C, C, static_cast<int64_t>(labels[b]), k) ? 1.0 : 0.0;
  return hits;
}

double metric_top_k_accuracy(const float* p, const float* y, int64_t B, int64_t C, int64_t k) {
  double hits = 0.0;
  for (int64_t b = 0; b < B; ++b) hits += in_top_k(p + b * C, C, argmax_row(y + b * C, C), k) ? 1.0 : 0.0;
  return hits;
}

double metric_binary_accuracy(const float* p, const float* y, int64_t B, int64_t D, float threshold) {
  double total = 0.0;
  for (int64_t b = 0; b < B; ++b) {
    double hits = 0.0;
    for (int64_t d = 0; d < D; ++d) {
      const int64_t i = b * D + d;
      hits += ((p[i] > threshold) == (y[i] > 0.5f)) ? 1.0 : 0.0;
    }
    total += hits / static_cast<double>(D);
  }
  return total;
}

double metric_mse(const float* p, const float* y, int64_t B, int64_t D) {
  return loss_mse(nullptr, p, y, B, D, 0.f);
}

double metric_mae(const float* p, const float* y, int64_t B, int64_t D) {
  return loss_mae(nullptr, p, y, B, D, 0.f);
}

double metric_accuracy(const float* p, const float* y, int64_t B, int64_t D) {
  double total = 0.0;
  for (int64_t b = 0; b < B; ++b) {
    int64_t hits = 0;
    for (int64_t d = 0; d < D; ++d) hits += p[b * D + d] == y[b * D + d] ? 1 : 0;
    total += static_cast<double>(hits) / static_cast<double>(D);
  }
  return total;
}

// ---- confusion-matrix metrics ---------------------------------------------------------------------------------
void confusion_thresholds(const float* p, const float* y, const float* w, int64_t R, int64_t ld, int64_t c0, int64_t D,
                          int64_t rows_per_weight, const float* thresholds, int64_t T, bool per_value, double* tp,
                          double* fp, double* tn, double* fn) {
  for (int64_t r = 0; r < R; ++r) {
    const double wr = w != nullptr ? static_cast<double>(w[r / rows_per_weight]) : 1.0;
    for (int64_t d = 0; d < D; ++d) {
      const float v = p[r * ld + c0 + d];
      const bool label = y[r * ld + c0 + d] != 0.f;
      const int64_t off = per_value ? d * T : 0;
      for (int64_t t = 0; t < T; ++t) {
        const bool pos = v > thresholds[t];
        double* cell = label ? (pos ? tp : fn) : (pos ? fp : tn);
        if (cell != nullptr) cell[off + t] += wr;
      }
    }
  }
}

void confusion_buckets(const float* p, const float* y, const float* w, int64_t R, int64_t ld, int64_t c0, int64_t D,
                       int64_t rows_per_weight, int64_t T, bool per_value, double* tp, double* fp, double* tn,
                       double* fn, double* buckets) {
  const int64_t groups = per_value ? D : 1;
  const float scale = static_cast<float>(T - 1);
  for (int64_t g = 0; g < groups; ++g) {
    double* pos = buckets;
    double* neg = buckets + T;
    std::fill(buckets, buckets + 2 * T, 0.0);
    double total_pos = 0.0, total_neg = 0.0;
    const int64_t d0 = per_value ? g : 0, d1 = per_value ? g + 1 : D;
    for (int64_t r = 0; r < R; ++r) {
      const double wr = w != nullptr ? static_cast<double>(w[r / rows_per_weight]) : 1.0;
      for (int64_t d = d0; d < d1; ++d) {
        const float v = std::min(std::max(p[r * ld + c0 + d], 0.f), 1.f);
        const int64_t bucket = std::max<int64_t>(static_cast<int64_t>(std::ceil(v * scale)) - 1, 0);
        if (y[r * ld + c0 + d] != 0.f) {
          pos[bucket] += wr;
          total_pos += wr;
        } else {
          neg[bucket] += wr;
          total_neg += wr;
        }
      }
    }
    // Predictions above threshold t are those in buckets >= t: reversed cumulative sums.
    double cum_pos = 0.0, cum_neg = 0.0;
    const int64_t off = g * T;
    for (int64_t t = T - 1; t >= 0; --t) {
      cum_pos += pos[t];
      cum_neg += neg[t];
      if (tp != nullptr) tp[off + t] += cum_pos;
      if (fp != nullptr) fp[off + t] += cum_neg;
      if (tn != nullptr) tn[off + t] += total_neg - cum_neg;
      if (fn != nullptr) fn[off + t] += total_pos - cum_pos;
    }
  }
}

void keep_top_k(const float* p, float* out, int64_t R, int64_t C, int64_t k) {
  for (int64_t r = 0; r < R; ++r) {
    const float* row = p + r * C;
    float* o = out + r * C;
    // A value is kept when fewer than k values rank above it (larger, or equal at a lower index).
    for (int64_t c = 0; c < C; ++c) {
      int64_t above = 0;
      for (int64_t j = 0; j < C && above < k; ++j) above += (row[j] > row[c] || (row[j] == row[c] && j < c)) ? 1 : 0;
      o[c] = above < k ? row[c] : -1e10f;
    }
  }
}

void fbeta_counts(const float* p, const float* y, const float* w, int64_t R, int64_t C, int64_t rows_per_weight,
                  bool has_threshold, float threshold, bool micro, double* counts) {
  const int64_t n = micro ? 1 : C;
  double* tp = counts;
  double* fp = counts + n;
  double* fn = counts + 2 * n;
  double* support = counts + 3 * n;
  for (int64_t r = 0; r < R; ++r) {
    const float* row = p + r * C;
    const float* yr = y + r * C;
    const double wr = w != nullptr ? static_cast<double>(w[r / rows_per_weight]) : 1.0;
    const float top = *std::max_element(row, row + C);
    for (int64_t c = 0; c < C; ++c) {
      const double pred = (has_threshold ? row[c] > threshold : (row[c] >= top && std::fabs(row[c]) > 1e-9f)) ? 1.0 : 0.0;
      const double t = static_cast<double>(yr[c]);
      const int64_t i = micro ? 0 : c;
      tp[i] += wr * pred * t;
      fp[i] += wr * pred * (1.0 - t);
      fn[i] += wr * (1.0 - pred) * t;
      support[i] += wr * t;
    }
  }
}

}  // namespace nncore::kernels
