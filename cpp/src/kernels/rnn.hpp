#pragma once
// Recurrent layers over whole sequences: SimpleRNN, LSTM and GRU (Keras's reset_after=True form).
// Sequences are batch-major (B, T, features). Gate blocks sit side by side in Keras's order: LSTM i, f, c, o
// (G = 4), GRU z, r, h (G = 3), SimpleRNN one block (G = 1); kernel is (I, G*U), recurrent kernel (U, G*U).
//   forward:  one GEMM projects all B*T input rows at once (P = x W + b); then per step one GEMM on the state
//             (P_t += h_{t-1} U, or for the GRU R_t = h_{t-1} U + b_rec) and one fused row pass for all gates.
//   backward: per step one fused row pass (gate gradients dG_t) and one GEMM dh_{t-1} = dG_t U^T; the weight
//             gradients afterwards as three large GEMMs over all B*T rows: dW += x^T dG, dU += H_prev^T dG,
//             dx = dG W^T, and db += column sums of dG.
// Every per-step array that backward reads is indexed by input time t_in (go_backwards processes step s at
// t_in = T-1-s), so that row (b, t_in) of x, of the gates and of the state entering the step line up for the
// large GEMMs. Outputs y are indexed by step s, as Keras returns them (reversed when go_backwards).
// Masks (B, T) of 0/1 floats (indexed by input time): at a masked step the state is carried over unchanged and
// the output is the previous state, or zero with zero_masked_output (what Bidirectional asks for, as Keras).
#include <cstdint>

#include "kernels/kernels.hpp"

namespace nncore::kernels {

enum class RnnCell { simple, lstm, gru };

struct RnnSpec {
  RnnCell cell = RnnCell::lstm;
  Act act = Act::tanh;  // SimpleRNN only: linear, relu, sigmoid or tanh
  int64_t B = 0, T = 0, I = 0, U = 0;
  bool go_backwards = false;
  bool return_sequences = true;
  bool zero_masked_output = false;
  int64_t gates() const { return cell == RnnCell::lstm ? 4 : cell == RnnCell::gru ? 3 : 1; }
};

struct RnnWeights {
  const float* kernel;          // (I, G*U)
  const float* recurrent;       // (U, G*U)
  const float* bias;            // (G*U) or null
  const float* recurrent_bias;  // GRU: (G*U) or null
  // An int8-quantized layer (forward only, not the reference): the kernels packed for the int8 GEMM and their
  // per-column scales; the projections then run as gemm_q8 (inputs and states quantized per row).
  const Int8PackedB* kernel_q = nullptr;
  const float* kernel_scale = nullptr;
  const Int8PackedB* recurrent_q = nullptr;
  const float* recurrent_scale = nullptr;
};

// Inputs, outputs and what forward saves for backward. Pointers marked "or null" may be null.
struct RnnData {
  const float* x;               // (B, T, I)
  const float* mask;            // (B, T), or null
  const float* h0;              // (B, U) initial state, or null (zeros)
  const float* c0;              // (B, U) LSTM initial cell state, or null (zeros)
  const float* recurrent_mask;  // (B, U) recurrent dropout mask multiplying the state fed to the recurrent GEMM,
                                // or null
  float* y;                     // (B, T, U) when return_sequences, else (B, U)
  float* h_last;                // (B, U) final state
  float* c_last;                // (B, U) LSTM final cell state (unused otherwise)
  // saved, indexed by input time:
  float* gates;   // (B, T, G*U) gate activations
  float* hprev;   // (B, T, U) state entering each step
  float* hdrop;   // (B, T, U) hprev * recurrent_mask (what the recurrent GEMM saw); unused without that mask
  float* c;       // (B, T, U) LSTM cell state after each step
  float* rec;     // (B, T, G*U) GRU recurrent projection h_prev U + b_rec
};

// Gradients: weight gradients accumulate (+=), null skips them (frozen layer); dx is overwritten or null.
struct RnnGrads {
  const float* dy;       // like y
  const float* dh_last;  // (B, U) gradient of the final state, or null
  const float* dc_last;  // (B, U) LSTM: of the final cell state, or null
  float* dx;             // (B, T, I), or null
  float* dkernel;
  float* drecurrent;
  float* dbias;
  float* drecurrent_bias;
  // workspace; on return dh and dc hold the gradients of h0 and c0
  float* dgates;  // (B, T, G*U) gradient of the gate pre-activations (GRU: of the input projection)
  float* drec;    // (B, T, G*U) GRU: of the recurrent projection
  float* dh;      // (B, U)
  float* dc;      // (B, U) LSTM
  float* tmp;     // (B, U), used with a recurrent mask
};

void rnn_forward(const RnnSpec& s, const RnnWeights& w, const RnnData& d);
void rnn_backward(const RnnSpec& s, const RnnWeights& w, const RnnData& d, const RnnGrads& g);
// Plain loops, step by step, with scalar math and the reference GEMM (test oracle); same contracts.
void rnn_forward_ref(const RnnSpec& s, const RnnWeights& w, const RnnData& d);
void rnn_backward_ref(const RnnSpec& s, const RnnWeights& w, const RnnData& d, const RnnGrads& g);

// Bidirectional merge of the forward output yf and backward output yb, both (B, T, U) (or (B, U) when T == 1):
// the backward output is reversed in time first (its step s is input time T-1-s), then
// concat: out (B, T, 2U) = [yf, yb]; sum: yf + yb; mul: yf * yb; ave: (yf + yb) / 2.
enum class MergeMode { concat, sum, mul, ave };
void bidirectional_merge(float* out, const float* yf, const float* yb, int64_t B, int64_t T, int64_t U, MergeMode m);
// Its backward: dyf, dyb (overwritten) from dout.
void bidirectional_merge_backward(float* dyf, float* dyb, const float* dout, const float* yf, const float* yb,
                                  int64_t B, int64_t T, int64_t U, MergeMode m);

}  // namespace nncore::kernels
