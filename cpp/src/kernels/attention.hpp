#pragma once
// Scaled dot-product attention, forward and backward, on Keras's layout: query (B, T, H, D), key (B, S, H, D),
// value (B, S, H, Dv), output (B, T, H, Dv) (MultiHeadAttention's projections write it directly). For batch b, head h
// and query t:
//   x_ts = scale * q_t . k_s + bias(b, h, t, s)        over the keys s the mask allows (and s <= t when causal)
//   p_ts = softmax over those s;  out_t = sum_s p_ts v_s;  a query no key may attend gives zeros (as Keras).
// Dropout (training): p_ts is kept with probability 1 - rate and scaled by 1 / (1 - rate), the decision a hash of
// (seed, b, h, t, s), so backward sees the same decisions without storing them.
//
// The fast path works on one (b, h) and a block of queries at a time: the block's scores against every key
// (a rows x S slice in per-thread scratch, never the (B, H, T, S) tensor), a row softmax, and the weighted sum, as
// GEMMs; backward recomputes the probabilities from the saved log-sum-exp of each row. (b, h) pairs are spread over
// the threads and each is computed whole by one thread in a fixed order: results never depend on the thread count.
#include <cstdint>

namespace nncore::kernels {

struct AttentionArgs {
  int64_t B = 0, T = 0, S = 0, H = 0, D = 0, Dv = 0;
  float scale = 1.f;
  // mask(b, h, t, s) = mask[b*ms[0] + h*ms[1] + t*ms[2] + s*ms[3]] != 0 (stride 0: broadcast); null: all allowed.
  const float* mask = nullptr;
  int64_t mask_stride[4] = {0, 0, 0, 0};
  // An additive bias on the scores, addressed the same way; null: none.
  const float* bias = nullptr;
  int64_t bias_stride[4] = {0, 0, 0, 0};
  bool causal = false;  // key s is visible to query t only when s <= t (Keras's lower-triangular mask)
  float dropout = 0.f;
  uint64_t seed = 0;
};

// out (B, T, H, Dv); lse (B, H, T): each row's log-sum-exp of its allowed scores (-inf for a row with none), what
// backward needs; probs (B, H, T, S) or null: the probabilities before dropout (return_attention_scores).
void attention_forward(const AttentionArgs& a, const float* q, const float* k, const float* v, float* out,
                       float* lse, float* probs);
// dq, dk, dv (the shapes of q, k, v) are overwritten with the gradients of sum(dout * out).
void attention_backward(const AttentionArgs& a, const float* q, const float* k, const float* v, const float* lse,
                        const float* dout, float* dq, float* dk, float* dv);

// Plain loops, one query row at a time: the test oracle.
void attention_forward_ref(const AttentionArgs& a, const float* q, const float* k, const float* v, float* out,
                           float* lse, float* probs);
void attention_backward_ref(const AttentionArgs& a, const float* q, const float* k, const float* v,
                            const float* lse, const float* dout, float* dq, float* dk, float* dv);

}  // namespace nncore::kernels
