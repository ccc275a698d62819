#include "nncore/layers/sequence.hpp"

#include "layers/common.hpp"
#include "nncore/check.hpp"
#include "nncore/initializers.hpp"

namespace nncore {

using detail::layer_name;

// ---- Embedding ------------------------------------------------------------------------------------------------
Embedding::Embedding(int64_t input_dim, int64_t output_dim, const std::string& embeddings_initializer,
                     bool mask_zero, int64_t input_length, const std::string& name)
    : Layer(layer_name(name, "Embedding")),
      input_dim_(input_dim),
      output_dim_(output_dim),
      init_(embeddings_initializer),
      mask_zero_(mask_zero),
      input_length_(input_length) {
  const std::string who = "Embedding '" + name_ + "'";
  NNC_CHECK(input_dim >= 1, who, ": input_dim must be >= 1, got ", input_dim);
  NNC_CHECK(output_dim >= 1, who, ": output_dim must be >= 1, got ", output_dim);
  NNC_CHECK(input_length >= 0, who, ": input_length must be >= 1 (or not given), got ", input_length);
  NNC_CHECK(input_dim <= (int64_t{1} << 24), who, ": input_dim must be <= 2^24 (ids travel as float32), got ",
            input_dim);
  check_initializer(embeddings_initializer, who + " embeddings_initializer");
}

Shape Embedding::do_build(const Shape& in) {
  NNC_CHECK(input_length_ == 0 || (!in.empty() && in.back() == input_length_), "Embedding '", name_,
            "': input_length is ", input_length_, " but the input has shape ", shape_str(batch_shape(-1, in)));
  add_weight("embeddings", {input_dim_, output_dim_}, init_, input_dim_, output_dim_);
  Shape out = in;
  out.push_back(output_dim_);
  return out;
}

// x is (B, S...) of ids; y is (B, S..., D).
const Tensor& Embedding::forward(const Tensor& x, bool training) {
  check_input(x);
  input_ = x;
  const int64_t n = x.size(), D = output_dim_;
  const int64_t bad = kernels::embedding_first_invalid(x.data(), n, input_dim_);
  if (bad >= 0) {
    const int64_t per_sample = n / x.dim(0);
    NNC_CHECK(false, "Embedding '", name_, "': ids must be integers in [0, input_dim=", input_dim_, "), got ",
              x.data()[bad], " (sample ", bad / per_sample, ", position ", bad % per_sample, ")");
  }
  output_.resize(batch_shape(x.dim(0), output_shape_));
  if (mask_zero_) mask_.resize(x.shape());
  kernels::embedding_forward(output_.data(), mask_zero_ ? mask_.data() : nullptr, x.data(), params_[0].value.data(),
                             n, D);
  return output_;
}

// Backward of y = E[x]: dE[x[i]] += dy[i] (scatter-add). The ids have no gradient (piecewise constant): zeros.
const Tensor& Embedding::backward(const Tensor& dy, bool need_dx) {
  check_gradient(dy, output_.shape());
  if (trainable_)
    kernels::embedding_backward(params_[0].grad.data(), dy.data(), input_.data(), input_.size(), output_dim_);
  if (!need_dx) {
    dx_.resize({0});
    return dx_;
  }
  dx_.resize(input_.shape());
  dx_.zero();
  return dx_;
}

}  // namespace nncore
