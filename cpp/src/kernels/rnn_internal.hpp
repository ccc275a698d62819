#pragma once
// Recurrent-cell internals shared by rnn.cpp (the sequence loop, GEMMs, masks, threads) and the per-ISA row
// kernels. A row kernel runs one batch row of one time step, vectorized over the U units; gate blocks of U
// floats sit side by side in Keras's order. dy, when not null, is the gradient of this step's output, which is
// the new state h: the kernels add it to dh. On return dh holds the part of the gradient that goes to h_prev
// directly (GRU: z * dh; zero for the others); rnn.cpp adds the part through the recurrent kernel.
#include <cstdint>

#include "kernels/kernels.hpp"

namespace nncore::kernels {

struct RnnRowKernels {
  // g (4U): pre-activations in, activations out (sigmoid i, f, o; tanh c~). c = f*c_prev + i*c~; h = o*tanh(c).
  // c_prev null: zeros.
  void (*lstm_forward)(int64_t U, float* g, const float* c_prev, float* c, float* h);
  // dc: in, the gradient of c from the step after; out, that of c_prev. dg (4U): of the pre-activations.
  void (*lstm_backward)(int64_t U, const float* g, const float* c, const float* c_prev, float* dh, const float* dy,
                        float* dc, float* dg);
  // p (3U): input projection x W + b in, activations z, r, hh out; rec (3U): h_prev U + b_rec.
  // z = sig(p_z + rec_z), r = sig(p_r + rec_r), hh = tanh(p_h + r*rec_h), h = z*h_prev + (1-z)*hh.
  void (*gru_forward)(int64_t U, float* p, const float* rec, const float* h_prev, float* h);
  // dp (3U): gradient of the input projection; drec (3U): of the recurrent projection.
  void (*gru_backward)(int64_t U, const float* p, const float* rec, const float* h_prev, float* dh, const float* dy,
                       float* dp, float* drec);
  // p (U): pre-activation in, h = act(p) out (kept for backward); h receives a copy.
  void (*simple_forward)(Act act, int64_t U, float* p, float* h);
  void (*simple_backward)(Act act, int64_t U, const float* p, float* dh, const float* dy, float* dp);
  const char* name;
};

extern const RnnRowKernels rnn_rows_generic;  // defined in rnn.cpp
#if defined(NNCORE_X86)
extern const RnnRowKernels rnn_rows_avx2;
extern const RnnRowKernels rnn_rows_avx512;
#endif

}  // namespace nncore::kernels
