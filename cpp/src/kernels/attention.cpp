// Scaled dot-product attention (see attention.hpp): blocks of queries against all keys as GEMMs on the calling
// thread's scratch, (b, h) pairs over the threads; and the plain-loop twins the tests compare against.
#include "kernels/attention.hpp"
#include "kernels/attention_internal.hpp"

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

// ---- the row loops: plain versions (the generic path and the reference twin) -------------------------------------
float plain_max(const float* x, int64_t n) {
  float m = kNegInf;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, x[i]);
  return m;
}

float plain_exp_sum(float* x, int64_t n, float scale, float shift) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = x[i] == kNegInf ? 0.f : std::exp(scale * x[i] + shift);
    sum += x[i];
  }
  return static_cast<float>(sum);
}

float plain_dot(const float* x, const float* y, int64_t n) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * y[i];
  return static_cast<float>(sum);
}

const AttentionRowKernel plain_row_kernel = {plain_max, plain_exp_sum, plain_dot, "generic"};

const AttentionRowKernel& fast_row_kernel() {
#if defined(NNCORE_X86)
  if (active_isa() != Isa::generic) return attention_row_kernel_avx2;
#endif
  return plain_row_kernel;
}

// Row x (the raw products q_t . k_s for s < n) becomes the scores: scale * x + bias where query t may attend key s,
// -inf where it may not.
void score_row(const AttentionArgs& a, int64_t b, int64_t h, int64_t t, float* x, int64_t n) {
  const int64_t lim = a.causal ? std::min(n, t + 1) : n;
  if (a.mask == nullptr && a.bias == nullptr) {
    for (int64_t s = 0; s < lim; ++s) x[s] *= a.scale;
  } else {
    const int64_t* ms = a.mask_stride;
    const int64_t* bs = a.bias_stride;
    const float* mrow = a.mask != nullptr ? a.mask + b * ms[0] + h * ms[1] + t * ms[2] : nullptr;
    const float* brow = a.bias != nullptr ? a.bias + b * bs[0] + h * bs[1] + t * bs[2] : nullptr;
    for (int64_t s = 0; s < lim; ++s) {
      const float v = a.scale * x[s] + (brow != nullptr ? brow[s * bs[3]] : 0.f);
      x[s] = mrow != nullptr && mrow[s * ms[3]] == 0.f ? kNegInf : v;
    }
  }
  std::fill(x + lim, x + n, kNegInf);
}

// Whether the scores are the scaled products alone (no mask, bias or causal bound): then the scaling rides in the
// exponential, and the row loops skip the pass that writes the scores.
bool plain_scores(const AttentionArgs& a) {
  return a.mask == nullptr && a.bias == nullptr && !a.causal && a.scale > 0.f;
}

// Row x (raw products) becomes query t's probabilities (0 where not allowed) times `sum`, which is returned through
// *sum (1 when normalize, the exponentials' sum otherwise, for the caller to divide the weighted sum by); returns the
// log-sum-exp of the allowed scores, -inf when there is none (a row of zeros, *sum = 1).
float softmax_row(const AttentionArgs& a, const AttentionRowKernel& K, int64_t b, int64_t h, int64_t t, float* x,
                  int64_t n, bool normalize, float* sum_out) {
  *sum_out = 1.f;
  float m, sum, scale = 1.f;
  if (plain_scores(a)) {  // max of the raw products, scaled: the same as the max of the scores for scale > 0
    m = a.scale * K.max(x, n);
    scale = a.scale;
  } else {
    score_row(a, b, h, t, x, n);
    m = K.max(x, n);
  }
  if (m == kNegInf) {
    std::fill(x, x + n, 0.f);
    return kNegInf;
  }
  sum = K.exp_sum(x, n, scale, -m);
  if (normalize) {
    const float inv = 1.f / sum;
    for (int64_t s = 0; s < n; ++s) x[s] *= inv;
  } else {
    *sum_out = sum;
  }
  return m + std::log(sum);
}

