#pragma once
// Sequence layers on (batch, time, features), as in Keras: Embedding, and (below) the 1-D convolution and pooling
// layers and TimeDistributed. The recurrent layers live in their own header.
#include "nncore/layers/layer.hpp"

namespace nncore {

// y[..., :] = embeddings[x[...], :]: integer ids (held in float32, exact up to 2^24) of any per-sample shape S
// -> (S..., output_dim); embeddings (input_dim, output_dim). Ids that are not integers in [0, input_dim) are an
// error naming the layer and the id. With mask_zero, id 0 marks padding: output_mask() is (batch, S...) with 0
// where the id is 0 and 1 elsewhere. Ids are not differentiable: asked for an input gradient (only when the
// layer is not first), it returns zeros.
class Embedding : public Layer {
 public:
  Embedding(int64_t input_dim, int64_t output_dim, const std::string& embeddings_initializer = "uniform",
            bool mask_zero = false, int64_t input_length = 0, const std::string& name = "");
  std::string class_name() const override { return "Embedding"; }
  const Tensor& forward(const Tensor& x, bool training) override;
  const Tensor& backward(const Tensor& dy, bool need_dx = true) override;
  const Tensor* output_mask() const override { return mask_zero_ ? &mask_ : nullptr; }
  int64_t input_dim() const { return input_dim_; }
  int64_t output_dim() const { return output_dim_; }
  bool mask_zero() const { return mask_zero_; }
  int64_t input_length() const { return input_length_; }  // 0: not given
  const std::string& embeddings_initializer() const { return init_; }

 protected:
  Shape do_build(const Shape& input_shape) override;

 private:
  int64_t input_dim_, output_dim_;
  std::string init_;
  bool mask_zero_;
  int64_t input_length_;
  Tensor mask_;
};

}  // namespace nncore
