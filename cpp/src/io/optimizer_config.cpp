// Optimizer and learning-rate schedule configs (Keras names) and their state slots.
#include <cmath>

#include "nncore/check.hpp"
#include "nncore/io.hpp"

namespace nncore {

namespace {

void put_optional(Json& c, const char* key, const std::optional<float>& v) {
  c[key] = v ? Json(*v) : Json();
}

std::optional<float> get_optional(const Json& c, const char* key) {
  const Json* v = c.find(key);
  if (!v || v->is_null()) return std::nullopt;
  return static_cast<float>(v->as_number(str_cat("optimizer \"", key, "\"")));
}

Json spec(const std::string& class_name, Json config) {
  Json s = Json::object();
  s["class_name"] = class_name;
  s["config"] = std::move(config);
  return s;
}

// Tensors of the given state vector at `index`, when the option that creates them is on (non-empty).
void add_slot(std::vector<std::pair<std::string, Tensor*>>& out, const char* name, std::vector<Tensor>& state,
              size_t index) {
  if (index < state.size() && state[index].size() > 0) out.emplace_back(name, &state[index]);
}

}  // namespace

// ---- schedules --------------------------------------------------------------------------------------------------
Json ExponentialDecay::config() const {
  Json c = Json::object();
  c["initial_learning_rate"] = initial_;
  c["decay_steps"] = decay_steps_;
  c["decay_rate"] = decay_rate_;
  c["staircase"] = staircase_;
  return c;
}

Json PiecewiseConstantDecay::config() const {
  Json c = Json::object();
  Json b = Json::array(), v = Json::array();
  for (double x : boundaries_) b.push_back(x);
  for (float x : values_) v.push_back(x);
  c["boundaries"] = b;
  c["values"] = v;
  return c;
}

Json CosineDecay::config() const {
  Json c = Json::object();
  c["initial_learning_rate"] = initial_;
  c["decay_steps"] = decay_steps_;
  c["alpha"] = alpha_;
  put_optional(c, "warmup_target", warmup_target_);
  c["warmup_steps"] = warmup_steps_;
  return c;
}

Json schedule_spec(const LearningRateSchedule& s) { return spec(s.name(), s.config()); }

std::shared_ptr<LearningRateSchedule> schedule_from_config(const Json& sp) {
  const std::string& cls = sp.at("class_name", "learning-rate schedule").as_string("schedule class_name");
  const Json& c = sp.at("config", "learning-rate schedule");
  const std::string what = cls + " config";
  if (cls == "ExponentialDecay")
    return std::make_shared<ExponentialDecay>(
        static_cast<float>(c.at("initial_learning_rate", what).as_number(what)),
        c.at("decay_steps", what).as_number(what), static_cast<float>(c.at("decay_rate", what).as_number(what)),
        c.get("staircase", false));
  if (cls == "PiecewiseConstantDecay") {
    std::vector<double> b;
    std::vector<float> v;
    for (const Json& x : c.at("boundaries", what).as_array(what)) b.push_back(x.as_number(what));
    for (const Json& x : c.at("values", what).as_array(what)) v.push_back(static_cast<float>(x.as_number(what)));
    return std::make_shared<PiecewiseConstantDecay>(std::move(b), std::move(v));
  }
  if (cls == "CosineDecay")
    return std::make_shared<CosineDecay>(static_cast<float>(c.at("initial_learning_rate", what).as_number(what)),
                                         c.at("decay_steps", what).as_number(what), c.get("alpha", 0.f),
                                         get_optional(c, "warmup_target"), c.get("warmup_steps", 0.0));
  throw std::invalid_argument(str_cat("unknown learning-rate schedule '", cls,
                                      "'; known: ExponentialDecay, PiecewiseConstantDecay, CosineDecay"));
}

// ---- optimizers -------------------------------------------------------------------------------------------------
Json Optimizer::config() const {
  Json c = Json::object();
  c["learning_rate"] = schedule_ ? schedule_spec(*schedule_) : Json(lr_);
  put_optional(c, "weight_decay", weight_decay_);
  put_optional(c, "clipnorm", clipnorm_);
  put_optional(c, "global_clipnorm", global_clipnorm_);
  put_optional(c, "clipvalue", clipvalue_);
  return c;
}

Json SGD::config() const {
  Json c = Optimizer::config();
  c["momentum"] = momentum_;
  c["nesterov"] = nesterov_;
  return c;
}

std::vector<std::pair<std::string, Tensor*>> SGD::slots(size_t i) {
  std::vector<std::pair<std::string, Tensor*>> s;
  add_slot(s, "velocity", velocity_, i);
  return s;
}

Json Adam::config() const {
  Json c = Optimizer::config();
  c["beta_1"] = b1_;
  c["beta_2"] = b2_;
  c["epsilon"] = eps_;
  c["amsgrad"] = amsgrad_;
  return c;
}

std::vector<std::pair<std::string, Tensor*>> Adam::slots(size_t i) {
  std::vector<std::pair<std::string, Tensor*>> s;
  add_slot(s, "m", m_, i);
  add_slot(s, "v", v_, i);
  add_slot(s, "v_hat", v_hat_, i);
  return s;
}

Json Adagrad::config() const {
  Json c = Optimizer::config();
  c["initial_accumulator_value"] = initial_accumulator_;
  c["epsilon"] = eps_;
  return c;
}

std::vector<std::pair<std::string, Tensor*>> Adagrad::slots(size_t i) {
  std::vector<std::pair<std::string, Tensor*>> s;
  add_slot(s, "accumulator", acc_, i);
  return s;
}

Json RMSprop::config() const {
  Json c = Optimizer::config();
  c["rho"] = rho_;
  c["momentum"] = momentum_;
  c["epsilon"] = eps_;
  c["centered"] = centered_;
  return c;
}

std::vector<std::pair<std::string, Tensor*>> RMSprop::slots(size_t i) {
  std::vector<std::pair<std::string, Tensor*>> s;
  add_slot(s, "ms", ms_, i);
  add_slot(s, "mg", mg_, i);
  add_slot(s, "velocity", velocity_, i);
  return s;
}

Json optimizer_spec(const Optimizer& o) { return spec(o.name(), o.config()); }

std::shared_ptr<Optimizer> optimizer_from_config(const Json& sp) {
  const std::string& cls = sp.at("class_name", "optimizer").as_string("optimizer class_name");
  const Json& c = sp.at("config", "optimizer");
  NNC_CHECK(c.is_object(), "optimizer config: expected an object");
  std::shared_ptr<Optimizer> o;
  if (cls == "SGD")
    o = std::make_shared<SGD>(0.01f, c.get("momentum", 0.f), c.get("nesterov", false));
  else if (cls == "Adam" || cls == "AdamW")
    o = cls == "Adam" ? std::make_shared<Adam>(0.001f, c.get("beta_1", 0.9f), c.get("beta_2", 0.999f),
                                               c.get("epsilon", 1e-7f), c.get("amsgrad", false))
                      : std::make_shared<AdamW>(0.001f, 0.004f, c.get("beta_1", 0.9f), c.get("beta_2", 0.999f),
                                                c.get("epsilon", 1e-7f), c.get("amsgrad", false));
  else if (cls == "Adagrad")
    o = std::make_shared<Adagrad>(0.001f, c.get("initial_accumulator_value", 0.1f), c.get("epsilon", 1e-7f));
  else if (cls == "RMSprop")
    o = std::make_shared<RMSprop>(0.001f, c.get("rho", 0.9f), c.get("momentum", 0.f), c.get("epsilon", 1e-7f),
                                  c.get("centered", false));
  else
    throw std::invalid_argument(str_cat("unknown optimizer '", cls, "'; known: SGD, Adam, AdamW, Adagrad, RMSprop"));
  const Json& lr = c.at("learning_rate", "optimizer config");
  if (lr.is_object())
    o->set_learning_rate(schedule_from_config(lr));
  else
    o->set_learning_rate(static_cast<float>(lr.as_number("optimizer learning_rate")));
  // Options in an order that the clipnorm/global_clipnorm exclusivity check accepts.
  o->set_weight_decay(get_optional(c, "weight_decay"));
  o->set_clipnorm(get_optional(c, "clipnorm"));
  o->set_global_clipnorm(get_optional(c, "global_clipnorm"));
  o->set_clipvalue(get_optional(c, "clipvalue"));
  return o;
}

}  // namespace nncore
