#include "nncore/layers/traced.hpp"

#include <set>

#include "layers/common.hpp"
#include "nncore/check.hpp"
#include "nncore/io.hpp"
#include "nncore/model.hpp"

namespace nncore {

// ---- the variable scope of a traced layer being loaded -----------------------------------------------------------
namespace detail {
namespace {
thread_local VariableScope* active_scope = nullptr;
}
VariableScope::VariableScope(Layer& layer) : layer_(layer), outer_(active_scope) { active_scope = this; }
VariableScope::~VariableScope() { active_scope = outer_; }
const Param* VariableScope::find(const std::string& name) {
  if (active_scope == nullptr) return nullptr;
  for (const Param& p : active_scope->layer_.params())
    if (p.name == name) return &p;
  return nullptr;
}
}  // namespace detail

// ---- TracedLayer ----------------------------------------------------------------------------------------------------
struct TracedLayer::Call : LayerCall {
  std::unique_ptr<LayerCall> train, infer;  // a run of each graph, made on first use
  LayerCall* last = nullptr;                // the run of the last forward
  bool last_training = false;
  std::vector<const Tensor*> args;
};

TracedLayer::TracedLayer(const std::string& name, std::string user_class, Json user_config)
    : Layer(detail::layer_name(name, user_class.substr(user_class.rfind('>') + 1))),
      user_class_(std::move(user_class)),
      user_config_(std::move(user_config)) {}

size_t TracedLayer::add_variable(const std::string& name, const Shape& shape, const std::string& initializer,
                                 bool trainable, Regularizer regularizer) {
  NNC_CHECK(!traced(), user_class_, " '", name_, "': add_weight('", name, "') after the layer was built; create "
            "weights in __init__ or build()");
  NNC_CHECK(num_variables_ == params_.size(), who(), ": variables come first");
  for (const Param& p : params_)
    NNC_CHECK(p.name != name, user_class_, " '", name_, "': a weight named '", name, "' exists already");
  for (int64_t d : shape)
    NNC_CHECK(d >= 1, user_class_, " '", name_, "': add_weight('", name, "'): shape must have positive dimensions, got ",
              shape_str(shape));
  const int64_t fan_in = shape.size() >= 2 ? shape_numel(shape) / shape.back() : (shape.empty() ? 1 : shape[0]);
  const int64_t fan_out = shape.empty() ? 1 : shape.back();
  Param& p = add_weight(name, shape, initializer, fan_in, fan_out);
  p.trainable = trainable;
  p.regularizer = regularizer;
  return num_variables_++;
}

void TracedLayer::set_graphs(std::shared_ptr<Model> training, std::shared_ptr<Model> inference) {
  NNC_CHECK(training != nullptr && inference != nullptr, who(), ": set_graphs needs both graphs");
  NNC_CHECK(training->built() && inference->built(), who(), ": the traced graphs must be built");
  training_ = std::move(training);
  inference_ = std::move(inference);
  training_->set_trainable(trainable_);
  inference_->set_trainable(trainable_);
  // The layer's weights: its variables, then what its graphs hold besides them (sublayers' weights, constants).
  params_.resize(num_variables_);
  std::set<const float*> seen;
  for (const Param& p : params_) seen.insert(p.value.data());
  for (const auto& g : {training_, inference_})
    for (const auto& l : g->layers())
      for (const Param& p : l->params())
        if (seen.insert(p.value.data()).second) {
          Param q = p;  // shares the storage
          q.name = l->name() + "/" + p.name;
          params_.push_back(q);
        }
}

void TracedLayer::set_trainable(bool t) {
  Layer::set_trainable(t);
  if (training_) training_->set_trainable(t);
  if (inference_) inference_->set_trainable(t);
}

int64_t TracedLayer::count_trainable_params() const {
  if (!trainable_) return 0;
  int64_t n = 0;
  for (const Param& p : params_) n += p.trainable ? p.value.size() : 0;
  return n;
}

void TracedLayer::collect_trainable(std::vector<Param*>& out) {
  if (!trainable_) return;
  for (size_t i = 0; i < num_variables_; ++i)
    if (params_[i].trainable) out.push_back(&params_[i]);
  // The graphs' layers (sublayers; op nodes holding copies of the variables, which the model drops as repeats).
  if (training_) training_->collect_trainable(out);
  if (inference_ && inference_ != training_) inference_->collect_trainable(out);
}

std::unique_ptr<LayerCall> TracedLayer::new_call() const { return std::make_unique<Call>(); }

std::vector<Shape> TracedLayer::build_shapes(const std::vector<Shape>& in) {
  NNC_CHECK(traced(), user_class_, " '", name_, "' is not traced yet: call it on a KerasTensor (or on arrays) first");
  return call_shapes(in);
}

std::vector<Shape> TracedLayer::call_shapes(const std::vector<Shape>& in) const {
  NNC_CHECK(traced(), user_class_, " '", name_, "' is not traced yet");
  return inference_->output_shapes_for(in);
}

void TracedLayer::forward_list(LayerCall& c, bool training) {
  Call& tc = as<Call>(c);
  const std::shared_ptr<Model>& g = training ? training_ : inference_;
  std::unique_ptr<LayerCall>& run = training ? tc.train : tc.infer;
  if (!run) run = g->make_call(c.input_shapes);
  tc.args.resize(c.inputs.size());
  for (size_t i = 0; i < c.inputs.size(); ++i) tc.args[i] = &c.inputs[i];
  static_cast<Layer&>(*g).forward(*run, tc.args, c.masks, training);
  c.outputs = run->outputs;
  tc.last = run.get();
  tc.last_training = training;
}

void TracedLayer::backward_list(LayerCall& c, const std::vector<const Tensor*>& dys, bool need_dx) {
  Call& tc = as<Call>(c);
  const std::shared_ptr<Model>& g = tc.last_training ? training_ : inference_;
  static_cast<Layer&>(*g).backward(*tc.last, dys, need_dx);
  for (size_t i = 0; i < c.dxs.size() && i < tc.last->dxs.size(); ++i) c.dxs[i] = tc.last->dxs[i];
}

const Tensor* TracedLayer::output_mask(const LayerCall& c, size_t output) const {
  const Call& tc = static_cast<const Call&>(c);
  if (tc.last == nullptr) return nullptr;
  const Layer& g = *(tc.last_training ? training_ : inference_);
  return g.output_mask(*tc.last, output);
}

Json TracedLayer::config() const {
  Json c = Layer::config();
  c["user_class"] = user_class_;
  c["user_config"] = user_config_;
  Json vars = Json::array();
  for (size_t i = 0; i < num_variables_; ++i) {
    Json v = Json::object();
    v["name"] = params_[i].name;
    v["shape"] = params_[i].value.shape();
    v["trainable"] = params_[i].trainable;
    vars.push_back(v);
  }
  c["variables"] = vars;
  NNC_CHECK(traced(), user_class_, " '", name_, "' is not traced yet, so it has no graph to save: call it first");
  c["graph"] = model_config(*training_);
  c["inference_graph"] = inference_ == training_ ? Json() : model_config(*inference_);
  return c;
}

LayerPtr TracedLayer::from_config(const Json& c) {
  const std::string cls = c.at("user_class", "TracedLayer config").as_string("TracedLayer user_class");
  const Json* uc = c.find("user_config");
  auto l = std::make_shared<TracedLayer>(c.get("name", ""), cls, uc ? *uc : Json::object());
  for (const Json& v : c.at("variables", "TracedLayer config").as_array("TracedLayer variables"))
    l->add_variable(v.at("name", "variable").as_string("variable name"), v.at("shape", "variable").as_shape("variable shape"),
                    "zeros", v.get("trainable", true), {});
  l->apply_base_config(c);
  std::shared_ptr<Model> train, infer;
  {
    detail::VariableScope scope(*l);  // the graphs' op nodes bind the weights that name a variable
    train = model_from_config(c.at("graph", "TracedLayer config"));
    const Json* ig = c.find("inference_graph");
    infer = ig && !ig->is_null() ? std::shared_ptr<Model>(model_from_config(*ig)) : train;
  }
  l->set_graphs(train, infer);
  return l;
}

}  // namespace nncore
