// Adam's and AMSGrad's loops (optim_body.hpp) compiled with AVX-512: 16-float registers. Everything here has internal linkage but
// the descriptor.
#include <cstdint>

#include "kernels/optim_internal.hpp"

namespace nncore::kernels {

namespace {
#include "kernels/optim_body.hpp"
}  // namespace

const AdamLoops adam_loops_avx512 = {adam_range, amsgrad_range};

}  // namespace nncore::kernels
