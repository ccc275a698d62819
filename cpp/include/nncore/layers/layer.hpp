#pragma once
// The layer contract, in one place. A layer owns its configuration, its weights and their gradients; what one
// *call* of it owns (the inputs it keeps for backward, its saved activations, its output and input-gradient
// buffers) lives in a LayerCall, so one layer can be called any number of times (shared layers, siamese towers):
// the model keeps one LayerCall per graph node, and every call's backward adds into the one set of gradients.
//
//   build(input_shapes)        the first call's per-sample input shapes (no batch axis), one per input; creates
//                              the weights and fixes output_shapes(). A later call's shapes are checked by
//                              output_shapes_for(), which returns that call's output shapes.
//   new_call()                 a fresh LayerCall (a subclass for layers that save more than the common buffers).
//   forward(call, xs, masks, training)
//                              xs[i] is (batch, *input_shape i); masks[i] its (batch, time) 0/1 mask or null. Fills
//                              call.outputs: pointers into the call's buffers (or to an input, for an identity),
//                              valid until the call's next forward. The inputs' storage must stay alive until
//                              backward (the call keeps shallow copies).
//   backward(call, dys, need_dx)
//                              dys[j] is the gradient of output j (null: nothing reached it, read as zeros).
//                              Accumulates (+=) into the weight gradients when the layer is trainable and fills
//                              call.dxs[i] (null when need_dx is false: the first layer skips that work).
//   backward_from_preact(call, dz, need_dx)
//                              the same for a one-output layer ending in an activation, given the gradient with
//                              respect to its pre-activation: the model fuses softmax/sigmoid with the loss.
//   output_mask(call, j)       the mask that output j carries to the next layer (default: input 0's mask when the
//                              output keeps the time axis).
//
// Most layers take one tensor and return one: they implement do_build(shape), forward_one(call, x, training) and
// backward_one / backward_preact_one, and the base class turns those into the list contract. Layers with several
// inputs or outputs (merges, recurrent layers with return_state or initial_state) implement build_shapes,
// forward_list and backward_list.
//
// Buffers grow on the first batch of a given size and are reused after that: no allocation per step.
//
// Unknown axes. A per-sample shape may hold -1 (None) for an axis whose length is known only when a batch arrives
// (Input(shape=(None, 8)): sequences of any length). A layer builds for such shapes when its weights do not depend
// on that axis (sequence layers on the time axis, Dense on any axis but the last) and raises at build, naming the
// axis, when they do. A call's input_shapes/output_shapes are the concrete shapes of its last forward: forward()
// derives them again (call_shapes) when a batch of other lengths arrives, so kernels read shapes from the call or
// the tensors, never from the built layer. One-tensor layers state their shape rule once, in infer_shape(), which
// do_build's result must agree with (checked at build).
//
// For running a layer by itself (tests, Python's layer.forward(x)), forward(x, training) and backward(dy) use a
// call the layer keeps for that purpose (own_call()).
#include <atomic>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "nncore/activations.hpp"
#include "nncore/initializers.hpp"
#include "nncore/json.hpp"
#include "nncore/tensor.hpp"

