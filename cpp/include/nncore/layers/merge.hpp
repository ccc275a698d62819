#pragma once
// Merge layers of the functional API: they take several inputs of one shape (Concatenate: equal but for the
// axis) and combine them. Called through nncore::call(layer, {a, b, ...}) or Python's layer([a, b]).
#include <vector>

#include "nncore/layers/layer.hpp"

namespace nncore {

class MergeLayer : public Layer {
 public:
  // Builds for the per-sample shapes of every input (at least two).
  void build_merge(const std::vector<Shape>& shapes);
  const std::vector<Shape>& input_shapes() const { return input_shapes_; }
  virtual const Tensor& forward_multi(const std::vector<const Tensor*>& xs, bool training) = 0;
  // Gradients for every input (layer-owned; empty tensors when need_dx is false).
  virtual const std::vector<Tensor>& backward_multi(const Tensor& dy, bool need_dx) = 0;

  // A merge layer needs a list of inputs: the single-input forms throw.
  const Tensor& forward(const Tensor& x, bool training) override;
  const Tensor& backward(const Tensor& dy, bool need_dx) override;

 protected:
  explicit MergeLayer(std::string name) : Layer(std::move(name)) {}
  Shape do_build(const Shape& input_shape) override;
  virtual Shape merge_shape(const std::vector<Shape>& shapes) const = 0;
  // Checks xs against the built shapes (count, per-sample shapes, equal batch), naming this layer.
  void check_inputs(const std::vector<const Tensor*>& xs);

  std::vector<Shape> input_shapes_;
  std::vector<Tensor> xs_;   // shallow copies of the last forward's inputs
  std::vector<Tensor> dxs_;  // per-input gradients
};

// Elementwise merges of equal-shaped inputs: sum, difference (exactly two inputs), product, mean.
class ElementwiseMerge : public MergeLayer {
 public:
  enum class Op { add, subtract, multiply, average };
  Json config() const override;
  std::string class_name() const override;
  const Tensor& forward_multi(const std::vector<const Tensor*>& xs, bool training) override;
  const std::vector<Tensor>& backward_multi(const Tensor& dy, bool need_dx) override;

 protected:
  ElementwiseMerge(Op op, const std::string& name);
  Shape merge_shape(const std::vector<Shape>& shapes) const override;

 private:
  Op op_;
};

class Add : public ElementwiseMerge {
 public:
  explicit Add(const std::string& name = "") : ElementwiseMerge(Op::add, name) {}
  static LayerPtr from_config(const Json& config);
};

class Subtract : public ElementwiseMerge {
 public:
  explicit Subtract(const std::string& name = "") : ElementwiseMerge(Op::subtract, name) {}
  static LayerPtr from_config(const Json& config);
};

class Multiply : public ElementwiseMerge {
 public:
  explicit Multiply(const std::string& name = "") : ElementwiseMerge(Op::multiply, name) {}
  static LayerPtr from_config(const Json& config);
};

class Average : public ElementwiseMerge {
 public:
  explicit Average(const std::string& name = "") : ElementwiseMerge(Op::average, name) {}
  static LayerPtr from_config(const Json& config);
};

// Joins the inputs along `axis` (per-sample axes count from the batch axis as in Keras: -1 is the last; 0, the
// batch axis, is not allowed); the other axes must agree.
class Concatenate : public MergeLayer {
 public:
  explicit Concatenate(int64_t axis = -1, const std::string& name = "");
  std::string class_name() const override { return "Concatenate"; }
  Json config() const override;
  static LayerPtr from_config(const Json& config);
  int64_t axis() const { return axis_; }
  const Tensor& forward_multi(const std::vector<const Tensor*>& xs, bool training) override;
  const std::vector<Tensor>& backward_multi(const Tensor& dy, bool need_dx) override;

 protected:
  Shape merge_shape(const std::vector<Shape>& shapes) const override;

 private:
  int64_t axis_;
  int64_t per_sample_axis(size_t rank) const;  // the axis within a per-sample shape of `rank` dims
  // Rows of the concatenation: outer = product of dims before the axis (batch included), widths = each input's
  // extent times the inner size.
  void geometry(int64_t batch, int64_t& outer, std::vector<int64_t>& widths) const;
};

}  // namespace nncore
