#include "nncore/layers/traced.hpp"

#include <algorithm>
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
  std::vector<const Tensor*> args, dys;
  std::vector<Tensor> loss_grads;           // the seeds of the added losses' gradients
};

TracedLayer::TracedLayer(const std::string& name, std::string user_class, Json user_config)
    : Layer(detail::layer_name(name, user_class.substr(user_class.rfind('>') + 1))),
      user_class_(std::move(user_class)),
      user_config_(std::move(user_config)) {}

size_t TracedLayer::add_variable(const std::string& name, const Shape& shape, const Initializer& initializer,
                                 bool trainable, Regularizer regularizer) {
  NNC_CHECK(!traced(), user_class_, " '", name_, "': add_weight('", name, "') after the layer was built; create "
            "weights in __init__ or build()");
  NNC_CHECK(num_variables_ == params_.size(), who(), ": variables come first");
  for (const Param& p : params_)
    NNC_CHECK(p.name != name, user_class_, " '", name_, "': a weight named '", name, "' exists already");
  for (int64_t d : shape)
    NNC_CHECK(d >= 1, user_class_, " '", name_, "': add_weight('", name, "'): shape must have positive dimensions, got ",
              shape_str(shape));
  NNC_CHECK(regularizer.orthogonal == 0.f || shape.size() == 2, user_class_, " '", name_, "': add_weight('", name,
            "'): OrthogonalRegularizer needs a 2-D weight, got shape ", shape_str(shape));
  Param& p = add_weight(name, shape, initializer);
  p.trainable = trainable;
  p.regularizer = regularizer;
  return num_variables_++;
}

void TracedLayer::set_graphs(std::shared_ptr<Model> training, std::shared_ptr<Model> inference,
                             std::vector<std::pair<std::string, float>> losses,
                             std::vector<VariableUpdate> training_updates,
                             std::vector<VariableUpdate> inference_updates) {
  NNC_CHECK(training != nullptr && inference != nullptr, who(), ": set_graphs needs both graphs");
  NNC_CHECK(training->built() && inference->built(), who(), ": the traced graphs must be built");
  for (const auto& [kind, scale] : losses)
    NNC_CHECK(kind == "mean" || kind == "sum", who(), ": an added loss is reduced over the batch by \"mean\" or "
              "\"sum\", got \"", kind, "\"");
  for (const auto* ups : {&training_updates, &inference_updates})
    for (const VariableUpdate& u : *ups) {
      NNC_CHECK(u.variable < num_variables_, who(), ": a variable update names variable ", u.variable, " of ",
                num_variables_);
      NNC_CHECK(u.reduce == "mean" || u.reduce == "sum", who(), ": a variable update reduces over the batch by "
                "\"mean\" or \"sum\", got \"", u.reduce, "\"");
      NNC_CHECK(u.op == "assign" || u.op == "add" || u.op == "sub", who(), ": a variable update is \"assign\", "
                "\"add\" or \"sub\", got \"", u.op, "\"");
    }
  const size_t extra_t = losses.size() + training_updates.size(), extra_i = losses.size() + inference_updates.size();
  NNC_CHECK(training->num_outputs() > extra_t && inference->num_outputs() > extra_i &&
                training->num_outputs() - extra_t == inference->num_outputs() - extra_i,
            who(), ": the training and inference graphs must have the same outputs besides their ", losses.size(),
            " added loss(es) and variable updates (", training->num_outputs(), " - ", extra_t, " vs ",
            inference->num_outputs(), " - ", extra_i, ")");
  for (const auto& [ups, g] : {std::make_pair(&training_updates, training.get()),
                               std::make_pair(&inference_updates, inference.get())})
    for (size_t k = 0; k < ups->size(); ++k) {
      const Shape& s = g->output_shape(g->num_outputs() - ups->size() + k);
      const Shape& v = params_[(*ups)[k].variable].value.shape();
      NNC_CHECK(s == v, who(), ": the value assigned to variable '", params_[(*ups)[k].variable].name,
                "' has per-sample shape ", shape_str(s), ", the variable ", shape_str(v));
    }
  losses_ = std::move(losses);
  updates_[1] = std::move(training_updates);
  updates_[0] = std::move(inference_updates);
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
  std::vector<Shape> out = inference_->output_shapes_for(in);
  out.resize(out.size() - losses_.size() - updates_[0].size());  // losses and updates are not outputs of the layer
  return out;
}

size_t TracedLayer::num_layer_outputs(const LayerCall& run, bool training) const {
  return run.outputs.size() - losses_.size() - updates_[training ? 1 : 0].size();
}

