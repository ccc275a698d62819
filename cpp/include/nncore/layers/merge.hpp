#pragma once
// Merge layers of the functional API: they take several inputs of one shape (Concatenate: equal but for the
// axis) and combine them into one output. Called through nncore::call(layer, {a, b, ...}) or Python's
// layer([a, b]); they implement the list form of the layer contract (layer.hpp).
#include <array>
#include <cstdint>
#include <vector>

#include "nncore/layers/layer.hpp"

namespace nncore {

class MergeLayer : public Layer {
 protected:
  explicit MergeLayer(std::string name) : Layer(std::move(name)) {}
  struct Call : LayerCall {
    std::vector<Tensor> dx;  // per-input gradients
  };
  std::unique_ptr<LayerCall> new_call() const override { return std::make_unique<Call>(); }
  // At least two inputs, each of positive dimensions; the output shape from merge_shape.
  std::vector<Shape> build_shapes(const std::vector<Shape>& input_shapes) override;
  std::vector<Shape> call_shapes(const std::vector<Shape>& input_shapes) const override;
  virtual Shape merge_shape(const std::vector<Shape>& shapes) const = 0;
};

// Elementwise merges of equal-shaped inputs: sum, difference (exactly two inputs), product, mean, maximum, minimum.
// Maximum and minimum pass the gradient to the input that was chosen, the first one on ties (TensorFlow's rule).
class ElementwiseMerge : public MergeLayer {
 public:
  enum class Op { add, subtract, multiply, average, maximum, minimum };
  Json config() const override;
  std::string class_name() const override;

 protected:
  ElementwiseMerge(Op op, const std::string& name);
  struct Call : MergeLayer::Call {
    std::vector<int32_t> chosen;            // maximum/minimum: the input each output element came from
    std::vector<const float*> xs;           // the inputs' data, for the kernel
  };
  std::unique_ptr<LayerCall> new_call() const override { return std::make_unique<Call>(); }
  Shape merge_shape(const std::vector<Shape>& shapes) const override;
  void forward_list(LayerCall& call, bool training) override;
  void backward_list(LayerCall& call, const std::vector<const Tensor*>& dys, bool need_dx) override;

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

class Maximum : public ElementwiseMerge {
 public:
  explicit Maximum(const std::string& name = "") : ElementwiseMerge(Op::maximum, name) {}
  static LayerPtr from_config(const Json& config);
};

class Minimum : public ElementwiseMerge {
 public:
  explicit Minimum(const std::string& name = "") : ElementwiseMerge(Op::minimum, name) {}
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

 protected:
  Shape merge_shape(const std::vector<Shape>& shapes) const override;
  void forward_list(LayerCall& call, bool training) override;
  void backward_list(LayerCall& call, const std::vector<const Tensor*>& dys, bool need_dx) override;

 private:
  int64_t axis_;
  int64_t per_sample_axis(size_t rank) const;  // the axis within a per-sample shape of `rank` dims
  // Rows of the concatenation: outer = product of dims before the axis (batch included), widths = each input's
  // extent times the inner size.
  void geometry(const LayerCall& call, int64_t batch, int64_t& outer, std::vector<int64_t>& widths) const;
};

// Keras's Dot: the batchwise dot product of exactly two inputs along one axis of each, axes (a1, a2) counted as in
// Keras (the batch axis is 0, so per-sample axes are 1..rank; negative counts from the end; one int serves both
// inputs). The output is x1's remaining axes followed by x2's, or (1,) when none remain (two vectors):
//   y[b, i..., j...] = sum_k x1[b, i... with k at a1] * x2[b, j... with k at a2]
// normalize L2-normalizes each input along its axis first (the cosine proximity), as Keras's ops.normalize:
// x * min(1 / ||x||, 1 / 1e-7). Drops the mask (as Keras).
class Dot : public MergeLayer {
 public:
  Dot(std::array<int64_t, 2> axes, bool normalize = false, const std::string& name = "");
  // One axis for both inputs (Keras's axes=int; the config keeps the int form).
  Dot(int64_t axes, bool normalize = false, const std::string& name = "");
  std::string class_name() const override { return "Dot"; }
  Json config() const override;
  static LayerPtr from_config(const Json& config);
  std::array<int64_t, 2> axes() const { return axes_; }
  bool single_axis() const { return single_; }
  bool normalize() const { return normalize_; }
  const Tensor* output_mask(const LayerCall&, size_t) const override { return nullptr; }

 protected:
  struct Call : MergeLayer::Call {
    Tensor n[2], inv[2];   // normalize: the normalized inputs and their inverse norms
    Tensor perm[2];        // an input with its axis moved (only when the axis is neither first nor last per sample)
    Tensor dop[2];         // the gradients of the matmul operands, before undoing the move and the normalization
  };
  std::unique_ptr<LayerCall> new_call() const override { return std::make_unique<Call>(); }
  Shape merge_shape(const std::vector<Shape>& shapes) const override;
  void forward_list(LayerCall& call, bool training) override;
  void backward_list(LayerCall& call, const std::vector<const Tensor*>& dys, bool need_dx) override;

 private:
  std::array<int64_t, 2> axes_;
  bool single_, normalize_;
  // How input i of per-sample shape s enters the product (defined in merge.cpp).
  struct Operand;
  Operand operand(size_t i, const Shape& s, int64_t batch) const;
};

}  // namespace nncore