namespace nncore {

namespace kernels {
struct Int8PackedB;
}

// Weight penalty added to the training loss: l1 * sum|w| + l2 * sum w^2 (Keras's L1, L2, L1L2), plus Keras's
// OrthogonalRegularizer: orthogonal * mean over pairs i != j of |n_i . n_j|, n_i the rows of a 2-D weight (or its
// columns) scaled to unit length.
struct Regularizer {
  float l1 = 0.f;
  float l2 = 0.f;
  float orthogonal = 0.f;          // OrthogonalRegularizer's factor
  bool orthogonal_columns = false;  // its mode: "columns" (else "rows")
  bool active() const { return l1 != 0.f || l2 != 0.f || orthogonal != 0.f; }
  // Keras's serialized form for an orthogonal penalty, nncore's {"l1": .., "l2": ..} otherwise (both are read).
  Json to_json() const;
  // {"l1", "l2"}, or Keras's {"class_name": "L1" | "L2" | "L1L2" | "OrthogonalRegularizer", "config": {...}}.
  static Regularizer from_json(const Json& j, const std::string& where);
};

class Layer;
class Optimizer;
using LayerPtr = std::shared_ptr<Layer>;

// Inference keeps what it derives from a weight (a Dense kernel packed once for the GEMM) while the weight's
// version is the one it was derived from and no numpy view of the weight is alive. Versions are drawn from one
// counter, so that no two states of any weights share one.
struct WeightWatch {
  std::atomic<uint64_t> version;
  std::atomic<int> views{0};  // numpy views alive (Python's layer.weights): any may be written at any time
  WeightWatch();
};
uint64_t next_weight_version();

struct Param {
  std::string name;
  Tensor value;
  // Shared by the copies of a Param, as its storage is. Whatever writes a trainable weight's `value` calls changed()
  // afterwards: the optimizers, load_weights, the data-parallel broadcasts and a custom layer's variable updates do
  // (Python writes through numpy views, counted); C++ code that writes `value` itself must too, before the next
  // predict. (Statistics that layers update themselves, a BatchNormalization's moving mean, do not: inference keeps
  // nothing derived from them.)
  std::shared_ptr<WeightWatch> watch = std::make_shared<WeightWatch>();
  void changed() { watch->version.store(next_weight_version(), std::memory_order_release); }
  Tensor grad;
  Regularizer regularizer;
  bool trainable = true;
  // An int8 weight of a quantized layer: integers in [-127, 127] held in `value` (exact in float32), saved as I8
  // and handed to Python as an int8 array.
  bool int8 = false;
  // Gradients start each step at zero without a pass over memory: a training step marks them stale instead of
  // clearing them (mark_grad_stale), and the first layer to write one this step either overwrites all of it
  // (grad_beta() returns 0: a GEMM computing the weight gradient with beta 0, which also spares reading the old
  // values) or asks for it cleared (grad_accumulator()); gradients no layer wrote are cleared at the end of the
  // backward pass (settle_grad()). Layers add into `grad` only through these two. The flag is shared by the
  // copies of a Param, as its storage is (wrappers such as Bidirectional hold copies of their halves' weights).
  std::shared_ptr<bool> grad_stale = std::make_shared<bool>(false);
  void mark_grad_stale() { *grad_stale = true; }
  // The gradient to add into: cleared first when stale.
  float* grad_accumulator() {
    settle_grad();
    return grad.data();
  }
  // The beta for a writer that writes every element of the gradient as beta * grad + its contribution: 0 when stale
  // (the old values are garbage), else 1; either way the gradient is current afterwards.
  float grad_beta() {
    const bool stale = *grad_stale;
    *grad_stale = false;
    return stale ? 0.f : 1.f;
  }
  void settle_grad() {
    if (!*grad_stale) return;
    grad.zero();
    *grad_stale = false;
  }
  // Set by a training step whose optimizer can take the step in parts (Optimizer::update_part) on this weight as
  // the optimizer's parameter step_index: a layer that computes the whole gradient in one product (and reads the
  // weight no more this step) may update each finished block of it there, and then sets step_updated.
  Optimizer* step_optimizer = nullptr;
  size_t step_index = 0;
  bool step_updated = false;
};

// A weight that int8 quantization turns into int8 values and a float32 scale (Keras's abs_max_quantize):
// per output column (the last axis) for a GEMM kernel, or per row (the first axis) for an embedding table.
struct Int8Weight {
  std::string name;
  bool per_row = false;
};

// What one call of a layer owns. Layers that save more for backward derive from it (see Layer::new_call).
struct LayerCall {
  virtual ~LayerCall() = default;
  std::vector<Shape> input_shapes, output_shapes;  // this call's per-sample shapes, concrete after a forward
  std::vector<Shape> declared_shapes;              // the input shapes the call was made for (-1: any length)
  std::vector<Tensor> inputs;          // shallow copies of the last forward's inputs, kept for backward
  std::vector<const Tensor*> masks;    // per input: its mask or null (owned upstream, valid until backward)
  std::vector<const Tensor*> outputs;  // per output, after forward
  std::vector<const Tensor*> dxs;      // per input, after backward: its gradient or null
  bool training = false;
  Tensor y, dx, dpre;                  // the buffers most layers need: output 0, input 0's gradient, d(pre-activation)
  std::vector<Tensor> zeros;           // stand-ins for the gradients of outputs that nothing reached
  std::vector<Tensor> own_masks;       // masks copied in by Layer::forward(x, mask, training)
  int64_t batch() const { return inputs.empty() ? 0 : inputs[0].dim(0); }
  bool has_forward() const { return !inputs.empty(); }
};

class Layer {
 public:
  explicit Layer(std::string name);
  virtual ~Layer();
  Layer(const Layer&) = delete;
  Layer& operator=(const Layer&) = delete;

