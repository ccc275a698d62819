// AVX2 row kernels of the recurrent cells: rnn_rows_body.hpp over 8-float ymm registers. This TU is compiled with
// -mavx2 -mfma: intrinsics and internal helpers only.
#include <immintrin.h>

#include "kernels/avx2_math.hpp"
#include "kernels/rnn_internal.hpp"

namespace nncore::kernels {

namespace {
#include "kernels/rnn_rows_body.hpp"
using V = avx2::Ymm;
}  // namespace

const RnnRowKernels rnn_rows_avx2 = {lstm_forward<V>,   lstm_backward<V>,   gru_forward<V>, gru_backward<V>,
                                     simple_forward<V>, simple_backward<V>, "avx2"};

}  // namespace nncore::kernels
