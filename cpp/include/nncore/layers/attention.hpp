#pragma once
// Attention as graph nodes. DotProductAttentionOp is Keras 3's ops.dot_product_attention(query, key, value, bias,
// mask, scale, is_causal) on (batch, T, heads, D) tensors, computed by the fused kernel of kernels/attention.hpp
// (forward and backward, never holding the (batch, heads, T, S) probabilities). MultiHeadAttention is Keras 3's
// layer with its weight layout, on the same kernel.
#include <random>
#include <vector>

#include "nncore/initializers.hpp"
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

// Keras 3's MultiHeadAttention on rank-3 inputs (attention over the sequence axis). Inputs: query (B, T, dq), value
// (B, S, dv), key (B, S, dk) (the Python layer passes the value again when no key is given), and optionally
// attention_mask (B, T, S) (non-zero: may attend). The masks of query, value and key that arrive with them
// (Embedding(mask_zero=True), Masking) are combined as Keras does: query t may attend key s when both are unmasked
// (and s <= t with use_causal_mask). Weights in Keras's order and shapes: query/key/value kernels (d, heads,
// key_dim or value_dim) and biases (heads, dim), output kernel (heads, value_dim, d_out) and bias (d_out). Outputs:
// (B, T, d_out), and with return_attention_scores also the probabilities (B, heads, T, S) (before dropout).
class MultiHeadAttention : public Layer {
 public:
  struct Options {
    int64_t num_heads = 1;
    int64_t key_dim = 0;
    int64_t value_dim = 0;   // 0: key_dim
    float dropout = 0.f;     // on the attention probabilities, in training
    bool use_bias = true;
    int64_t output_dim = 0;  // 0: the query's last axis
    Initializer kernel_initializer = "glorot_uniform";
    Initializer bias_initializer = "zeros";
    int64_t seed = -1;       // < 0: from the global seed stream
  };
  explicit MultiHeadAttention(const Options& options, const std::string& name = "");
  std::string class_name() const override { return "MultiHeadAttention"; }
  Json config() const override;
  static LayerPtr from_config(const Json& config);
  const Options& options() const { return o_; }
  // Keras's call arguments use_causal_mask and return_attention_scores, fixed for the layer (set before its first
  // call; a later call with others is refused by the Python layer).
  void set_call_options(bool causal, bool return_scores);
  bool causal() const { return causal_; }
  bool return_scores() const { return return_scores_; }

 protected:
  struct Call : LayerCall {
    Tensor q, k, v, o, lse, probs, mask, dq, dk, dv, dout, dvalue, dkey;
    uint64_t seed = 0;
    float dropout = 0.f;  // the rate the last forward used (0 in inference)
  };
  std::unique_ptr<LayerCall> new_call() const override { return std::make_unique<Call>(); }
  std::vector<Shape> build_shapes(const std::vector<Shape>& input_shapes) override;
  std::vector<Shape> call_shapes(const std::vector<Shape>& input_shapes) const override;
  void forward_list(LayerCall& call, bool training) override;
  void backward_list(LayerCall& call, const std::vector<const Tensor*>& dys, bool need_dx) override;

 private:
  std::vector<Shape> shapes_for(const std::vector<Shape>& in) const;
  // The combined mask of a call into `options` (a view of an input, or call.mask), or none.
  void call_mask(Call& call, AttentionOptions& options) const;
  int64_t value_dim() const { return o_.value_dim > 0 ? o_.value_dim : o_.key_dim; }
  Options o_;
  bool causal_ = false, return_scores_ = false;
  uint64_t step_ = 0;
};

}  // namespace nncore
