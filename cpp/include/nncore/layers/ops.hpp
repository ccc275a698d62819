#pragma once
// Ops on symbolic tensors (nncore.ops, Keras 3's keras.ops) as graph nodes: a call of ops.add(x, y), x @ w or
// x[:, 0] on KerasTensors adds one of these layers to the graph, so the op runs forward and backward in C++ in
// the training loop. Tensors keep their batch axis first; axes count from it (Keras's numbering), and the batch
// axis itself may not be reduced, moved or sliced.
//
// An operand is a call input (a graph tensor), one of the op's weights (a constant array, or a variable that a
// custom layer owns and the op shares: no batch axis, broadcast as numpy does), or a number.
#include <vector>

#include "nncore/layers/layer.hpp"

namespace nncore {

struct OpOperand {
  enum class Kind { input, weight, scalar };
  Kind kind = Kind::input;
  int64_t index = 0;  // the input's position among the call's inputs, or the weight's among params()
  float value = 0.f;  // a scalar's value
  static OpOperand input(int64_t i) { return {Kind::input, i, 0.f}; }
  static OpOperand weight(int64_t i) { return {Kind::weight, i, 0.f}; }
  static OpOperand scalar(float v) { return {Kind::scalar, 0, v}; }
};

// What every op layer shares: operands, weights given by shape (filled from a model file or set_weights, or shared
// with a custom layer's variables), and the config that records them.
class OpLayer : public Layer {
 public:
  bool rows_independent() const override { return false; }  // an op may reduce, slice or move the batch axis
  // The op's weights: name, shape, trainable. Created at build (zeros) unless bound to a shared Param first.
  struct WeightSpec {
    std::string name;
    Shape shape;
    bool trainable = false;
    std::string variable;  // a custom layer's variable this weight shares (bound when built), or ""
  };
  const std::vector<OpOperand>& operands() const { return operands_; }
  const std::string& op() const { return op_; }
  // Makes weight i share `p`'s value and gradient storage (a custom layer's variable); before build.
  void share_weight(size_t i, const Param& p);
  Json config() const override;

 protected:
  OpLayer(const std::string& name, const std::string& cls, std::string op, std::vector<OpOperand> operands,
          std::vector<WeightSpec> weights);
  // Creates the weights (or binds the shared ones); call from build_shapes.
  void make_weights();
  // The full shape (batch first) of operand k in a call.
  Shape operand_shape(const LayerCall& call, const OpOperand& k, int64_t batch) const;
  // Its data in a call (inputs, weights, or the scalar's cell in `scalars`).
  const float* operand_data(const LayerCall& call, const OpOperand& k) const;
  // The number of input operands.
  size_t num_tensor_inputs() const;
  // Reads the shared part of a config.
  static std::vector<OpOperand> operands_from_config(const Json& c);
  static std::vector<WeightSpec> weights_from_config(const Json& c);
  std::string op_;
  std::vector<OpOperand> operands_;
  std::vector<WeightSpec> weight_specs_;
  std::vector<Param> shared_;  // per weight: a Param to share (value empty: none)
  std::vector<float> scalars_;  // per operand: the scalar's value (read as a 1-element tensor)
};

// a op b with numpy broadcasting: add, subtract, multiply, divide, maximum, minimum, power.
class BinaryOpLayer : public OpLayer {
 public:
  BinaryOpLayer(const std::string& op, OpOperand a, OpOperand b, std::vector<WeightSpec> weights = {},
                const std::string& name = "");
  std::string class_name() const override { return "BinaryOp"; }
  static LayerPtr from_config(const Json& config);

 protected:
  struct Call;
  std::unique_ptr<LayerCall> new_call() const override;
  std::vector<Shape> build_shapes(const std::vector<Shape>& input_shapes) override;
  std::vector<Shape> call_shapes(const std::vector<Shape>& input_shapes) const override;
  void forward_list(LayerCall& call, bool training) override;
  void backward_list(LayerCall& call, const std::vector<const Tensor*>& dys, bool need_dx) override;

 private:
  std::vector<Shape> shapes_for(const std::vector<Shape>& in) const;
  int kind_;
};

// f(x) elementwise: negative, exp, log, sqrt, square, abs, tanh, sigmoid, relu, gelu, erf, sin, cos, softplus,
// reciprocal, sign, clip (lo, hi); and over the last axis softmax, log_softmax.
class UnaryOpLayer : public OpLayer {
 public:
  UnaryOpLayer(const std::string& op, float lo = 0.f, float hi = 0.f, const std::string& name = "");
  std::string class_name() const override { return "UnaryOp"; }
  Json config() const override;
  static LayerPtr from_config(const Json& config);

 protected:
  Shape do_build(const Shape& input_shape) override { return input_shape; }
  const Tensor& forward_one(LayerCall& call, const Tensor& x, bool training) override;
  const Tensor& backward_one(LayerCall& call, const Tensor& dy, bool need_dx) override;

 private:
  int kind_;  // a kernels::UnaryOp, or -1 softmax, -2 log_softmax
  float lo_, hi_;
};

// a @ b: a (batch, ..., M, K) or (batch, K) with b a weight (K, N) (as Dense), or both graph tensors of the same
// rank (batch, ..., M, K) @ (batch, ..., K, N) (as attention's scores).
class MatMulOpLayer : public OpLayer {
 public:
  MatMulOpLayer(OpOperand a, OpOperand b, std::vector<WeightSpec> weights = {}, const std::string& name = "");
  std::string class_name() const override { return "MatMulOp"; }
  static LayerPtr from_config(const Json& config);