// Backward of one row: x holds the raw products q_t . k_s, d the products dout_t . v_s. Afterwards d holds
// d(loss)/d(q_t . k_s) (the scale folded in) and x the probabilities out used (after dropout).
void backward_row(const AttentionArgs& a, const AttentionRowKernel& K, int64_t b, int64_t h, int64_t t, float L,
                  float* x, float* d, int64_t n) {
  if (L == kNegInf) {  // no key allowed: nothing flows
    std::fill(x, x + n, 0.f);
    std::fill(d, d + n, 0.f);
    return;
  }
  if (plain_scores(a)) {
    K.exp_sum(x, n, a.scale, -L);  // p from the saved log-sum-exp
  } else {
    score_row(a, b, h, t, x, n);
    K.exp_sum(x, n, 1.f, -L);
  }
  if (a.dropout > 0.f)
    for (int64_t s = 0; s < n; ++s)
      if (x[s] != 0.f) d[s] *= keep_factor(a, b, h, t, s);
  const float D = K.dot(x, d, n);
  for (int64_t s = 0; s < n; ++s) d[s] = a.scale * x[s] * (d[s] - D);
  if (a.dropout > 0.f)
    for (int64_t s = 0; s < n; ++s)
      if (x[s] != 0.f) x[s] *= keep_factor(a, b, h, t, s);
}

double pair_flops(const AttentionArgs& a) {
  return 2.0 * static_cast<double>(a.T) * static_cast<double>(a.S) * static_cast<double>(a.D + a.Dv);
}
}  // namespace

namespace {
// The products of one (b, h) pair against its keys: op(B) packed once per pair and reused by every block of queries
// (gemm would pack it again for each), except under the causal bound, where each block sees a different number of
// keys. Packed or not, gemm gives the same bits.
struct PairOperand {
  bool trans;
  int64_t K, N;
  const float* B;
  int64_t ldb;
  GemmPackedB* packed;  // null: each product packs for itself
  // C (M x N or its first n columns / rows of K when not packed) = beta * C + op(A) op(B)
  void product(bool trans_a, int64_t M, int64_t N_used, int64_t K_used, const float* A, int64_t lda, float beta,
               float* C, int64_t ldc) const {
    if (packed != nullptr && N_used == N && K_used == K) {
      gemm_packed_b_serial(trans_a, M, N, K, A, lda, *packed, beta, C, ldc);
    } else {
      gemm_serial(trans_a, trans, M, N_used, K_used, A, lda, B, ldb, beta, C, ldc, GemmEpilogue{});
    }
  }
};

PairOperand pair_operand(bool trans, int64_t K, int64_t N, const float* B, int64_t ldb, bool pack,
                         GemmPackedB* buffer) {
  if (pack) gemm_pack_b(trans, K, N, B, ldb, buffer);
  return PairOperand{trans, K, N, B, ldb, pack ? buffer : nullptr};
}
}  // namespace

