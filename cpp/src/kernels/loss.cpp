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

}  // namespace nncore::kernels
