// Scaled dot-product attention (see attention.hpp): blocks of queries against all keys as GEMMs on the calling
// thread's scratch, (b, h) pairs over the threads; and the plain-loop twins the tests compare against.
#include "kernels/attention.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/kernels.hpp"
#include "kernels/parallel.hpp"
#include "kernels/thread_buffer.hpp"

namespace nncore::kernels {

namespace {
constexpr int64_t kQueryBlock = 64;  // queries per block: their score rows (64 x S floats) stay in L2
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

uint64_t mix64(uint64_t x) {  // splitmix64's finalizer
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Dropout's factor for p(b, h, t, s): 0, or 1 / (1 - rate) for the kept ones.
float keep_factor(const AttentionArgs& a, int64_t b, int64_t h, int64_t t, int64_t s) {
  const uint64_t index = ((static_cast<uint64_t>(b) * static_cast<uint64_t>(a.H) + static_cast<uint64_t>(h)) *
                              static_cast<uint64_t>(a.T) + static_cast<uint64_t>(t)) * static_cast<uint64_t>(a.S) +
                         static_cast<uint64_t>(s);
  const double u = static_cast<double>(mix64(a.seed ^ mix64(index)) >> 11) * 0x1.0p-53;
  return u >= static_cast<double>(a.dropout) ? 1.f / (1.f - a.dropout) : 0.f;
}

bool allowed(const AttentionArgs& a, int64_t b, int64_t h, int64_t t, int64_t s) {
  if (a.causal && s > t) return false;
  if (a.mask == nullptr) return true;
  const int64_t* st = a.mask_stride;
  return a.mask[b * st[0] + h * st[1] + t * st[2] + s * st[3]] != 0.f;
}

float bias_at(const AttentionArgs& a, int64_t b, int64_t h, int64_t t, int64_t s) {
  if (a.bias == nullptr) return 0.f;
  const int64_t* st = a.bias_stride;
  return a.bias[b * st[0] + h * st[1] + t * st[2] + s * st[3]];
}

void check(const AttentionArgs& a) {
  if (a.B < 0 || a.T < 0 || a.S < 0 || a.H < 1 || a.D < 1 || a.Dv < 1)
    throw std::invalid_argument("attention: bad sizes B=" + std::to_string(a.B) + " T=" + std::to_string(a.T) +
                                " S=" + std::to_string(a.S) + " H=" + std::to_string(a.H) + " D=" +
                                std::to_string(a.D) + " Dv=" + std::to_string(a.Dv));
  if (!(a.dropout >= 0.f && a.dropout < 1.f))
    throw std::invalid_argument("attention: dropout must be in [0, 1), got " + std::to_string(a.dropout));
}

// Row x (the raw products q_t . k_s for s < n) becomes the probabilities of query t (0 where not allowed, and up
// to the row's end S); returns the log-sum-exp of the allowed scores, -inf when there is none (a row of zeros).
float softmax_row(const AttentionArgs& a, int64_t b, int64_t h, int64_t t, float* x, int64_t n) {
  float m = kNegInf;
  for (int64_t s = 0; s < n; ++s) {
    if (!allowed(a, b, h, t, s)) {
      x[s] = kNegInf;
      continue;
    }
    x[s] = a.scale * x[s] + bias_at(a, b, h, t, s);
    m = std::max(m, x[s]);
  }
  if (m == kNegInf) {
    std::fill(x, x + n, 0.f);
    return kNegInf;
  }
  double sum = 0.0;
  for (int64_t s = 0; s < n; ++s) {
    const float e = x[s] == kNegInf ? 0.f : std::exp(x[s] - m);
    x[s] = e;
    sum += e;
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t s = 0; s < n; ++s) x[s] *= inv;
  return m + static_cast<float>(std::log(sum));
}

double pair_flops(const AttentionArgs& a) {
  return 2.0 * static_cast<double>(a.T) * static_cast<double>(a.S) * static_cast<double>(a.D + a.Dv);
}
}  // namespace

void attention_forward(const AttentionArgs& a, const float* q, const float* k, const float* v, float* out,
                       float* lse, float* probs) {
  check(a);
  const int64_t ldq = a.H * a.D, ldv = a.H * a.Dv, T = a.T, S = a.S;
  parallel_range(a.B * a.H, pair_flops(a), [&](int64_t p0, int64_t p1) {
    thread_local ThreadBuffer scratch;
    float* sc = scratch.get(kQueryBlock * std::max<int64_t>(S, 1));
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t b = p / a.H, h = p % a.H;
      const float* qb = q + (b * T * a.H + h) * a.D;
      const float* kb = k + (b * S * a.H + h) * a.D;
      const float* vb = v + (b * S * a.H + h) * a.Dv;
      float* ob = out + (b * T * a.H + h) * a.Dv;
      for (int64_t t0 = 0; t0 < T; t0 += kQueryBlock) {
        const int64_t nb = std::min(kQueryBlock, T - t0);
        const int64_t n = a.causal ? std::min(S, t0 + nb) : S;  // keys past the block's last query never count
        if (n > 0) gemm_serial(false, true, nb, n, a.D, qb + t0 * ldq, ldq, kb, ldq, 0.f, sc, S, GemmEpilogue{});
        for (int64_t i = 0; i < nb; ++i) {
          const int64_t t = t0 + i;
          float* row = sc + i * S;
          lse[(b * a.H + h) * T + t] = softmax_row(a, b, h, t, row, n);
          if (probs != nullptr) {
            float* pr = probs + ((b * a.H + h) * T + t) * S;
            std::copy(row, row + n, pr);
            std::fill(pr + n, pr + S, 0.f);
          }
          if (a.dropout > 0.f)
            for (int64_t s = 0; s < n; ++s) row[s] *= keep_factor(a, b, h, t, s);
        }
        if (n > 0) {
          gemm_serial(false, false, nb, a.Dv, n, sc, S, vb, ldv, 0.f, ob + t0 * ldv, ldv, GemmEpilogue{});
        } else {
          for (int64_t i = 0; i < nb; ++i) std::fill(ob + (t0 + i) * ldv, ob + (t0 + i) * ldv + a.Dv, 0.f);
        }
      }
    }
  });
}

void attention_backward(const AttentionArgs& a, const float* q, const float* k, const float* v, const float* lse,
                        const float* dout, float* dq, float* dk, float* dv) {
  check(a);
  const int64_t ldq = a.H * a.D, ldv = a.H * a.Dv, T = a.T, S = a.S;
  parallel_range(a.B * a.H, 2.0 * pair_flops(a), [&](int64_t p0, int64_t p1) {
    thread_local ThreadBuffer probs_buf, grad_buf;
    float* pr = probs_buf.get(kQueryBlock * std::max<int64_t>(S, 1));
    float* dp = grad_buf.get(kQueryBlock * std::max<int64_t>(S, 1));
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t b = p / a.H, h = p % a.H;
      const float* qb = q + (b * T * a.H + h) * a.D;
      const float* kb = k + (b * S * a.H + h) * a.D;
      const float* vb = v + (b * S * a.H + h) * a.Dv;
      const float* gb = dout + (b * T * a.H + h) * a.Dv;
      float* dqb = dq + (b * T * a.H + h) * a.D;
      float* dkb = dk + (b * S * a.H + h) * a.D;
      float* dvb = dv + (b * S * a.H + h) * a.Dv;
      for (int64_t s = 0; s < S; ++s) {
        std::fill(dkb + s * ldq, dkb + s * ldq + a.D, 0.f);
        std::fill(dvb + s * ldv, dvb + s * ldv + a.Dv, 0.f);
      }
      for (int64_t t0 = 0; t0 < T; t0 += kQueryBlock) {
        const int64_t nb = std::min(kQueryBlock, T - t0);
        const int64_t n = a.causal ? std::min(S, t0 + nb) : S;
        if (n == 0) {
          for (int64_t i = 0; i < nb; ++i) std::fill(dqb + (t0 + i) * ldq, dqb + (t0 + i) * ldq + a.D, 0.f);
          continue;
        }
        gemm_serial(false, true, nb, n, a.D, qb + t0 * ldq, ldq, kb, ldq, 0.f, pr, S, GemmEpilogue{});
        gemm_serial(false, true, nb, n, a.Dv, gb + t0 * ldv, ldv, vb, ldv, 0.f, dp, S, GemmEpilogue{});
        for (int64_t i = 0; i < nb; ++i) {
          const int64_t t = t0 + i;
          const float L = lse[(b * a.H + h) * T + t];
          float* prow = pr + i * S;
          float* drow = dp + i * S;
          // p from the saved log-sum-exp; dp = dout_t . v_s through dropout's factor; D_t = sum_s p dp.
          double dt = 0.0;
          for (int64_t s = 0; s < n; ++s) {
            const bool ok = L != kNegInf && allowed(a, b, h, t, s);
            const float pv = ok ? std::exp(a.scale * prow[s] + bias_at(a, b, h, t, s) - L) : 0.f;
            const float d = a.dropout > 0.f && pv != 0.f ? drow[s] * keep_factor(a, b, h, t, s) : drow[s];
            prow[s] = pv;
            drow[s] = d;
            dt += static_cast<double>(pv) * d;
          }
          const float D = static_cast<float>(dt);
          for (int64_t s = 0; s < n; ++s) {
            drow[s] = a.scale * prow[s] * (drow[s] - D);  // d(score) with the scale of q.k folded in
            if (a.dropout > 0.f && prow[s] != 0.f) prow[s] *= keep_factor(a, b, h, t, s);  // what out used
          }
        }
        gemm_serial(true, false, n, a.Dv, nb, pr, S, gb + t0 * ldv, ldv, 1.f, dvb, ldv, GemmEpilogue{});
        gemm_serial(false, false, nb, a.D, n, dp, S, kb, ldq, 0.f, dqb + t0 * ldq, ldq, GemmEpilogue{});
        gemm_serial(true, false, n, a.D, nb, dp, S, qb + t0 * ldq, ldq, 1.f, dkb, ldq, GemmEpilogue{});
      }
    }
  });
}