  virtual std::string class_name() const = 0;
  const std::string& name() const { return name_; }

  // The constructor arguments as JSON (Keras names): the base writes name, trainable and each weight's
  // regularizer ("kernel_regularizer": {"l1": .., "l2": ..}); derived classes add theirs. Each class has a
  // static from_config(const Json&) that rebuilds it; layer_from_config (nncore/io.hpp) dispatches on
  // class_name through one table in cpp/src/io/registry.cpp.
  virtual Json config() const;
  // Applies the base part of a config (trainable, regularizers) to a freshly constructed layer.
  void apply_base_config(const Json& config);

  // ---- building -------------------------------------------------------------------------------------------------
  void build(const std::vector<Shape>& input_shapes);
  void build(const Shape& input_shape) { build(std::vector<Shape>{input_shape}); }
  bool built() const { return built_; }
  // The output shapes of a call on inputs of these per-sample shapes; builds the layer on its first call and
  // checks later calls against what it was built for (naming the layer and both shapes).
  std::vector<Shape> output_shapes_for(const std::vector<Shape>& input_shapes);
  const std::vector<Shape>& input_shapes() const { return input_shapes_; }
  const std::vector<Shape>& output_shapes() const { return output_shapes_; }
  const Shape& input_shape() const;   // input 0's, per sample
  const Shape& output_shape() const;  // output 0's, per sample
  size_t num_outputs() const { return output_shapes_.size(); }

  // ---- calls ------------------------------------------------------------------------------------------------
  // A new call of this built layer on inputs of these shapes (checked by output_shapes_for).
  std::unique_ptr<LayerCall> make_call(const std::vector<Shape>& input_shapes);
  void forward(LayerCall& call, const std::vector<const Tensor*>& xs, const std::vector<const Tensor*>& masks,
               bool training);
  void backward(LayerCall& call, const std::vector<const Tensor*>& dys, bool need_dx);
  void backward_from_preact(LayerCall& call, const Tensor& dz, bool need_dx);
  virtual const Tensor* output_mask(const LayerCall& call, size_t output) const;
  // Losses a call added to the training loss (Keras's add_loss, in custom layers), as their value for the batch of
  // its last forward; their gradients are seeded by the layer's own backward.
  virtual double aux_loss(const LayerCall& call) const { return 0.0; }
  // Whether any call of the layer adds such losses (a model may then be compiled without a loss).
  virtual bool adds_losses() const { return false; }

  // At inference, whether each sample's outputs depend on that sample's inputs (and the weights) alone, so that a
  // batch may run in parts (InferenceSession does, to keep activations in cache). True for Keras's layers; false
  // where a call may mix samples (op layers and traced functions, which may reduce or slice the batch axis). A
  // custom C++ layer whose inference call mixes samples must override it to return false.
  virtual bool rows_independent() const { return true; }
  // Floats of working memory a sample needs during an inference call besides the layer's inputs and outputs (a
  // recurrent layer's gate buffers, over the steps), for sizing those parts. in: per-sample input shapes, with -1
  // for a length unknown until the call.
  virtual int64_t inference_scratch_per_sample(const std::vector<Shape>& in) const { return 0; }

