// The functional recurrent ops: shape checks, then one RnnRunner forward (and backward) on fresh tensors.
#include "nncore/check.hpp"
#include "nncore/ops.hpp"
#include "ops/rnn_runner.hpp"

namespace nncore {

namespace {

struct Prepared {
  detail::RnnRunner runner;
  kernels::RnnWeights weights{};
  const float* mask = nullptr;
  const float* h0 = nullptr;
  const float* c0 = nullptr;
  const float* recurrent_mask = nullptr;
  int num_states = 1;
};

// Checks every argument against x and the kernel, names the op, and sets up a runner.
void prepare(Prepared& p, const RnnOptions& o, const Tensor& x, const Tensor& kernel, const Tensor& rk,
             const Tensor& bias, const Tensor& mask, const std::vector<Tensor>& states, const Tensor& rmask) {
  const std::string& n = o.cell;
  kernels::RnnSpec& s = p.runner.spec;
  if (n == "lstm") s.cell = kernels::RnnCell::lstm;
  else if (n == "gru") s.cell = kernels::RnnCell::gru;
  else if (n == "simple_rnn") s.cell = kernels::RnnCell::simple;
  else NNC_CHECK(false, "rnn: cell must be one of simple_rnn, lstm, gru; got '", n, "'");
  s.act = s.cell == kernels::RnnCell::simple ? detail::rnn_activation(o.activation, n) : kernels::Act::tanh;
  const int64_t G = s.gates();
  NNC_CHECK(x.ndim() == 3, n, ": expected x of shape (batch, time, features), got ", x.shape_str());
  NNC_CHECK(x.dim(1) >= 1, n, ": expected at least one time step, got x of shape ", x.shape_str());
  NNC_CHECK(kernel.ndim() == 2 && kernel.dim(1) % G == 0 && kernel.dim(1) > 0, n,
            ": expected kernel of shape (features, ", G, " * units), got ", kernel.shape_str());
  const int64_t I = kernel.dim(0), U = kernel.dim(1) / G;
  NNC_CHECK(x.dim(2) == I, n, ": x has ", x.dim(2), " features but the kernel expects ", I, " (kernel ",
            kernel.shape_str(), ")");
  NNC_CHECK(rk.shape() == Shape({U, G * U}), n, ": expected recurrent_kernel of shape (", U, ", ", G * U, "), got ",
            rk.shape_str());
  const Shape bias_shape = s.cell == kernels::RnnCell::gru ? Shape{2, G * U} : Shape{G * U};
  NNC_CHECK(bias.size() == 0 || bias.shape() == bias_shape, n, ": expected bias of shape ", shape_str(bias_shape),
            " (or none), got ", bias.shape_str());
  const int64_t B = x.dim(0), T = x.dim(1);
  NNC_CHECK(mask.size() == 0 || mask.shape() == Shape({B, T}), n, ": expected mask of shape (", B, ", ", T,
            ") (or none), got ", mask.shape_str());
  p.num_states = s.cell == kernels::RnnCell::lstm ? 2 : 1;
  NNC_CHECK(states.empty() || static_cast<int>(states.size()) == p.num_states, n, ": expected ", p.num_states,
            " initial state(s) (or none), got ", states.size());
  for (const Tensor& st : states)
    NNC_CHECK(st.shape() == Shape({B, U}), n, ": expected initial states of shape (", B, ", ", U, "), got ",
              st.shape_str());
  NNC_CHECK(rmask.size() == 0 || rmask.shape() == Shape({B, U}), n, ": expected recurrent_mask of shape (", B, ", ",
            U, ") (or none), got ", rmask.shape_str());
  p.recurrent_mask = rmask.size() > 0 ? rmask.data() : nullptr;
  s.I = I;
  s.U = U;
  s.return_sequences = o.return_sequences;
  s.go_backwards = o.go_backwards;
  s.zero_masked_output = o.zero_output_for_mask;
  const bool has_bias = bias.size() > 0;
  const bool gru = s.cell == kernels::RnnCell::gru;
  p.weights = kernels::RnnWeights{kernel.data(), rk.data(), has_bias ? bias.data() : nullptr,
                                  has_bias && gru ? bias.data() + G * U : nullptr};
  p.mask = mask.size() > 0 ? mask.data() : nullptr;
  p.h0 = states.empty() ? nullptr : states[0].data();
  p.c0 = states.size() > 1 ? states[1].data() : nullptr;
}

}  // namespace

RnnOutputs rnn_forward(const RnnOptions& o, const Tensor& x, const Tensor& kernel, const Tensor& rk,
                       const Tensor& bias, const Tensor& mask, const std::vector<Tensor>& states,
                       const Tensor& rmask) {
  Prepared p;
  prepare(p, o, x, kernel, rk, bias, mask, states, rmask);
  p.runner.forward(x, p.mask, p.h0, p.c0, p.recurrent_mask, p.weights, o.reference);
  RnnOutputs out{p.runner.y, {p.runner.h_last}};
  if (p.num_states == 2) out.states.push_back(p.runner.c_last);
  return out;
}

RnnGradients rnn_backward(const RnnOptions& o, const Tensor& dy, const std::vector<Tensor>& dstates, const Tensor& x,
                          const Tensor& kernel, const Tensor& rk, const Tensor& bias, const Tensor& mask,
                          const std::vector<Tensor>& states, const Tensor& rmask) {
  Prepared p;
  prepare(p, o, x, kernel, rk, bias, mask, states, rmask);
  const std::string& n = o.cell;
  const int64_t B = x.dim(0), T = x.dim(1), U = p.runner.spec.U;
  const Shape y_shape = o.return_sequences ? Shape{B, T, U} : Shape{B, U};
  NNC_CHECK(dy.shape() == y_shape, n, ": expected dy of shape ", shape_str(y_shape), ", got ", dy.shape_str());
  NNC_CHECK(dstates.empty() || static_cast<int>(dstates.size()) == p.num_states, n, ": expected ", p.num_states,
            " state gradient(s) (or none), got ", dstates.size());
  for (const Tensor& d : dstates)
    NNC_CHECK(d.shape() == Shape({B, U}), n, ": expected state gradients of shape (", B, ", ", U, "), got ",
              d.shape_str());
  p.runner.forward(x, p.mask, p.h0, p.c0, p.recurrent_mask, p.weights, o.reference);
  RnnGradients g;
  g.dkernel = Tensor(kernel.shape());
  g.drecurrent_kernel = Tensor(rk.shape());
  g.dbias = Tensor(bias.size() > 0 ? bias.shape() : Shape{0});
  const bool has_bias = bias.size() > 0, gru = p.runner.spec.cell == kernels::RnnCell::gru;
  const int64_t GU = p.runner.spec.gates() * U;
  p.runner.backward(dy, dstates.empty() ? nullptr : dstates[0].data(), dstates.size() > 1 ? dstates[1].data() : nullptr,
                    true, g.dkernel.data(), g.drecurrent_kernel.data(), has_bias ? g.dbias.data() : nullptr,
                    has_bias && gru ? g.dbias.data() + GU : nullptr, p.weights, o.reference);
  g.dx = p.runner.dx;
  g.dinitial_states.push_back(p.runner.dh0);
  if (p.num_states == 2) g.dinitial_states.push_back(p.runner.dc0);
  return g;
}

}  // namespace nncore