// ---- plain loops ----------------------------------------------------------------------------------------------------
void attention_forward_ref(const AttentionArgs& a, const float* q, const float* k, const float* v, float* out,
                           float* lse, float* probs) {
  check(a);
  const int64_t H = a.H, D = a.D, Dv = a.Dv;
  std::vector<float> row(static_cast<size_t>(std::max<int64_t>(a.S, 1)));
  for (int64_t b = 0; b < a.B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t t = 0; t < a.T; ++t) {
        const float* qt = q + ((b * a.T + t) * H + h) * D;
        for (int64_t s = 0; s < a.S; ++s) {
          const float* ks = k + ((b * a.S + s) * H + h) * D;
          float dot = 0.f;
          for (int64_t d = 0; d < D; ++d) dot += qt[d] * ks[d];
          row[static_cast<size_t>(s)] = dot;
        }
        const float L = softmax_row(a, b, h, t, row.data(), a.S);
        lse[(b * H + h) * a.T + t] = L;
        if (probs != nullptr) std::copy(row.begin(), row.begin() + a.S, probs + ((b * H + h) * a.T + t) * a.S);
        float* ot = out + ((b * a.T + t) * H + h) * Dv;
        std::fill(ot, ot + Dv, 0.f);
        for (int64_t s = 0; s < a.S; ++s) {
          float w = row[static_cast<size_t>(s)];
          if (a.dropout > 0.f) w *= keep_factor(a, b, h, t, s);
          const float* vs = v + ((b * a.S + s) * H + h) * Dv;
          for (int64_t d = 0; d < Dv; ++d) ot[d] += w * vs[d];
        }
      }
}