  // The activation the layer ends with, and a call's pre-activation (for loss fusion).
  virtual Activation output_activation() const { return Activation::linear; }
  virtual const Tensor& pre_activation(LayerCall& call) const { return *call.outputs.at(0); }
  virtual float activation_alpha() const { return 0.f; }

  // ---- running the layer by itself (one input, on the layer's own call) -------------------------------------
  const Tensor& forward(const Tensor& x, bool training);
  // With a (batch, time) mask for input 0 (copied; null: none).
  const Tensor& forward(const Tensor& x, const Tensor* mask, bool training);
  const Tensor& backward(const Tensor& dy, bool need_dx = true);
  // The list forms on the own call (several inputs or outputs).
  const std::vector<const Tensor*>& forward(const std::vector<const Tensor*>& xs, bool training);
  const std::vector<const Tensor*>& backward(const std::vector<const Tensor*>& dys, bool need_dx = true);
  // The own call (made on first use from the built shapes).
  LayerCall& own_call();

  // ---- weights ----------------------------------------------------------------------------------------------
  std::vector<Param>& params() { return params_; }
  const std::vector<Param>& params() const { return params_; }
  void zero_grad();
  int64_t count_params() const;
  virtual int64_t count_trainable_params() const;
  // Adds the parameters an optimizer updates (those with trainable set, when the layer is trainable) to `out`.
  virtual void collect_trainable(std::vector<Param*>& out);

  bool trainable() const { return trainable_; }
  virtual void set_trainable(bool t);

  // Penalizes weight `weight_name` ("kernel", "bias", ...). Set before or after build; at build, a name the
  // layer does not create is an error.
  void set_regularizer(const std::string& weight_name, Regularizer r);

  // ---- int8 quantization (Keras's layer.quantize("int8")) -----------------------------------------------------
  // The weights a quantizable layer turns into int8 (empty: the layer is not quantizable).
  virtual std::vector<Int8Weight> int8_weights() const { return {}; }
  bool quantizable() const { return !int8_weights().empty(); }
  // Whether Model::quantize quantizes this quantizable layer (layer.quantize() always does).
  virtual bool quantize_by_default() const { return true; }
  bool quantized() const { return quantized_; }
  // Replaces each of int8_weights() by its int8 values ("kernel", int8) and scales ("kernel_scale", float32), as
  // Keras does; the weights are then the layer's other weights in their order, followed by each int8 weight and
  // its scale (Dense: bias, kernel, kernel_scale). Inputs are quantized per row at each call. A quantized layer
  // predicts and evaluates; backward (training) raises. mode must be "int8"; the layer must be built and not
  // quantized yet. Models quantize every quantizable layer they hold (Model::quantize).
  virtual void quantize(const std::string& mode);
  // After the int8 weights were written (load_weights, set_weights): checks them (integers in [-127, 127],
  // finite positive scales; naming the layer and weight) and re-packs the kernels for the int8 GEMM.
  virtual void refresh_quantized();
  // Marks an unbuilt layer to be quantized as it builds (a config whose dtype policy is int8: a quantized model's
  // file); the file's int8 weights replace the ones quantized from the initializers.
  void set_quantize_at_build(bool q) { quantize_at_build_ = q; }