void TracedLayer::apply_updates(const LayerCall& run, bool training) {
  const std::vector<VariableUpdate>& ups = updates_[training ? 1 : 0];
  const size_t first = run.outputs.size() - ups.size();
  for (size_t k = 0; k < ups.size(); ++k) {
    const Tensor& v = *run.outputs[first + k];
    Tensor& var = params_[ups[k].variable].value;
    const int64_t B = v.dim(0), n = var.size();
    if (B == 0) continue;
    const double scale = ups[k].reduce == "mean" ? 1.0 / static_cast<double>(B) : 1.0;
    for (int64_t i = 0; i < n; ++i) {
      double s = 0.0;
      for (int64_t b = 0; b < B; ++b) s += v.data()[b * n + i];
      const float r = static_cast<float>(s * scale);
      float& w = var.data()[i];
      w = ups[k].op == "assign" ? r : ups[k].op == "add" ? w + r : w - r;
    }
    params_[ups[k].variable].changed();
  }
}

void TracedLayer::forward_list(LayerCall& c, bool training) {
  Call& tc = as<Call>(c);
  const std::shared_ptr<Model>& g = training ? training_ : inference_;
  std::unique_ptr<LayerCall>& run = training ? tc.train : tc.infer;
  if (!run) run = g->make_call(c.declared_shapes);
  tc.args.resize(c.inputs.size());
  for (size_t i = 0; i < c.inputs.size(); ++i) tc.args[i] = &c.inputs[i];
  static_cast<Layer&>(*g).forward(*run, tc.args, c.masks, training);
  c.outputs.assign(run->outputs.begin(),
                   run->outputs.begin() + static_cast<std::ptrdiff_t>(num_layer_outputs(*run, training)));
  tc.last = run.get();
  tc.last_training = training;
  apply_updates(*run, training);
}

void TracedLayer::backward_list(LayerCall& c, const std::vector<const Tensor*>& dys, bool need_dx) {
  Call& tc = as<Call>(c);
  const std::shared_ptr<Model>& g = tc.last_training ? training_ : inference_;
  // The added losses' gradients: d(batch mean)/d(value) = scale / batch per element, d(batch sum) = scale.
  tc.dys.assign(dys.begin(), dys.end());
  tc.loss_grads.resize(losses_.size());
  const size_t n_out = num_layer_outputs(*tc.last, tc.last_training);
  for (size_t k = 0; k < losses_.size(); ++k) {
    const Tensor& v = *tc.last->outputs[n_out + k];
    Tensor& seed = tc.loss_grads[k];
    seed.resize(v.shape());
    const float per_batch = losses_[k].first == "mean" ? 1.f / static_cast<float>(std::max<int64_t>(1, c.batch())) : 1.f;
    seed.fill(losses_[k].second * per_batch);
    tc.dys.push_back(&seed);
  }
  tc.dys.resize(tc.last->outputs.size(), nullptr);  // the variable updates: no gradient
  static_cast<Layer&>(*g).backward(*tc.last, tc.dys, need_dx);
  for (size_t i = 0; i < c.dxs.size() && i < tc.last->dxs.size(); ++i) c.dxs[i] = tc.last->dxs[i];
}

bool TracedLayer::adds_losses() const {
  return !losses_.empty() || (training_ && training_->adds_losses());
}

double TracedLayer::aux_loss(const LayerCall& c) const {
  const Call& tc = static_cast<const Call&>(c);
  if (tc.last == nullptr) return 0.0;
  const Layer& g = *(tc.last_training ? training_ : inference_);
  double total = g.aux_loss(*tc.last);  // losses added by custom layers inside this one
  const size_t n_out = num_layer_outputs(*tc.last, tc.last_training);
  for (size_t k = 0; k < losses_.size(); ++k) {
    const Tensor& v = *tc.last->outputs[n_out + k];
    double s = 0.0;
    for (int64_t i = 0; i < v.size(); ++i) s += v.data()[i];
    total += losses_[k].second * (losses_[k].first == "mean" ? s / static_cast<double>(std::max<int64_t>(1, c.batch())) : s);
  }
  return total;
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
  Json losses = Json::array();
  for (const auto& [kind, scale] : losses_) {
    Json l = Json::object();
    l["reduction"] = kind;
    l["scale"] = scale;
    losses.push_back(l);
  }
  c["losses"] = losses;
  for (int t = 1; t >= 0; --t) {
    Json ups = Json::array();
    for (const VariableUpdate& u : updates_[t]) {
      Json e = Json::object();
      e["variable"] = static_cast<int64_t>(u.variable);
      e["reduce"] = u.reduce;
      e["op"] = u.op;
      ups.push_back(e);
    }
    c[t ? "updates" : "inference_updates"] = ups;
  }
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
  std::vector<std::pair<std::string, float>> losses;
  if (const Json* ls = c.find("losses"))
    for (const Json& e : ls->as_array("TracedLayer losses"))
      losses.emplace_back(e.get("reduction", "mean"), e.get("scale", 1.f));
  std::vector<VariableUpdate> ups[2];
  for (int t = 0; t < 2; ++t)
    if (const Json* us = c.find(t ? "updates" : "inference_updates"))
      for (const Json& e : us->as_array("TracedLayer updates"))
        ups[t].push_back({static_cast<size_t>(e.at("variable", "update").as_int("update variable")),
                          e.get("reduce", "mean"), e.get("op", "assign")});
  l->set_graphs(train, infer, losses, ups[1], ups[0]);
  return l;
}

}  // namespace nncore