void attention_forward(const AttentionArgs& a, const float* q, const float* k, const float* v, float* out,
                       float* lse, float* probs) {
  check(a);
  const int64_t ldq = a.H * a.D, ldv = a.H * a.Dv, T = a.T, S = a.S;
  // Rows stay unnormalized (the weighted sum is divided by each row's sum afterwards, Dv values instead of S) unless
  // the probabilities themselves are wanted or dropped out.
  const bool normalize_rows = probs != nullptr || a.dropout > 0.f;
  const bool pack = !a.causal && S > 0;
  parallel_range(a.B * a.H, pair_flops(a), [&](int64_t p0, int64_t p1) {
    thread_local ThreadBuffer scratch;
    thread_local GemmPackedB kt_buf, v_buf;
    float* sc = scratch.get(kQueryBlock * (std::max<int64_t>(S, 1) + 1));
    float* sums = sc + kQueryBlock * std::max<int64_t>(S, 1);
    const AttentionRowKernel& K = fast_row_kernel();
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t b = p / a.H, h = p % a.H;
      const float* qb = q + (b * T * a.H + h) * a.D;
      const float* kb = k + (b * S * a.H + h) * a.D;
      const float* vb = v + (b * S * a.H + h) * a.Dv;
      float* ob = out + (b * T * a.H + h) * a.Dv;
      const PairOperand kt = pair_operand(true, a.D, S, kb, ldq, pack, &kt_buf);
      const PairOperand vv = pair_operand(false, S, a.Dv, vb, ldv, pack, &v_buf);
      for (int64_t t0 = 0; t0 < T; t0 += kQueryBlock) {
        const int64_t nb = std::min(kQueryBlock, T - t0);
        const int64_t n = a.causal ? std::min(S, t0 + nb) : S;  // keys past the block's last query never count
        if (n > 0) kt.product(false, nb, n, a.D, qb + t0 * ldq, ldq, 0.f, sc, S);
        for (int64_t i = 0; i < nb; ++i) {
          const int64_t t = t0 + i;
          float* row = sc + i * S;
          lse[(b * a.H + h) * T + t] = softmax_row(a, K, b, h, t, row, n, normalize_rows, sums + i);
          if (probs != nullptr) {
            float* pr = probs + ((b * a.H + h) * T + t) * S;
            std::copy(row, row + n, pr);
            std::fill(pr + n, pr + S, 0.f);
          }
          if (a.dropout > 0.f)
            for (int64_t s = 0; s < n; ++s) row[s] *= keep_factor(a, b, h, t, s);
        }
        if (n > 0) {
          vv.product(false, nb, a.Dv, n, sc, S, 0.f, ob + t0 * ldv, ldv);
          if (!normalize_rows)
            for (int64_t i = 0; i < nb; ++i) {
              const float inv = 1.f / sums[i];
              float* o = ob + (t0 + i) * ldv;
              for (int64_t d = 0; d < a.Dv; ++d) o[d] *= inv;
            }
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
  const bool pack = !a.causal && S > 0;
  parallel_range(a.B * a.H, 2.0 * pair_flops(a), [&](int64_t p0, int64_t p1) {
    thread_local ThreadBuffer probs_buf, grad_buf;
    thread_local GemmPackedB kt_buf, vt_buf, k_buf;
    float* pr = probs_buf.get(kQueryBlock * std::max<int64_t>(S, 1));
    float* dp = grad_buf.get(kQueryBlock * std::max<int64_t>(S, 1));
    const AttentionRowKernel& K = fast_row_kernel();
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
      const PairOperand kt = pair_operand(true, a.D, S, kb, ldq, pack, &kt_buf);
      const PairOperand vt = pair_operand(true, a.Dv, S, vb, ldv, pack, &vt_buf);
      const PairOperand kk = pair_operand(false, S, a.D, kb, ldq, pack, &k_buf);
      for (int64_t t0 = 0; t0 < T; t0 += kQueryBlock) {
        const int64_t nb = std::min(kQueryBlock, T - t0);
        const int64_t n = a.causal ? std::min(S, t0 + nb) : S;
        if (n == 0) {
          for (int64_t i = 0; i < nb; ++i) std::fill(dqb + (t0 + i) * ldq, dqb + (t0 + i) * ldq + a.D, 0.f);
          continue;
        }
        kt.product(false, nb, n, a.D, qb + t0 * ldq, ldq, 0.f, pr, S);
        vt.product(false, nb, n, a.Dv, gb + t0 * ldv, ldv, 0.f, dp, S);
        for (int64_t i = 0; i < nb; ++i)
          backward_row(a, K, b, h, t0 + i, lse[(b * a.H + h) * T + t0 + i], pr + i * S, dp + i * S, n);
        gemm_serial(true, false, n, a.Dv, nb, pr, S, gb + t0 * ldv, ldv, 1.f, dvb, ldv, GemmEpilogue{});
        kk.product(false, nb, a.D, n, dp, S, 0.f, dqb + t0 * ldq, ldq);
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
        float unused_sum;
        const float L = softmax_row(a, plain_row_kernel, b, h, t, row.data(), a.S, true, &unused_sum);
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
