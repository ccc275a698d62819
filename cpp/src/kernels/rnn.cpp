// Recurrent layers over whole sequences (see rnn.hpp): the sequence loop, its GEMMs and masks, the portable row
// kernels, and the step-by-step reference. The sequence loop splits the batch rows over the threads (each runs
// every step on its own rows; see over_batch_rows); each thread writes its own rows, and every GEMM is
// bit-identical across thread counts and row ranges, so results are too.
#include "kernels/rnn.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "kernels/parallel.hpp"
#include "kernels/rnn_internal.hpp"

namespace nncore::kernels {

// ---- portable row kernels -----------------------------------------------------------------------------------

namespace {

inline float sigmoid1(float x) {
  // Stable on both tails: exp of a non-positive argument only.
  if (x >= 0.f) return 1.f / (1.f + std::exp(-x));
  const float e = std::exp(x);
  return e / (1.f + e);
}

inline float act1(Act act, float x) {
  switch (act) {
    case Act::relu: return x > 0.f ? x : 0.f;
    case Act::sigmoid: return sigmoid1(x);
    case Act::tanh: return std::tanh(x);
    default: return x;
  }
}

// act'(x) from y = act(x).
inline float dact1(Act act, float y) {
  switch (act) {
    case Act::relu: return y > 0.f ? 1.f : 0.f;
    case Act::sigmoid: return y * (1.f - y);
    case Act::tanh: return 1.f - y * y;
    default: return 1.f;
  }
}

inline float at(const float* p, int64_t j) { return p != nullptr ? p[j] : 0.f; }

void lstm_forward_generic(int64_t U, float* g, const float* c_prev, float* c, float* h) {
  for (int64_t j = 0; j < U; ++j) {
    const float i = sigmoid1(g[j]), f = sigmoid1(g[U + j]), cc = std::tanh(g[2 * U + j]), o = sigmoid1(g[3 * U + j]);
    g[j] = i;
    g[U + j] = f;
    g[2 * U + j] = cc;
    g[3 * U + j] = o;
    c[j] = f * at(c_prev, j) + i * cc;
    h[j] = o * std::tanh(c[j]);
  }
}

void lstm_backward_generic(int64_t U, const float* g, const float* c, const float* c_prev, float* dh, const float* dy,
                           float* dc, float* dg) {
  for (int64_t j = 0; j < U; ++j) {
    const float i = g[j], f = g[U + j], cc = g[2 * U + j], o = g[3 * U + j], tc = std::tanh(c[j]);
    const float dht = dh[j] + at(dy, j);
    const float dct = dc[j] + dht * o * (1.f - tc * tc);
    dg[j] = dct * cc * i * (1.f - i);
    dg[U + j] = dct * at(c_prev, j) * f * (1.f - f);
    dg[2 * U + j] = dct * i * (1.f - cc * cc);
    dg[3 * U + j] = dht * tc * o * (1.f - o);
    dc[j] = dct * f;
    dh[j] = 0.f;
  }
}

void gru_forward_generic(int64_t U, float* p, const float* rec, const float* h_prev, float* h) {
  for (int64_t j = 0; j < U; ++j) {
    const float z = sigmoid1(p[j] + rec[j]), r = sigmoid1(p[U + j] + rec[U + j]);
    const float hh = std::tanh(p[2 * U + j] + r * rec[2 * U + j]);
    p[j] = z;
    p[U + j] = r;
    p[2 * U + j] = hh;
    h[j] = z * h_prev[j] + (1.f - z) * hh;
  }
}

void gru_backward_generic(int64_t U, const float* p, const float* rec, const float* h_prev, float* dh, const float* dy,
                          float* dp, float* drec) {
  for (int64_t j = 0; j < U; ++j) {
    const float z = p[j], r = p[U + j], hh = p[2 * U + j];
    const float dht = dh[j] + at(dy, j);
    const float daz = dht * (h_prev[j] - hh) * z * (1.f - z);
    const float dah = dht * (1.f - z) * (1.f - hh * hh);
    const float dar = dah * rec[2 * U + j] * r * (1.f - r);
    dp[j] = drec[j] = daz;
    dp[U + j] = drec[U + j] = dar;
    dp[2 * U + j] = dah;
    drec[2 * U + j] = dah * r;
    dh[j] = dht * z;
  }
}

void simple_forward_generic(Act act, int64_t U, float* p, float* h) {
  for (int64_t j = 0; j < U; ++j) h[j] = p[j] = act1(act, p[j]);
}

void simple_backward_generic(Act act, int64_t U, const float* p, float* dh, const float* dy, float* dp) {
  for (int64_t j = 0; j < U; ++j) {
    dp[j] = (dh[j] + at(dy, j)) * dact1(act, p[j]);
    dh[j] = 0.f;
  }
}

}  // namespace

const RnnRowKernels rnn_rows_generic = {lstm_forward_generic,   lstm_backward_generic,   gru_forward_generic,
                                        gru_backward_generic,   simple_forward_generic,  simple_backward_generic,
                                        "generic"};

namespace {

const RnnRowKernels& rows_active() {
#if defined(NNCORE_X86)
  if (active_isa() == Isa::avx512) return rnn_rows_avx512;
  if (active_isa() == Isa::avx2) return rnn_rows_avx2;
#endif
  return rnn_rows_generic;
}

// ---- sequence geometry ---------------------------------------------------------------------------------------

// Row b of a (B, T, n) array at time t.
inline float* row(float* a, int64_t b, int64_t t, int64_t T, int64_t n) { return a + (b * T + t) * n; }
inline const float* row(const float* a, int64_t b, int64_t t, int64_t T, int64_t n) { return a + (b * T + t) * n; }

struct Geometry {
  const RnnSpec& s;
  int64_t G, GU;
  explicit Geometry(const RnnSpec& spec) : s(spec), G(spec.gates()), GU(spec.gates() * spec.U) {}
  int64_t tin(int64_t step) const { return s.go_backwards ? s.T - 1 - step : step; }
  bool valid(const RnnData& d, int64_t b, int64_t t) const { return d.mask == nullptr || d.mask[b * s.T + t] != 0.f; }
  // Output row of step `step` for sample b.
  float* y_row(const RnnData& d, int64_t b, int64_t step) const {
    return s.return_sequences ? row(d.y, b, step, s.T, s.U) : d.y + b * s.U;
  }
  const float* dy_row(const RnnGrads& g, int64_t b, int64_t step) const {
    if (s.return_sequences) return row(g.dy, b, step, s.T, s.U);
    return step == s.T - 1 ? g.dy + b * s.U : nullptr;
  }
  // Where step `step` writes its new state: the next step's hprev slot, or h_last after the last step.
  float* h_next(const RnnData& d, int64_t b, int64_t step) const {
    return step + 1 < s.T ? row(d.hprev, b, tin(step + 1), s.T, s.U) : d.h_last + b * s.U;
  }
  // The cell state entering step `step` (LSTM), null for zeros.
  const float* c_prev(const RnnData& d, int64_t b, int64_t step) const {
    if (step > 0) return row(d.c, b, tin(step - 1), s.T, s.U);
    return d.c0 != nullptr ? d.c0 + b * s.U : nullptr;
  }
  // The state the recurrent GEMM reads: hprev, or hdrop with a recurrent dropout mask.
  float* gemm_h(const RnnData& d) const { return d.recurrent_mask != nullptr ? d.hdrop : d.hprev; }
};

void copy_row(float* dst, const float* src, int64_t n) {
  if (src != nullptr) std::memcpy(dst, src, sizeof(float) * static_cast<size_t>(n));
  else std::memset(dst, 0, sizeof(float) * static_cast<size_t>(n));
}

// ---- threads ---------------------------------------------------------------------------------------------------

// Batch rows never meet in the recurrence: row b of a step reads only row b of the step before (state, cell,
// masks), through both the row pass and the state's GEMM, whose rows are independent too. So when the batch is
// large enough, each thread runs the whole sequence on its own rows, with no fork, join or barrier per step and
// the row passes split too; otherwise one range of rows, whose per-step GEMMs and row passes use the threads
// themselves. f(b0, b1, serial) runs rows [b0, b1); serial: on the calling thread only. A row is computed alike
// in any range (every GEMM element sums the same products in the same order), so results do not depend on the
// thread count.
template <typename F>
void over_batch_rows(int64_t B, int64_t GU, int64_t U, double flops, F&& f) {
  // Ranges are cut at multiples of 8 rows, a multiple of every micro-kernel's MR: none adds a ragged tile. A batch
  // of under 16 rows whose step products (B x U times U x GU) all take the small-M kernel is cut at multiples of
  // 4, that kernel's row group: a packed product of all B rows would sum K in slabs, and so round differently.
  const int64_t step = B < 16 && gemm_small_m_rows(B, GU, U) ? 4 : 8;
  const int parts = static_cast<int>(std::min<int64_t>(threads_for(flops), B / step));
  if (parts <= 1) {
    f(int64_t{0}, B, false);
    return;
  }
  const int64_t units = (B + step - 1) / step;
  parallel_range(units, flops / static_cast<double>(units),
                 [&](int64_t u0, int64_t u1) { f(u0 * step, std::min(B, u1 * step), true); });
}

// Rows [b0, b1) of the row pass, spread over the threads unless serial.
template <typename F>
void rows_pass(int64_t b0, int64_t b1, bool serial, double row_cost, F&& f) {
  if (serial) f(b0, b1);
  else parallel_range(b1 - b0, row_cost, [&](int64_t r0, int64_t r1) { f(b0 + r0, b0 + r1); });
}

}  // namespace

// ---- forward -------------------------------------------------------------------------------------------------

void rnn_forward(const RnnSpec& s, const RnnWeights& w, const RnnData& d) {
  const Geometry geo(s);
  const int64_t B = s.B, T = s.T, U = s.U, GU = geo.GU;
  if (B == 0 || T == 0) return;
  const RnnRowKernels& k = rows_active();
  const bool gru = s.cell == RnnCell::gru;
  // All input projections at once: gates (B*T, GU) = x (B*T, I) W + b.
  GemmEpilogue in_bias;
  in_bias.bias = w.bias;
  if (w.kernel_q != nullptr) gemm_q8(B * T, d.x, s.I, *w.kernel_q, w.kernel_scale, 0.f, d.gates, GU, in_bias);
  else gemm(false, false, B * T, GU, s.I, d.x, s.I, w.kernel, GU, 0.f, d.gates, GU, in_bias);
  // The state entering the first step.
  for (int64_t b = 0; b < B; ++b) copy_row(row(d.hprev, b, geo.tin(0), T, U), d.h0 != nullptr ? d.h0 + b * U : nullptr, U);
  GemmEpilogue rec_bias;
  rec_bias.bias = w.recurrent_bias;
  const float* gh = geo.gemm_h(d);
  // U (U, GU) is the B operand of every step's GEMM: packed once here instead of in each of the T GEMMs, unless
  // the steps' few rows read it in place (small batches). (The threads below read this thread's copy through the
  // reference: naming a thread_local there would mean theirs.)
  thread_local GemmPackedB rec_packed_tls;
  const bool q8 = w.recurrent_q != nullptr;
  if (!q8) gemm_pack_b(false, U, GU, w.recurrent, GU, &rec_packed_tls, B);
  const GemmPackedB& rec_packed = rec_packed_tls;
  const double row_cost = 20.0 * static_cast<double>(GU);
  const double flops = static_cast<double>(B * T) * (2.0 * static_cast<double>(U * GU) + row_cost);
  over_batch_rows(B, GU, U, flops, [&](int64_t b0, int64_t b1, bool serial) {
    const int64_t nb = b1 - b0;
    const auto rec_gemm = serial ? gemm_packed_b_serial : gemm_packed_b;
    for (int64_t step = 0; step < T; ++step) {
      const int64_t t = geo.tin(step);
      if (d.recurrent_mask != nullptr)
        for (int64_t b = b0; b < b1; ++b) {
          const float* h = row(d.hprev, b, t, T, U);
          float* hd = row(d.hdrop, b, t, T, U);
          for (int64_t j = 0; j < U; ++j) hd[j] = h[j] * d.recurrent_mask[b * U + j];
        }
      // The rows of step t are T*GU apart in the (B, T, GU) arrays.
      if (q8)
        gemm_q8(nb, row(gh, b0, t, T, U), T * U, *w.recurrent_q, w.recurrent_scale, gru ? 0.f : 1.f,
                row(gru ? d.rec : d.gates, b0, t, T, GU), T * GU, gru ? rec_bias : GemmEpilogue{}, serial);
      else if (gru)
        rec_gemm(false, nb, GU, U, row(gh, b0, t, T, U), T * U, rec_packed, 0.f, row(d.rec, b0, t, T, GU), T * GU,
                 rec_bias);
      else
        rec_gemm(false, nb, GU, U, row(gh, b0, t, T, U), T * U, rec_packed, 1.f, row(d.gates, b0, t, T, GU),
                 T * GU, GemmEpilogue{});
      rows_pass(b0, b1, serial, row_cost, [&](int64_t r0, int64_t r1) {
        for (int64_t b = r0; b < r1; ++b) {
          const float* hp = row(d.hprev, b, t, T, U);
          float* hn = geo.h_next(d, b, step);
          float* y = geo.y_row(d, b, step);
          if (!geo.valid(d, b, t)) {  // masked: carry the state over; output the previous state or zeros
            if (hn != hp) std::memcpy(hn, hp, sizeof(float) * static_cast<size_t>(U));
            if (s.cell == RnnCell::lstm) copy_row(row(d.c, b, t, T, U), geo.c_prev(d, b, step), U);
            copy_row(y, s.zero_masked_output ? nullptr : hp, U);
            continue;
          }
          float* g = row(d.gates, b, t, T, GU);
          switch (s.cell) {
            case RnnCell::lstm: k.lstm_forward(U, g, geo.c_prev(d, b, step), row(d.c, b, t, T, U), hn); break;
            case RnnCell::gru: k.gru_forward(U, g, row(d.rec, b, t, T, GU), hp, hn); break;
            case RnnCell::simple: k.simple_forward(s.act, U, g, hn); break;
          }
          std::memcpy(y, hn, sizeof(float) * static_cast<size_t>(U));
        }
      });
    }
  });
  if (s.cell == RnnCell::lstm)
    for (int64_t b = 0; b < B; ++b) copy_row(d.c_last + b * U, row(d.c, b, geo.tin(T - 1), T, U), U);
}

// ---- backward ------------------------------------------------------------------------------------------------

void rnn_backward(const RnnSpec& s, const RnnWeights& w, const RnnData& d, const RnnGrads& g) {
  const Geometry geo(s);
  const int64_t B = s.B, T = s.T, U = s.U, GU = geo.GU;
  const bool lstm = s.cell == RnnCell::lstm, gru = s.cell == RnnCell::gru;
  for (int64_t b = 0; b < B; ++b) {
    copy_row(g.dh + b * U, g.dh_last != nullptr ? g.dh_last + b * U : nullptr, U);
    if (lstm) copy_row(g.dc + b * U, g.dc_last != nullptr ? g.dc_last + b * U : nullptr, U);
  }
  if (B == 0 || T == 0) return;
  const RnnRowKernels& k = rows_active();
  // GRU: the recurrent kernel sees the recurrent projection's gradient; the others the gates' own.
  float* dr = gru ? g.drec : g.dgates;
  // U^T (GU, U) is the B operand of every step's GEMM: packed once here, as in forward.
  thread_local GemmPackedB rec_t_packed_tls;
  gemm_pack_b(true, GU, U, w.recurrent, GU, &rec_t_packed_tls);
  const GemmPackedB& rec_t_packed = rec_t_packed_tls;
  const double row_cost = 12.0 * static_cast<double>(GU);
  const double flops = static_cast<double>(B * T) * (2.0 * static_cast<double>(U * GU) + row_cost);
  over_batch_rows(B, GU, U, flops, [&](int64_t b0, int64_t b1, bool serial) {
    const int64_t nb = b1 - b0;
    const auto rec_gemm = serial ? gemm_packed_b_serial : gemm_packed_b;
    for (int64_t step = T - 1; step >= 0; --step) {
      const int64_t t = geo.tin(step);
      rows_pass(b0, b1, serial, row_cost, [&](int64_t r0, int64_t r1) {
        for (int64_t b = r0; b < r1; ++b) {
          float* dh = g.dh + b * U;
          const float* dy = geo.dy_row(g, b, step);
          float* dg = row(g.dgates, b, t, T, GU);
          if (!geo.valid(d, b, t)) {  // masked: the state passed through; so did the output unless zeroed
            std::memset(dg, 0, sizeof(float) * static_cast<size_t>(GU));
            if (gru) std::memset(row(g.drec, b, t, T, GU), 0, sizeof(float) * static_cast<size_t>(GU));
            if (dy != nullptr && !s.zero_masked_output)
              for (int64_t j = 0; j < U; ++j) dh[j] += dy[j];
            continue;
          }
          const float* gates = row(d.gates, b, t, T, GU);
          switch (s.cell) {
            case RnnCell::lstm:
              k.lstm_backward(U, gates, row(d.c, b, t, T, U), geo.c_prev(d, b, step), dh, dy, g.dc + b * U, dg);
              break;
            case RnnCell::gru:
              k.gru_backward(U, gates, row(d.rec, b, t, T, GU), row(d.hprev, b, t, T, U), dh, dy, dg,
                             row(g.drec, b, t, T, GU));
              break;
            case RnnCell::simple: k.simple_backward(s.act, U, gates, dh, dy, dg); break;
          }
        }
      });
      // dh_{t-1} += dG_t U^T (through the recurrent dropout mask when there is one).
      const float* drt = row(dr, b0, t, T, GU);
      if (d.recurrent_mask == nullptr) {
        rec_gemm(false, nb, U, GU, drt, T * GU, rec_t_packed, 1.f, g.dh + b0 * U, U, GemmEpilogue{});
      } else {
        rec_gemm(false, nb, U, GU, drt, T * GU, rec_t_packed, 0.f, g.tmp + b0 * U, U, GemmEpilogue{});
        for (int64_t i = b0 * U; i < b1 * U; ++i) g.dh[i] += g.tmp[i] * d.recurrent_mask[i];
      }
    }
  });
  // The weight gradients over all B*T rows at once.
  const int64_t R = B * T;
  if (g.dkernel != nullptr) gemm(true, false, s.I, GU, R, d.x, s.I, g.dgates, GU, 1.f, g.dkernel, GU);
  if (g.drecurrent != nullptr) gemm(true, false, U, GU, R, geo.gemm_h(d), U, dr, GU, 1.f, g.drecurrent, GU);
  if (g.dbias != nullptr) col_sum_accumulate(g.dbias, g.dgates, R, GU);
  if (gru && g.drecurrent_bias != nullptr) col_sum_accumulate(g.drecurrent_bias, g.drec, R, GU);
  if (g.dx != nullptr) gemm(false, true, R, s.I, GU, g.dgates, GU, w.kernel, GU, 0.f, g.dx, s.I);
}

// ---- reference: step by step, scalar math, the reference GEMM ------------------------------------------------

namespace {

// out (B, n) = beta * out + a (B rows, stride lda) w (K, n), w row-major.
void ref_gemm_rows(float* out, int64_t ldo, const float* a, int64_t lda, const float* w, int64_t B, int64_t K,
                   int64_t n, float beta) {
  gemm_ref(false, false, B, n, K, a, lda, w, n, beta, out, ldo);
}

}  // namespace

void rnn_forward_ref(const RnnSpec& s, const RnnWeights& w, const RnnData& d) {
  if (w.kernel_q != nullptr || w.recurrent_q != nullptr)
    throw std::invalid_argument("rnn_forward_ref: int8-quantized weights have no reference form here");
  const Geometry geo(s);
  const int64_t B = s.B, T = s.T, U = s.U, GU = geo.GU;
  if (B == 0 || T == 0) return;
  std::vector<float> h(static_cast<size_t>(B * U)), c(static_cast<size_t>(B * U)), hin(static_cast<size_t>(B * U));
  for (int64_t i = 0; i < B * U; ++i) {
    h[i] = d.h0 != nullptr ? d.h0[i] : 0.f;
    c[i] = d.c0 != nullptr ? d.c0[i] : 0.f;
  }
  for (int64_t step = 0; step < T; ++step) {
    const int64_t t = geo.tin(step);
    for (int64_t i = 0; i < B * U; ++i) hin[i] = h[i] * (d.recurrent_mask != nullptr ? d.recurrent_mask[i] : 1.f);
    for (int64_t b = 0; b < B; ++b) {
      std::memcpy(row(d.hprev, b, t, T, U), &h[b * U], sizeof(float) * static_cast<size_t>(U));
      if (d.recurrent_mask != nullptr) std::memcpy(row(d.hdrop, b, t, T, U), &hin[b * U], sizeof(float) * static_cast<size_t>(U));
    }
    for (int64_t b = 0; b < B; ++b) {
      float* g = row(d.gates, b, t, T, GU);
      const float* xr = row(d.x, b, t, T, s.I);
      ref_gemm_rows(g, GU, xr, s.I, w.kernel, 1, s.I, GU, 0.f);
      for (int64_t j = 0; j < GU; ++j) g[j] += w.bias != nullptr ? w.bias[j] : 0.f;
      float* hb = &h[b * U];
      float* cb = &c[b * U];
      const bool valid = geo.valid(d, b, t);
      float* y = geo.y_row(d, b, step);
      if (s.cell == RnnCell::gru) {
        float* rec = row(d.rec, b, t, T, GU);
        ref_gemm_rows(rec, GU, &hin[b * U], U, w.recurrent, 1, U, GU, 0.f);
        for (int64_t j = 0; j < GU; ++j) rec[j] += w.recurrent_bias != nullptr ? w.recurrent_bias[j] : 0.f;
        if (valid)
          for (int64_t j = 0; j < U; ++j) {
            const float z = sigmoid1(g[j] + rec[j]), r = sigmoid1(g[U + j] + rec[U + j]);
            const float hh = std::tanh(g[2 * U + j] + r * rec[2 * U + j]);
            g[j] = z;
            g[U + j] = r;
            g[2 * U + j] = hh;
            hb[j] = z * hb[j] + (1.f - z) * hh;
          }
      } else {
        ref_gemm_rows(g, GU, &hin[b * U], U, w.recurrent, 1, U, GU, 1.f);
        if (valid && s.cell == RnnCell::lstm)
          for (int64_t j = 0; j < U; ++j) {
            const float i = sigmoid1(g[j]), f = sigmoid1(g[U + j]), cc = std::tanh(g[2 * U + j]);
            const float o = sigmoid1(g[3 * U + j]);
            g[j] = i;
            g[U + j] = f;
            g[2 * U + j] = cc;
            g[3 * U + j] = o;
            cb[j] = f * cb[j] + i * cc;
            hb[j] = o * std::tanh(cb[j]);
          }
        if (valid && s.cell == RnnCell::simple)
          for (int64_t j = 0; j < U; ++j) hb[j] = g[j] = act1(s.act, g[j]);
      }
      if (s.cell == RnnCell::lstm) std::memcpy(row(d.c, b, t, T, U), cb, sizeof(float) * static_cast<size_t>(U));
      for (int64_t j = 0; j < U; ++j) y[j] = valid ? hb[j] : (s.zero_masked_output ? 0.f : hb[j]);
    }
  }
  std::memcpy(d.h_last, h.data(), sizeof(float) * static_cast<size_t>(B * U));
  if (s.cell == RnnCell::lstm) std::memcpy(d.c_last, c.data(), sizeof(float) * static_cast<size_t>(B * U));
}

void rnn_backward_ref(const RnnSpec& s, const RnnWeights& w, const RnnData& d, const RnnGrads& g) {
  const Geometry geo(s);
  const int64_t B = s.B, T = s.T, U = s.U, I = s.I, GU = geo.GU;
  const bool lstm = s.cell == RnnCell::lstm, gru = s.cell == RnnCell::gru;
  for (int64_t i = 0; i < B * U; ++i) {
    g.dh[i] = g.dh_last != nullptr ? g.dh_last[i] : 0.f;
    if (lstm) g.dc[i] = g.dc_last != nullptr ? g.dc_last[i] : 0.f;
  }
  std::vector<float> dgs(static_cast<size_t>(GU)), drs(static_cast<size_t>(GU)), dhn(static_cast<size_t>(U));
  for (int64_t step = T - 1; step >= 0; --step) {
    const int64_t t = geo.tin(step);
    for (int64_t b = 0; b < B; ++b) {
      float* dh = g.dh + b * U;
      const float* dy = geo.dy_row(g, b, step);
      if (!geo.valid(d, b, t)) {
        if (dy != nullptr && !s.zero_masked_output)
          for (int64_t j = 0; j < U; ++j) dh[j] += dy[j];
        continue;
      }
      const float* ga = row(d.gates, b, t, T, GU);
      const float* hp = row(d.hprev, b, t, T, U);
      const float* hin = d.recurrent_mask != nullptr ? row(d.hdrop, b, t, T, U) : hp;
      const float* rec = gru ? row(d.rec, b, t, T, GU) : nullptr;
      const float* cprev = lstm ? geo.c_prev(d, b, step) : nullptr;
      for (int64_t j = 0; j < U; ++j) {
        const float dht = dh[j] + (dy != nullptr ? dy[j] : 0.f);
        dhn[j] = 0.f;
        if (lstm) {
          const float i = ga[j], f = ga[U + j], cc = ga[2 * U + j], o = ga[3 * U + j];
          const float tc = std::tanh(row(d.c, b, t, T, U)[j]);
          const float dct = g.dc[b * U + j] + dht * o * (1.f - tc * tc);
          dgs[j] = dct * cc * i * (1.f - i);
          dgs[U + j] = dct * (cprev != nullptr ? cprev[j] : 0.f) * f * (1.f - f);
          dgs[2 * U + j] = dct * i * (1.f - cc * cc);
          dgs[3 * U + j] = dht * tc * o * (1.f - o);
          g.dc[b * U + j] = dct * f;
        } else if (gru) {
          const float z = ga[j], r = ga[U + j], hh = ga[2 * U + j];
          const float dah = dht * (1.f - z) * (1.f - hh * hh);
          dgs[j] = drs[j] = dht * (hp[j] - hh) * z * (1.f - z);
          dgs[U + j] = drs[U + j] = dah * rec[2 * U + j] * r * (1.f - r);
          dgs[2 * U + j] = dah;
          drs[2 * U + j] = dah * r;
          dhn[j] = dht * z;
        } else {
          dgs[j] = dht * dact1(s.act, ga[j]);
        }
      }
      const float* dr = gru ? drs.data() : dgs.data();
      // Per-step weight gradients (the naive form the fast path replaces by one GEMM over all steps).
      for (int64_t j = 0; j < GU; ++j) {
        if (g.dbias != nullptr) g.dbias[j] += dgs[j];
        if (gru && g.drecurrent_bias != nullptr) g.drecurrent_bias[j] += drs[j];
        if (g.dkernel != nullptr)
          for (int64_t i = 0; i < I; ++i) g.dkernel[i * GU + j] += row(d.x, b, t, T, I)[i] * dgs[j];
        if (g.drecurrent != nullptr)
          for (int64_t i = 0; i < U; ++i) g.drecurrent[i * GU + j] += hin[i] * dr[j];
      }
      if (g.dx != nullptr) gemm_ref(false, true, 1, I, GU, dgs.data(), GU, w.kernel, GU, 0.f, row(g.dx, b, t, T, I), I);
      std::vector<float> through(static_cast<size_t>(U));
      gemm_ref(false, true, 1, U, GU, dr, GU, w.recurrent, GU, 0.f, through.data(), U);
      for (int64_t j = 0; j < U; ++j)
        dh[j] = dhn[j] + through[j] * (d.recurrent_mask != nullptr ? d.recurrent_mask[b * U + j] : 1.f);
    }
    if (g.dx != nullptr)
      for (int64_t b = 0; b < B; ++b)
        if (!geo.valid(d, b, t)) std::memset(row(g.dx, b, t, T, I), 0, sizeof(float) * static_cast<size_t>(I));
  }
}

// ---- Bidirectional merge -------------------------------------------------------------------------------------

void bidirectional_merge(float* out, const float* yf, const float* yb, int64_t B, int64_t T, int64_t U, MergeMode m) {
  parallel_range(B * T, 2.0 * static_cast<double>(U), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / T, t = r % T;
      const float* f = yf + r * U;
      const float* k = yb + (b * T + (T - 1 - t)) * U;
      if (m == MergeMode::concat) {
        std::memcpy(out + r * 2 * U, f, sizeof(float) * static_cast<size_t>(U));
        std::memcpy(out + r * 2 * U + U, k, sizeof(float) * static_cast<size_t>(U));
        continue;
      }
      float* o = out + r * U;
      for (int64_t j = 0; j < U; ++j)
        o[j] = m == MergeMode::sum ? f[j] + k[j] : m == MergeMode::mul ? f[j] * k[j] : 0.5f * (f[j] + k[j]);
    }
  });
}

void bidirectional_merge_backward(float* dyf, float* dyb, const float* dout, const float* yf, const float* yb,
                                  int64_t B, int64_t T, int64_t U, MergeMode m) {
  parallel_range(B * T, 2.0 * static_cast<double>(U), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / T, t = r % T, rb = b * T + (T - 1 - t);
      float* df = dyf + r * U;
      float* dk = dyb + rb * U;
      if (m == MergeMode::concat) {
        std::memcpy(df, dout + r * 2 * U, sizeof(float) * static_cast<size_t>(U));
        std::memcpy(dk, dout + r * 2 * U + U, sizeof(float) * static_cast<size_t>(U));
        continue;
      }
      const float* g = dout + r * U;
      const float* f = yf + r * U;
      const float* k = yb + rb * U;
      for (int64_t j = 0; j < U; ++j) {
        switch (m) {
          case MergeMode::sum: df[j] = dk[j] = g[j]; break;
          case MergeMode::ave: df[j] = dk[j] = 0.5f * g[j]; break;
          default: df[j] = g[j] * k[j]; dk[j] = g[j] * f[j]; break;
        }
      }
    }
  });
}

}  // namespace nncore::kernels