 protected:
  struct Call : LayerCall {
    Tensor db;  // the second input's gradient (two graph tensors)
  };
  std::unique_ptr<LayerCall> new_call() const override { return std::make_unique<Call>(); }
  std::vector<Shape> build_shapes(const std::vector<Shape>& input_shapes) override;
  std::vector<Shape> call_shapes(const std::vector<Shape>& input_shapes) const override;
  void forward_list(LayerCall& call, bool training) override;
  void backward_list(LayerCall& call, const std::vector<const Tensor*>& dys, bool need_dx) override;

 private:
  std::vector<Shape> shapes_for(const std::vector<Shape>& in) const;
};

// sum, mean, max, min over axes (Keras numbering: 1 is the first per-sample axis; negative from the end; the
// batch axis 0 may not be reduced), keeping them as length 1 with keepdims.
class ReduceOpLayer : public OpLayer {
 public:
  ReduceOpLayer(const std::string& op, std::vector<int64_t> axes, bool keepdims, const std::string& name = "");
  std::string class_name() const override { return "ReduceOp"; }
  Json config() const override;
  static LayerPtr from_config(const Json& config);

 protected:
  struct Call : LayerCall {
    std::vector<int64_t> arg;
    std::vector<int64_t> dims;
  };
  std::unique_ptr<LayerCall> new_call() const override { return std::make_unique<Call>(); }
  Shape do_build(const Shape& input_shape) override;
  Shape infer_shape(const Shape& in) const override;
  const Tensor& forward_one(LayerCall& call, const Tensor& x, bool training) override;
  const Tensor& backward_one(LayerCall& call, const Tensor& dy, bool need_dx) override;

 private:
  int kind_;
  std::vector<int64_t> axes_;
  bool keepdims_;
  std::vector<char> reduce_;  // per full axis (batch first)
};

// Permutes the axes; perm[0] must be 0 (the batch axis stays first).
class TransposeOpLayer : public OpLayer {
 public:
  explicit TransposeOpLayer(std::vector<int64_t> perm, const std::string& name = "");
  std::string class_name() const override { return "TransposeOp"; }
  Json config() const override;
  static LayerPtr from_config(const Json& config);

 protected:
  Shape do_build(const Shape& input_shape) override;
  Shape infer_shape(const Shape& in) const override;
  const Tensor& forward_one(LayerCall& call, const Tensor& x, bool training) override;
  const Tensor& backward_one(LayerCall& call, const Tensor& dy, bool need_dx) override;

 private:
  std::vector<int64_t> perm_, inverse_;
};

// x[:, s1, s2, ...]: per per-sample axis a Python slice (start, stop, step; stop may be "none") or an integer
// index (the axis is dropped). Missing trailing axes are taken whole.
class SliceOpLayer : public OpLayer {
 public:
  struct AxisSlice {
    bool index = false;                   // an integer: pick one position and drop the axis
    int64_t start = 0, stop = 0, step = 1;
    bool has_start = false, has_stop = false;
  };
  explicit SliceOpLayer(std::vector<AxisSlice> slices, const std::string& name = "");
  std::string class_name() const override { return "SliceOp"; }
  Json config() const override;
  static LayerPtr from_config(const Json& config);

 protected:
  // Start, step and count along every axis (the batch axis first, taken whole), and the per-sample output.
  struct Plan {
    std::vector<int64_t> start, step, count;
    Shape out;
  };
  struct Call : LayerCall {
    Plan plan;          // for plan_shape, made again when the input's lengths change
    Shape plan_shape;
    bool planned = false;
  };
  std::unique_ptr<LayerCall> new_call() const override { return std::make_unique<Call>(); }
  Shape do_build(const Shape& input_shape) override;
  Shape infer_shape(const Shape& in) const override;
  const Tensor& forward_one(LayerCall& call, const Tensor& x, bool training) override;
  const Tensor& backward_one(LayerCall& call, const Tensor& dy, bool need_dx) override;

 private:
  void plan(const Shape& in, Plan& p) const;
  const Plan& plan_of(LayerCall& call, int64_t batch) const;
  std::vector<AxisSlice> slices_;
};

// keras.random in a graph, fresh draws at every step (from the layer's seed, so set_random_seed reproduces them):
// "dropout" (inverted, rate; the gradient flows through the kept entries) on its input; "normal" (mean, stddev) and
// "uniform" (minval, maxval) of per-sample `shape`, with the batch size of its input (which gets no gradient).
class RandomOpLayer : public OpLayer {
 public:
  RandomOpLayer(const std::string& op, float a, float b, Shape shape = {}, const std::string& name = "");
  std::string class_name() const override { return "RandomOp"; }
  Json config() const override;
  static LayerPtr from_config(const Json& config);

 protected:
  struct Call : LayerCall {
    Tensor mask;
  };
  std::unique_ptr<LayerCall> new_call() const override { return std::make_unique<Call>(); }
  Shape do_build(const Shape& input_shape) override;
  Shape infer_shape(const Shape& in) const override;
  const Tensor& forward_one(LayerCall& call, const Tensor& x, bool training) override;
  const Tensor& backward_one(LayerCall& call, const Tensor& dy, bool need_dx) override;

 private:
  float a_, b_;
  Shape shape_;
  uint64_t step_ = 0;
};

}  // namespace nncore
