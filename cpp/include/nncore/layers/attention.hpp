#pragma once
// Attention as graph nodes. DotProductAttentionOp is Keras 3's ops.dot_product_attention(query, key, value, bias,
// mask, scale, is_causal) on (batch, T, heads, D) tensors, computed by the fused kernel of kernels/attention.hpp
// (forward and backward, never holding the (batch, heads, T, S) probabilities).
#include <vector>

#include "nncore/layers/ops.hpp"
#include "nncore/ops.hpp"

namespace nncore {

class DotProductAttentionOp : public OpLayer {
 public:
  // Operands: query, key, value (graph tensors), then optionally the mask (a graph tensor of rank 4 with the batch
  // first, or a constant of rank <= 4; non-zero: may attend) and the bias (a constant added to the scores), both
  // broadcast numpy's way against (batch, heads, T, S). scale <= 0: 1 / sqrt(D).
  DotProductAttentionOp(std::vector<OpOperand> operands, bool has_mask, bool has_bias, float scale, bool causal,
                        std::vector<WeightSpec> weights = {}, const std::string& name = "");
  std::string class_name() const override { return "DotProductAttentionOp"; }
  Json config() const override;
  static LayerPtr from_config(const Json& config);

 protected:
  struct Call : LayerCall {
    Tensor lse, dk, dv;  // each query row's log-sum-exp (batch, heads, T); the key and value gradients
  };
  std::unique_ptr<LayerCall> new_call() const override { return std::make_unique<Call>(); }
  std::vector<Shape> build_shapes(const std::vector<Shape>& input_shapes) override;
  std::vector<Shape> call_shapes(const std::vector<Shape>& input_shapes) const override;
  void forward_list(LayerCall& call, bool training) override;
  void backward_list(LayerCall& call, const std::vector<const Tensor*>& dys, bool need_dx) override;

 private:
  std::vector<Shape> shapes_for(const std::vector<Shape>& in) const;
  void options(const LayerCall& call, AttentionOptions& options, Tensor& mask, Tensor& bias) const;
  bool has_mask_, has_bias_;
  float scale_;
  bool causal_;
};

}  // namespace nncore
