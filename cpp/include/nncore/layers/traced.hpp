#pragma once
// A custom layer written in Python (a subclass of nncore.layers.Layer with build/call/add_weight, or of
// nncore.Model with call), traced into graphs of built-in layers and ops: one graph per training mode when call
// takes `training` (it may branch on it), else one. The layer owns the variables add_weight created; the graphs'
// op nodes share their storage, and the sublayers it calls are the graphs' layers. It trains in the C++ loop with
// no Python per step, and its config holds the graphs, so C++ loads and runs it without Python.
#include <memory>

#include "nncore/layers/layer.hpp"

namespace nncore {

class Model;

// A variable update call() makes (Keras's Variable.assign / assign_add / assign_sub of a value over the batch, e.g.
// a running mean): a graph output of per-sample values, combined over the batch by "mean" or "sum", then written
// to (op "assign") or added to ("add") or subtracted from ("sub") the variable. Applied after each forward of the
// graph that makes it (as BatchNormalization's moving statistics are updated in its forward).
struct VariableUpdate {
  size_t variable = 0;
  std::string reduce = "mean";
  std::string op = "assign";
};

class TracedLayer : public Layer {
 public:
  // user_class: the Python class's registered name ("package>Class"), user_config: its get_config().
  TracedLayer(const std::string& name, std::string user_class, Json user_config);
  std::string class_name() const override { return "TracedLayer"; }
  bool rows_independent() const override { return false; }  // a traced function may reduce over the batch axis
  const std::string& user_class() const { return user_class_; }
  const Json& user_config() const { return user_config_; }
  void set_user_config(Json c) { user_config_ = std::move(c); }
  Json config() const override;
  static LayerPtr from_config(const Json& config);

  // A variable (Keras's add_weight); before the graphs are set. Returns its index among params().
  size_t add_variable(const std::string& name, const Shape& shape, const Initializer& initializer, bool trainable,
                      Regularizer regularizer);
  size_t num_variables() const { return num_variables_; }
  // The traced graphs (inference may be the same model as training). Their inputs fix the layer's input shapes.
  // Each graph's outputs are the layer's outputs, then `losses.size()` losses that call() added (add_loss):
  // per-sample values whose batch mean (scale "mean") or batch sum (scale "sum") times the scale joins the training
  // loss; then the values of that graph's variable updates (training_updates / inference_updates, in order).
  void set_graphs(std::shared_ptr<Model> training, std::shared_ptr<Model> inference,
                  std::vector<std::pair<std::string, float>> losses = {},
                  std::vector<VariableUpdate> training_updates = {}, std::vector<VariableUpdate> inference_updates = {});
  size_t num_losses() const { return losses_.size(); }
  bool traced() const { return training_ != nullptr; }
  const std::shared_ptr<Model>& graph(bool training) const { return training ? training_ : inference_; }

  void set_trainable(bool t) override;
  int64_t count_trainable_params() const override;
  void collect_trainable(std::vector<Param*>& out) override;

 protected:
  struct Call;
  std::unique_ptr<LayerCall> new_call() const override;
  std::vector<Shape> build_shapes(const std::vector<Shape>& input_shapes) override;
  std::vector<Shape> call_shapes(const std::vector<Shape>& input_shapes) const override;
  void forward_list(LayerCall& call, bool training) override;
  void backward_list(LayerCall& call, const std::vector<const Tensor*>& dys, bool need_dx) override;
  const Tensor* output_mask(const LayerCall& call, size_t output) const override;

 public:
  double aux_loss(const LayerCall& call) const override;
  bool adds_losses() const override;

 private:
  std::vector<std::pair<std::string, float>> losses_;  // ("mean" | "sum", scale) per added loss
  std::vector<VariableUpdate> updates_[2];             // per graph: [0] inference, [1] training
  // The layer's outputs of a graph run: its outputs less the losses and updates.
  size_t num_layer_outputs(const LayerCall& run, bool training) const;
  void apply_updates(const LayerCall& run, bool training);
  std::string user_class_;
  Json user_config_;
  size_t num_variables_ = 0;
  std::shared_ptr<Model> training_, inference_;
};

namespace detail {
// While a VariableScope lives on this thread, op layers built from a config bind the weights that name a variable
// to that variable of `layer` (loading a traced layer's graphs).
class VariableScope {
 public:
  explicit VariableScope(Layer& layer);
  ~VariableScope();
  VariableScope(const VariableScope&) = delete;
  VariableScope& operator=(const VariableScope&) = delete;
  // The active scope's variable `name`, or null (no scope, or no such variable).
  static const Param* find(const std::string& name);

 private:
  Layer& layer_;
  VariableScope* outer_;
};
}  // namespace detail

}  // namespace nncore