void attention_backward_ref(const AttentionArgs& a, const float* q, const float* k, const float* v,
                            const float* lse, const float* dout, float* dq, float* dk, float* dv) {
  check(a);
  const int64_t H = a.H, D = a.D, Dv = a.Dv;
  std::fill(dk, dk + a.B * a.S * H * D, 0.f);
  std::fill(dv, dv + a.B * a.S * H * Dv, 0.f);
  std::vector<float> p(static_cast<size_t>(std::max<int64_t>(a.S, 1))), dp(p.size());
  for (int64_t b = 0; b < a.B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t t = 0; t < a.T; ++t) {
        const float L = lse[(b * H + h) * a.T + t];
        const float* qt = q + ((b * a.T + t) * H + h) * D;
        const float* gt = dout + ((b * a.T + t) * H + h) * Dv;
        float* dqt = dq + ((b * a.T + t) * H + h) * D;
        double dsum = 0.0;
        for (int64_t s = 0; s < a.S; ++s) {
          const float* ks = k + ((b * a.S + s) * H + h) * D;
          const float* vs = v + ((b * a.S + s) * H + h) * Dv;
          float dot = 0.f, g = 0.f;
          for (int64_t d = 0; d < D; ++d) dot += qt[d] * ks[d];
          for (int64_t d = 0; d < Dv; ++d) g += gt[d] * vs[d];
          const bool ok = L != kNegInf && allowed(a, b, h, t, s);
          const float pv = ok ? std::exp(a.scale * dot + bias_at(a, b, h, t, s) - L) : 0.f;
          const float z = a.dropout > 0.f ? keep_factor(a, b, h, t, s) : 1.f;
          p[static_cast<size_t>(s)] = pv;
          dp[static_cast<size_t>(s)] = g * z;
          dsum += static_cast<double>(pv) * g * z;
          float* dvs = dv + ((b * a.S + s) * H + h) * Dv;
          for (int64_t d = 0; d < Dv; ++d) dvs[d] += pv * z * gt[d];
        }
        std::fill(dqt, dqt + D, 0.f);
        for (int64_t s = 0; s < a.S; ++s) {
          const float ds = a.scale * p[static_cast<size_t>(s)] * (dp[static_cast<size_t>(s)] - static_cast<float>(dsum));
          const float* ks = k + ((b * a.S + s) * H + h) * D;
          float* dks = dk + ((b * a.S + s) * H + h) * D;
          for (int64_t d = 0; d < D; ++d) {
            dqt[d] += ds * ks[d];
            dks[d] += ds * qt[d];
          }
        }
      }
}

}  // namespace nncore::kernels