 protected:
  // A fresh call object; layers that save more for backward return their LayerCall subclass.
  virtual std::unique_ptr<LayerCall> new_call() const { return std::make_unique<LayerCall>(); }
  // Output shapes for the first call's input shapes; creates the weights. The default takes one input and calls
  // do_build.
  virtual std::vector<Shape> build_shapes(const std::vector<Shape>& input_shapes);
  // Output shapes of a later call: the default wants the built input shapes exactly.
  virtual std::vector<Shape> call_shapes(const std::vector<Shape>& input_shapes) const;
  virtual Shape do_build(const Shape& input_shape);
  // The output shape of a one-tensor layer for per-sample input shape `in` (which may hold -1 on the axes the
  // layer allows unknown): what do_build returns for the first input, and what a later call on other lengths gets.
  // The default keeps the shape (activations, dropout, normalization).
  virtual Shape infer_shape(const Shape& in) const { return in; }
  // Throws, naming the layer, when axis `axis` of per-sample shape `in` is unknown (-1): for the axes a layer's
  // weights or output size depend on. `what` names the axis for the user ("the last axis", "the channel axis").
  void require_known(const Shape& in, int64_t axis, const std::string& what) const;
  // List forms: the defaults run forward_one / backward_one on input 0 and output 0.
  virtual void forward_list(LayerCall& call, bool training);
  virtual void backward_list(LayerCall& call, const std::vector<const Tensor*>& dys, bool need_dx);
  // One-tensor forms. forward_one returns the output (normally call.y). backward_one's default applies the
  // activation's derivative (into call.dpre) and calls backward_preact_one, which layers ending in an activation
  // implement; others override backward_one. Both return the input gradient (normally call.dx; anything when
  // need_dx is false).
  virtual const Tensor& forward_one(LayerCall& call, const Tensor& x, bool training);
  virtual const Tensor& backward_one(LayerCall& call, const Tensor& dy, bool need_dx);
  virtual const Tensor& backward_preact_one(LayerCall& call, const Tensor& dz, bool need_dx);

  // A new weight drawn by `initializer` (fans from the shape, as Keras's compute_fans) from the layer's generator.
  Param& add_weight(const std::string& name, const Shape& shape, const Initializer& initializer);
  Shape batch_shape(int64_t batch, const Shape& per_sample) const;
  // "Dense 'dense_1'": how errors name this layer.
  std::string who() const;
  // The derived call type of a call this layer made.
  template <typename C>
  static C& as(LayerCall& call) {
    return static_cast<C&>(call);
  }

  std::string name_;
  bool built_ = false;
  bool trainable_ = true;
  std::vector<Shape> input_shapes_, output_shapes_;
  std::vector<Param> params_;
  std::vector<std::pair<std::string, Regularizer>> pending_regularizers_;
  std::mt19937_64 rng_;
  // Quantization state: the packed int8 GEMM form of each per-column int8 weight, in int8_weights() order (null for
  // per-row ones), kept in step with the weights by refresh_quantized.
  bool quantized_ = false;
  bool quantize_at_build_ = false;
  std::vector<std::shared_ptr<kernels::Int8PackedB>> int8_packed_;
  // Quantizes int8_weights() (Layer::quantize after its checks; wrappers override it to quantize their inner
  // layers).
  virtual void do_quantize();
  // For a quantized layer's forward: the packed kernel of int8 weight i (int8_weights() order); a weight by name.
  const kernels::Int8PackedB& int8_packed(size_t i) const { return *int8_packed_.at(i); }
  const Tensor& weight(const std::string& name) const;
  // Throws naming the layer: a quantized layer cannot train (called by backward).
  void check_not_quantized(const char* what) const;

 private:
  std::unique_ptr<LayerCall> own_call_;
  // Checks a forward's inputs against the shapes the call was made for, and makes the call's shapes those of
  // the inputs when their lengths differ from the last forward's (unknown axes).
  void adapt_call(LayerCall& call, const std::vector<const Tensor*>& xs) const;
};

// Does per-sample shape `got` fit `want`, where -1 in either means "any length"?
bool shape_fits(const Shape& want, const Shape& got);
// Does the shape hold an unknown (-1) axis?
bool has_unknown(const Shape& s);

// A unique Keras-style name: "dense", "dense_1", ... per base name, process-wide.
std::string unique_layer_name(const std::string& base);
// Starts the names over ("dense" again): Keras's clear_session. Layers made before keep their names.
void reset_layer_names();
// "Dense" -> "dense", "MaxPooling2D" -> "max_pooling2d".
std::string snake_case(const std::string& class_name);

}  // namespace nncore
