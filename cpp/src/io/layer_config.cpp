// Layer configs: each class's constructor arguments as JSON (Keras names) and back. One place for all of them,
// next to the registry that dispatches on class_name.
#include <cmath>
#include <functional>
#include <limits>
#include <optional>

#include "nncore/check.hpp"
#include "nncore/layers/activation.hpp"
#include "nncore/layers/conv.hpp"
#include "nncore/layers/core.hpp"
#include "nncore/layers/merge.hpp"
#include "nncore/io.hpp"
#include "nncore/layers/normalization.hpp"
#include "nncore/layers/sequence.hpp"

namespace nncore {

namespace {

Json pair_json(const Pair& p) {
  Json a = Json::array();
  a.push_back(p[0]);
  a.push_back(p[1]);
  return a;
}

// An int or a 2-element array of ints (Keras accepts both for kernel_size, strides, ...).
Pair get_pair(const Json& c, const std::string& key, Pair def) {
  const Json* v = c.find(key);
  if (!v || v->is_null()) return def;
  if (!v->is_array()) {
    const int64_t n = v->as_int(str_cat("\"", key, "\""));
    return {n, n};
  }
  const Shape s = v->as_shape(str_cat("\"", key, "\""));
  NNC_CHECK(s.size() == 2, "\"", key, "\": expected 2 integers, got ", s.size());
  return {s[0], s[1]};
}

template <typename T>
std::shared_ptr<T> finish(std::shared_ptr<T> layer, const Json& c) {
  layer->apply_base_config(c);
  return layer;
}

std::string name_of(const Json& c) { return c.get("name", ""); }

// "Dense 'dense_1'": the layer a config describes, for messages about its members.
std::string who_of(const Json& c, const char* cls) { return str_cat(cls, " '", name_of(c), "'"); }

// Initializer argument `key` of a config of class `cls` (a name or a Keras config), `def` when absent.
Initializer init_arg(const Json& c, const std::string& key, const std::string& def, const char* cls) {
  return initializer_from_config(c, key, def, who_of(c, cls));
}

// The 1-D layers' int-or-1-tuple arguments (Keras writes kernel_size as [3]).
Json single_json(int64_t v) {
  Json a = Json::array();
  a.push_back(v);
  return a;
}

int64_t get_single(const Json& c, const std::string& key, int64_t def) {
  const Json* v = c.find(key);
  if (!v || v->is_null()) return def;
  if (!v->is_array()) return v->as_int(str_cat("\"", key, "\""));
  const Shape s = v->as_shape(str_cat("\"", key, "\""));
  NNC_CHECK(s.size() == 1, "\"", key, "\": expected 1 integer, got ", s.size());
  return s[0];
}

// Keras's int / (sym_h, sym_w) / ((top, bottom), (left, right)) argument of the 2-D padding and cropping layers.
void get_pair_of_pairs(const Json& c, const std::string& key, const std::string& who, Pair& h, Pair& w) {
  const Json* p = c.find(key);
  if (!p || p->is_null()) return;
  if (!p->is_array()) {
    const int64_t n = p->as_int(str_cat(who, " ", key));
    h = w = {n, n};
    return;
  }
  const auto& a = p->as_array(str_cat(who, " ", key));
  NNC_CHECK(a.size() == 2, who, " ", key, ": expected ((top, bottom), (left, right)), got ", a.size(), " entries");
  const std::string hk = str_cat(who, " ", key, " (top, bottom)"), wk = str_cat(who, " ", key, " (left, right)");
  Json holder = Json::object();
  holder[hk] = a[0];
  holder[wk] = a[1];
  h = get_pair(holder, hk, h);
  w = get_pair(holder, wk, w);
}

Json pair_of_pairs_json(const Pair& h, const Pair& w) {
  Json p = Json::array();
  p.push_back(pair_json(h));
  p.push_back(pair_json(w));
  return p;
}

// A float argument that may be None (null) in Keras: `none` stands for it.
float get_optional_float(const Json& c, const std::string& key, float none) {
  const Json* v = c.find(key);
  if (!v || v->is_null()) return none;
  return static_cast<float>(v->as_number(str_cat("\"", key, "\"")));
}

// A seed argument: an integer >= 0, or None (-1).
int64_t get_seed(const Json& c, const std::string& who) {
  const Json* v = c.find("seed");
  if (!v || v->is_null()) return -1;
  const int64_t s = v->as_int(str_cat(who, " seed"));
  NNC_CHECK(s >= 0, who, " seed: expected an integer >= 0 or null, got ", s);
  return s;
}

Json seed_json(int64_t seed) { return seed < 0 ? Json() : Json(seed); }

// A number or a nested list of numbers (Keras's Normalization mean and variance) and back; null: none.
Json values_json(const std::optional<ArrayValues>& v) {
  if (!v) return Json();
  if (v->shape.empty()) return Json(v->values.at(0));
  size_t at = 0;
  std::function<Json(size_t)> level = [&](size_t d) {
    Json a = Json::array();
    for (int64_t i = 0; i < v->shape[d]; ++i) a.push_back(d + 1 == v->shape.size() ? Json(v->values[at++]) : level(d + 1));
    return a;
  };
  return level(0);
}

std::optional<ArrayValues> get_values(const Json& c, const std::string& key, const std::string& who) {
  const Json* v = c.find(key);
  if (!v || v->is_null()) return std::nullopt;
  ArrayValues out;
  const std::string what = str_cat(who, " ", key);
  if (!v->is_array()) {
    out.values.push_back(v->as_number(what));
    return out;
  }
  // The shape from the first element at each depth; every list must then match it (a rectangular array).
  for (const Json* p = v; p->is_array(); p = &p->as_array(what)[0]) {
    NNC_CHECK(p->size() > 0 && out.shape.size() < 8, what, ": expected a number or a non-empty rectangular nested "
              "list of up to 8 levels");
    out.shape.push_back(static_cast<int64_t>(p->size()));
  }
  std::function<void(const Json&, size_t)> walk = [&](const Json& a, size_t d) {
    if (d == out.shape.size()) {
      out.values.push_back(a.as_number(what));
      return;
    }
    NNC_CHECK(a.is_array() && static_cast<int64_t>(a.size()) == out.shape[d], what,
              ": expected a rectangular nested list of shape ", shape_str(out.shape));
    for (const Json& e : a.as_array(what)) walk(e, d + 1);
  };
  walk(*v, 0);
  return out;
}

}  // namespace

// ---- regularizers -----------------------------------------------------------------------------------------------
Json Regularizer::to_json() const {
  if (orthogonal == 0.f) {  // nncore's compact form, as files before OrthogonalRegularizer have it
    Json j = Json::object();
    j["l1"] = l1;
    j["l2"] = l2;
    return j;
  }
  Json args = Json::object();
  args["factor"] = orthogonal;
  args["mode"] = orthogonal_columns ? "columns" : "rows";
  Json j = Json::object();
  j["module"] = "keras.regularizers";
  j["class_name"] = "OrthogonalRegularizer";
  j["config"] = args;
  j["registered_name"] = Json();
  if (l1 != 0.f || l2 != 0.f) {  // both kinds on one weight (only the C++ API makes that): keep the l1/l2 part
    j["l1"] = l1;
    j["l2"] = l2;
  }
  return j;
}

Regularizer Regularizer::from_json(const Json& j, const std::string& where) {
  if (j.type() == Json::Type::string) {  // Keras's names
    const std::string& n = j.as_string(where);
    if (n == "l1" || n == "L1") return Regularizer{0.01f, 0.f};
    if (n == "l2" || n == "L2") return Regularizer{0.f, 0.01f};
    if (n == "l1_l2" || n == "l1l2") return Regularizer{0.01f, 0.01f};
    if (n == "L1L2") return Regularizer{};
    if (n == "orthogonal_regularizer" || n == "OrthogonalRegularizer") return Regularizer{0.f, 0.f, 0.01f, false};
    NNC_CHECK(false, where, ": unknown regularizer '", n, "'; valid: l1, l2, l1_l2, orthogonal_regularizer");
  }
  NNC_CHECK(j.is_object(), where, ": expected a regularizer config, got ", j.dump());
  auto factor = [&](const Json& c, const char* key, float def) {
    const float v = c.get(key, def);
    NNC_CHECK(std::isfinite(v) && v >= 0.f, where, " ", key, ": expected a finite number >= 0, got ", v);
    return v;
  };
  Regularizer r{factor(j, "l1", 0.f), factor(j, "l2", 0.f)};
  const Json* cls = j.find("class_name");
  if (cls == nullptr) return r;
  const std::string& name = cls->as_string(where + " class_name");
  const Json* reg = j.find("registered_name");
  NNC_CHECK(reg == nullptr || reg->is_null() || reg->as_string(where + " registered_name") == name, where,
            ": the regularizer ", j.dump(), " is a user's class; nncore trains with L1, L2, L1L2 and "
            "OrthogonalRegularizer only");
  const Json* cfg = j.find("config");
  const Json args = cfg != nullptr && cfg->is_object() ? *cfg : Json::object();
  if (name == "L1" || name == "l1") r.l1 = factor(args, "l1", 0.01f);
  else if (name == "L2" || name == "l2") r.l2 = factor(args, "l2", 0.01f);
  else if (name == "L1L2" || name == "l1_l2" || name == "l1l2") {
    r.l1 = factor(args, "l1", 0.f);
    r.l2 = factor(args, "l2", 0.f);
  } else if (name == "OrthogonalRegularizer" || name == "orthogonal_regularizer") {
    r.orthogonal = factor(args, "factor", 0.01f);
    const std::string mode = args.get("mode", "rows");
    NNC_CHECK(mode == "rows" || mode == "columns", where, " mode: expected \"rows\" or \"columns\", got \"", mode,
              "\"");
    r.orthogonal_columns = mode == "columns";
  } else {
    NNC_CHECK(false, where, ": unknown regularizer class '", name,
              "'; valid: L1, L2, L1L2, OrthogonalRegularizer");
  }
  return r;
}

// ---- base -----------------------------------------------------------------------------------------------------
namespace {
const char* const kInt8Policy =
    R"({"module": "keras.dtype_policies", "class_name": "QuantizedDTypePolicy", "config": {"mode": "int8", )"
    R"("source_name": "float32"}, "registered_name": null})";
}  // namespace

Json Layer::config() const {
  Json c = Json::object();
  c["name"] = name_;
  c["trainable"] = trainable_;
  auto put = [&](const std::string& weight, const Regularizer& r) {
    if (!r.active()) return;
    c[weight + "_regularizer"] = r.to_json();
  };
  for (const Param& p : params_) put(p.name, p.regularizer);
  for (const auto& nr : pending_regularizers_) put(nr.first, nr.second);
  if (quantized_ || quantize_at_build_) c["dtype"] = Json::parse(kInt8Policy);
  return c;
}

void Layer::apply_base_config(const Json& c) {
  NNC_CHECK(c.is_object(), "layer config: expected an object");
  set_trainable(c.get("trainable", true));
  // Keras's dtype policy: "float32" (or a DTypePolicy of it), or a quantized one, {"class_name":
  // "QuantizedDTypePolicy", "config": {"mode": "int8", ...}} (older Keras: its name "int8_from_float32").
  if (const Json* d = c.find("dtype"); d != nullptr && d->is_object()) {
    const std::string cls = d->get("class_name", std::string());
    const Json* dc = d->find("config");
    const std::string mode = dc != nullptr && dc->is_object() ? dc->get("mode", std::string()) : std::string();
    const std::string pname = dc != nullptr && dc->is_object() ? dc->get("name", std::string()) : std::string();
    if (cls == "QuantizedDTypePolicy" || pname.rfind("int8_from_", 0) == 0 || !mode.empty()) {
      const std::string m = !mode.empty() ? mode : pname.substr(0, pname.find('_'));
      NNC_CHECK(m == "int8", "Layer '", name_, "': quantization mode '", m, "' is not supported (nncore runs 'int8')");
      NNC_CHECK(quantizable(), "Layer '", name_, "' (", class_name(), "): its config says int8-quantized, but this "
                "layer cannot be quantized");
      set_quantize_at_build(true);
    }
  }
  const std::string suffix = "_regularizer";
  for (const auto& kv : c.items()) {
    const std::string& key = kv.first;
    if (key.size() <= suffix.size() || key.compare(key.size() - suffix.size(), suffix.size(), suffix) != 0) continue;
    if (kv.second.is_null()) continue;
    const std::string what = str_cat("Layer '", name_, "' ", key);
    set_regularizer(key.substr(0, key.size() - suffix.size()), Regularizer::from_json(kv.second, what));
  }
}

// ---- core -----------------------------------------------------------------------------------------------------
Json Dense::config() const {
  Json c = Layer::config();
  c["units"] = units_;
  c["activation"] = activation_name(act_);
  c["use_bias"] = use_bias_;
  c["kernel_initializer"] = kernel_init_.to_json();
  c["bias_initializer"] = bias_init_.to_json();
  return c;
}

LayerPtr Dense::from_config(const Json& c) {
  return finish(std::make_shared<Dense>(c.at("units", "Dense config").as_int("Dense units"),
                                        c.get("activation", "linear"), c.get("use_bias", true),
                                        init_arg(c, "kernel_initializer", "glorot_uniform", "Dense"),
                                        init_arg(c, "bias_initializer", "zeros", "Dense"), name_of(c)),
                c);
}

Json ActivationLayer::config() const {
  Json c = Layer::config();
  c["activation"] = activation_name(act_);
  return c;
}

LayerPtr ActivationLayer::from_config(const Json& c) {
  return finish(std::make_shared<ActivationLayer>(
                    c.at("activation", "Activation config").as_string("Activation activation"), name_of(c)),
                c);
}

Json Reshape::config() const {
  Json c = Layer::config();
  c["target_shape"] = target_;
  return c;
}

LayerPtr Reshape::from_config(const Json& c) {
  return finish(std::make_shared<Reshape>(c.at("target_shape", "Reshape config").as_shape("Reshape target_shape"),
                                          name_of(c)),
                c);
}

Json Flatten::config() const { return Layer::config(); }

LayerPtr Flatten::from_config(const Json& c) { return finish(std::make_shared<Flatten>(name_of(c)), c); }

Json Dropout::config() const {
  Json c = Layer::config();
  c["rate"] = rate_;
  return c;
}

LayerPtr Dropout::from_config(const Json& c) {
  return finish(std::make_shared<Dropout>(static_cast<float>(c.at("rate", "Dropout config").as_number("Dropout rate")),
                                          name_of(c)),
                c);
}

Json SpatialDropout2D::config() const {
  Json c = Layer::config();
  c["rate"] = rate_;
  return c;
}

LayerPtr SpatialDropout2D::from_config(const Json& c) {
  return finish(std::make_shared<SpatialDropout2D>(
                    static_cast<float>(c.at("rate", "SpatialDropout2D config").as_number("SpatialDropout2D rate")),
                    name_of(c)),
                c);
}

Json RepeatVector::config() const {
  Json c = Layer::config();
  c["n"] = n_;
  return c;
}

LayerPtr RepeatVector::from_config(const Json& c) {
  return finish(std::make_shared<RepeatVector>(c.at("n", "RepeatVector config").as_int("RepeatVector n"), name_of(c)),
                c);
}

Json Permute::config() const {
  Json c = Layer::config();
  c["dims"] = Shape(dims_);
  return c;
}

LayerPtr Permute::from_config(const Json& c) {
  return finish(std::make_shared<Permute>(c.at("dims", "Permute config").as_shape("Permute dims"), name_of(c)), c);
}

Json Rescaling::config() const {
  Json c = Layer::config();
  c["scale"] = scale_;
  c["offset"] = offset_;
  return c;
}

LayerPtr Rescaling::from_config(const Json& c) {
  return finish(std::make_shared<Rescaling>(
                    static_cast<float>(c.at("scale", "Rescaling config").as_number("Rescaling scale")),
                    c.get("offset", 0.f), name_of(c)),
                c);
}

Json Masking::config() const {
  Json c = Layer::config();
  c["mask_value"] = mask_value_;
  return c;
}

LayerPtr Masking::from_config(const Json& c) {
  return finish(std::make_shared<Masking>(c.get("mask_value", 0.0), name_of(c)), c);
}

Json GaussianNoise::config() const {
  Json c = Layer::config();
  c["stddev"] = stddev_;
  c["seed"] = seed_json(seed_);
  return c;
}

LayerPtr GaussianNoise::from_config(const Json& c) {
  return finish(std::make_shared<GaussianNoise>(
                    static_cast<float>(c.at("stddev", "GaussianNoise config").as_number("GaussianNoise stddev")),
                    get_seed(c, "GaussianNoise"), name_of(c)),
                c);
}

Json GaussianDropout::config() const {
  Json c = Layer::config();
  c["rate"] = rate_;
  c["seed"] = seed_json(seed_);
  return c;
}

LayerPtr GaussianDropout::from_config(const Json& c) {
  return finish(std::make_shared<GaussianDropout>(
                    static_cast<float>(c.at("rate", "GaussianDropout config").as_number("GaussianDropout rate")),
                    get_seed(c, "GaussianDropout"), name_of(c)),
                c);
}

Json ActivityRegularization::config() const {
  Json c = Layer::config();
  c["l1"] = l1_;
  c["l2"] = l2_;
  return c;
}

LayerPtr ActivityRegularization::from_config(const Json& c) {
  return finish(std::make_shared<ActivityRegularization>(c.get("l1", 0.f), c.get("l2", 0.f), name_of(c)), c);
}

// ---- activation layers ------------------------------------------------------------------------------------------
Json ReLU::config() const {
  Json c = Layer::config();
  c["max_value"] = std::isinf(max_value_) ? Json() : Json(max_value_);
  c["negative_slope"] = negative_slope_;
  c["threshold"] = threshold_;
  return c;
}

LayerPtr ReLU::from_config(const Json& c) {
  return finish(std::make_shared<ReLU>(get_optional_float(c, "max_value", std::numeric_limits<float>::infinity()),
                                       get_optional_float(c, "negative_slope", 0.f),
                                       get_optional_float(c, "threshold", 0.f), name_of(c)),
                c);
}

Json LeakyReLU::config() const {
  Json c = Layer::config();
  c["negative_slope"] = alpha_;
  return c;
}

// Keras 2 called the slope "alpha".
LayerPtr LeakyReLU::from_config(const Json& c) {
  const float slope = c.contains("negative_slope") ? get_optional_float(c, "negative_slope", 0.3f)
                                                   : get_optional_float(c, "alpha", 0.3f);
  return finish(std::make_shared<LeakyReLU>(slope, name_of(c)), c);
}

Json ELU::config() const {
  Json c = Layer::config();
  c["alpha"] = alpha_;
  return c;
}

LayerPtr ELU::from_config(const Json& c) {
  return finish(std::make_shared<ELU>(get_optional_float(c, "alpha", 1.f), name_of(c)), c);
}

Json Softmax::config() const {
  Json c = Layer::config();
  c["axis"] = axis_;
  return c;
}

LayerPtr Softmax::from_config(const Json& c) {
  return finish(std::make_shared<Softmax>(c.get("axis", int64_t{-1}), name_of(c)), c);
}

Json PReLU::config() const {
  Json c = Layer::config();
  c["alpha_initializer"] = init_.to_json();
  c["shared_axes"] = shared_axes_.empty() ? Json() : Json(Shape(shared_axes_));
  return c;
}

LayerPtr PReLU::from_config(const Json& c) {
  const Json* axes = c.find("shared_axes");
  std::vector<int64_t> shared;
  if (axes && !axes->is_null()) {
    if (axes->is_array()) shared = axes->as_shape("PReLU shared_axes");
    else shared = {axes->as_int("PReLU shared_axes")};
  }
  return finish(std::make_shared<PReLU>(init_arg(c, "alpha_initializer", "zeros", "PReLU"), shared, name_of(c)), c);
}

// ---- convolution and pooling ------------------------------------------------------------------------------------
Json Conv2D::config() const {
  Json c = Layer::config();
  c["filters"] = filters_;
  c["kernel_size"] = pair_json(kernel_);
  c["strides"] = pair_json(strides_);
  c["padding"] = padding_;
  c["dilation_rate"] = pair_json(dilation_);
  c["activation"] = activation_name(act_);
  c["use_bias"] = use_bias_;
  c["kernel_initializer"] = kernel_init_.to_json();
  c["bias_initializer"] = bias_init_.to_json();
  c["groups"] = groups_;
  return c;
}

LayerPtr Conv2D::from_config(const Json& c) {
  c.at("kernel_size", "Conv2D config");  // required
  return finish(std::make_shared<Conv2D>(c.at("filters", "Conv2D config").as_int("Conv2D filters"),
                                         get_pair(c, "kernel_size", {0, 0}), get_pair(c, "strides", {1, 1}),
                                         c.get("padding", "valid"), get_pair(c, "dilation_rate", {1, 1}),
                                         c.get("activation", "linear"), c.get("use_bias", true),
                                         init_arg(c, "kernel_initializer", "glorot_uniform", "Conv2D"),
                                         init_arg(c, "bias_initializer", "zeros", "Conv2D"), name_of(c),
                                         c.get("groups", int64_t{1})),
                c);
}

Json Conv2DTranspose::config() const {
  Json c = Layer::config();
  c["filters"] = filters_;
  c["kernel_size"] = pair_json(kernel_);
  c["strides"] = pair_json(strides_);
  c["padding"] = padding_;
  c["output_padding"] = has_output_padding() ? pair_json(output_padding_) : Json();
  c["dilation_rate"] = pair_json(dilation_);
  c["activation"] = activation_name(act_);
  c["use_bias"] = use_bias_;
  c["kernel_initializer"] = kernel_init_.to_json();
  c["bias_initializer"] = bias_init_.to_json();
  return c;
}

LayerPtr Conv2DTranspose::from_config(const Json& c) {
  c.at("kernel_size", "Conv2DTranspose config");  // required
  return finish(std::make_shared<Conv2DTranspose>(
                    c.at("filters", "Conv2DTranspose config").as_int("Conv2DTranspose filters"),
                    get_pair(c, "kernel_size", {0, 0}), get_pair(c, "strides", {1, 1}), c.get("padding", "valid"),
                    get_pair(c, "output_padding", {-1, -1}), get_pair(c, "dilation_rate", {1, 1}),
                    c.get("activation", "linear"), c.get("use_bias", true),
                    init_arg(c, "kernel_initializer", "glorot_uniform", "Conv2DTranspose"),
                    init_arg(c, "bias_initializer", "zeros", "Conv2DTranspose"), name_of(c)),
                c);
}

Json DepthwiseConv2D::config() const {
  Json c = Layer::config();
  if (filters_ > 0) c["filters"] = filters_;
  c["kernel_size"] = pair_json(kernel_);
  c["strides"] = pair_json(strides_);
  c["padding"] = padding_;
  c["depth_multiplier"] = multiplier_;
  c["dilation_rate"] = pair_json(dilation_);
  c["activation"] = activation_name(act_);
  c["use_bias"] = use_bias_;
  c["depthwise_initializer"] = depthwise_init_.to_json();
  if (filters_ > 0) c["pointwise_initializer"] = pointwise_init_.to_json();
  c["bias_initializer"] = bias_init_.to_json();
  return c;
}

LayerPtr DepthwiseConv2D::from_config(const Json& c) {
  c.at("kernel_size", "DepthwiseConv2D config");  // required
  return finish(std::make_shared<DepthwiseConv2D>(
                    get_pair(c, "kernel_size", {0, 0}), get_pair(c, "strides", {1, 1}), c.get("padding", "valid"),
                    c.get("depth_multiplier", int64_t{1}), get_pair(c, "dilation_rate", {1, 1}),
                    c.get("activation", "linear"), c.get("use_bias", true),
                    init_arg(c, "depthwise_initializer", "glorot_uniform", "DepthwiseConv2D"),
                    init_arg(c, "bias_initializer", "zeros", "DepthwiseConv2D"), name_of(c)),
                c);
}

Json SeparableConv2D::config() const { return DepthwiseConv2D::config(); }

Json DepthwiseConv1D::config() const {
  Json c = DepthwiseConv2D::config();
  c["kernel_size"] = single_json(kernel_size()[1]);
  c["strides"] = single_json(strides()[1]);
  c["dilation_rate"] = single_json(dilation_rate()[1]);
  return c;
}

LayerPtr DepthwiseConv1D::from_config(const Json& c) {
  c.at("kernel_size", "DepthwiseConv1D config");  // required
  return finish(std::make_shared<DepthwiseConv1D>(
                    get_single(c, "kernel_size", 0), get_single(c, "strides", 1), c.get("padding", "valid"),
                    c.get("depth_multiplier", int64_t{1}), get_single(c, "dilation_rate", 1),
                    c.get("activation", "linear"), c.get("use_bias", true),
                    init_arg(c, "depthwise_initializer", "glorot_uniform", "DepthwiseConv1D"),
                    init_arg(c, "bias_initializer", "zeros", "DepthwiseConv1D"), name_of(c)),
                c);
}

Json SeparableConv1D::config() const {
  Json c = SeparableConv2D::config();
  c["kernel_size"] = single_json(kernel_size()[1]);
  c["strides"] = single_json(strides()[1]);
  c["dilation_rate"] = single_json(dilation_rate()[1]);
  return c;
}

LayerPtr SeparableConv1D::from_config(const Json& c) {
  c.at("kernel_size", "SeparableConv1D config");  // required
  return finish(std::make_shared<SeparableConv1D>(
                    c.at("filters", "SeparableConv1D config").as_int("SeparableConv1D filters"),
                    get_single(c, "kernel_size", 0), get_single(c, "strides", 1), c.get("padding", "valid"),
                    c.get("depth_multiplier", int64_t{1}), get_single(c, "dilation_rate", 1),
                    c.get("activation", "linear"), c.get("use_bias", true),
                    init_arg(c, "depthwise_initializer", "glorot_uniform", "SeparableConv1D"),
                    init_arg(c, "pointwise_initializer", "glorot_uniform", "SeparableConv1D"),
                    init_arg(c, "bias_initializer", "zeros", "SeparableConv1D"), name_of(c)),
                c);
}

LayerPtr SeparableConv2D::from_config(const Json& c) {
  c.at("kernel_size", "SeparableConv2D config");  // required
  return finish(std::make_shared<SeparableConv2D>(
                    c.at("filters", "SeparableConv2D config").as_int("SeparableConv2D filters"),
                    get_pair(c, "kernel_size", {0, 0}), get_pair(c, "strides", {1, 1}), c.get("padding", "valid"),
                    c.get("depth_multiplier", int64_t{1}), get_pair(c, "dilation_rate", {1, 1}),
                    c.get("activation", "linear"), c.get("use_bias", true),
                    init_arg(c, "depthwise_initializer", "glorot_uniform", "SeparableConv2D"),
                    init_arg(c, "pointwise_initializer", "glorot_uniform", "SeparableConv2D"),
                    init_arg(c, "bias_initializer", "zeros", "SeparableConv2D"), name_of(c)),
                c);
}

Json UpSampling2D::config() const {
  Json c = Layer::config();
  c["size"] = pair_json(size_);
  c["interpolation"] = interpolation_;
  return c;
}

LayerPtr UpSampling2D::from_config(const Json& c) {
  return finish(std::make_shared<UpSampling2D>(get_pair(c, "size", {2, 2}), c.get("interpolation", "nearest"),
                                               name_of(c)),
                c);
}

Json Pooling2D::config() const {
  Json c = Layer::config();
  c["pool_size"] = pair_json(pool_);
  c["strides"] = pair_json(strides_);
  c["padding"] = padding_;
  return c;
}

LayerPtr MaxPooling2D::from_config(const Json& c) {
  return finish(std::make_shared<MaxPooling2D>(get_pair(c, "pool_size", {2, 2}), get_pair(c, "strides", {0, 0}),
                                               c.get("padding", "valid"), name_of(c)),
                c);
}

LayerPtr AveragePooling2D::from_config(const Json& c) {
  return finish(std::make_shared<AveragePooling2D>(get_pair(c, "pool_size", {2, 2}), get_pair(c, "strides", {0, 0}),
                                                   c.get("padding", "valid"), name_of(c)),
                c);
}

Json GlobalPooling::config() const { return Layer::config(); }

LayerPtr GlobalAveragePooling2D::from_config(const Json& c) {
  return finish(std::make_shared<GlobalAveragePooling2D>(name_of(c)), c);
}

LayerPtr GlobalMaxPooling2D::from_config(const Json& c) {
  return finish(std::make_shared<GlobalMaxPooling2D>(name_of(c)), c);
}

Json ZeroPadding2D::config() const {
  Json c = Layer::config();
  Json p = Json::array();
  p.push_back(pair_json(h_));
  p.push_back(pair_json(w_));
  c["padding"] = p;
  return c;
}

LayerPtr ZeroPadding2D::from_config(const Json& c) {
  Pair h{1, 1}, w{1, 1};
  get_pair_of_pairs(c, "padding", "ZeroPadding2D", h, w);
  return finish(std::make_shared<ZeroPadding2D>(h, w, name_of(c)), c);
}

Json Cropping2D::config() const {
  Json c = Layer::config();
  c["cropping"] = pair_of_pairs_json(h_, w_);
  return c;
}

LayerPtr Cropping2D::from_config(const Json& c) {
  Pair h{0, 0}, w{0, 0};
  get_pair_of_pairs(c, "cropping", "Cropping2D", h, w);
  return finish(std::make_shared<Cropping2D>(h, w, name_of(c)), c);
}

Json Cropping1D::config() const {
  Json c = Layer::config();
  c["cropping"] = pair_json(cropping());
  return c;
}

LayerPtr Cropping1D::from_config(const Json& c) {
  return finish(std::make_shared<Cropping1D>(get_pair(c, "cropping", {1, 1}), name_of(c)), c);
}

// ---- sequence layers ---------------------------------------------------------------------------------------------
Json Embedding::config() const {
  Json c = Layer::config();
  c["input_dim"] = input_dim_;
  c["output_dim"] = output_dim_;
  c["embeddings_initializer"] = init_.to_json();
  c["mask_zero"] = mask_zero_;
  if (input_length_ > 0) c["input_length"] = input_length_;
  return c;
}

LayerPtr Embedding::from_config(const Json& c) {
  return finish(std::make_shared<Embedding>(c.at("input_dim", "Embedding config").as_int("Embedding input_dim"),
                                            c.at("output_dim", "Embedding config").as_int("Embedding output_dim"),
                                            init_arg(c, "embeddings_initializer", "uniform", "Embedding"),
                                            c.get("mask_zero", false),
                                            c.get("input_length", int64_t{0}), name_of(c)),
                c);
}

Json Conv1D::config() const {
  Json c = Conv2D::config();
  c["kernel_size"] = single_json(kernel_size());
  c["strides"] = single_json(strides());
  c["dilation_rate"] = single_json(dilation_rate());
  return c;
}

LayerPtr Conv1D::from_config(const Json& c) {
  c.at("kernel_size", "Conv1D config");  // required
  return finish(std::make_shared<Conv1D>(c.at("filters", "Conv1D config").as_int("Conv1D filters"),
                                         get_single(c, "kernel_size", 0), get_single(c, "strides", 1),
                                         c.get("padding", "valid"), get_single(c, "dilation_rate", 1),
                                         c.get("activation", "linear"), c.get("use_bias", true),
                                         init_arg(c, "kernel_initializer", "glorot_uniform", "Conv1D"),
                                         init_arg(c, "bias_initializer", "zeros", "Conv1D"), name_of(c),
                                         c.get("groups", int64_t{1})),
                c);
}

Json Conv1DTranspose::config() const {
  Json c = Conv2DTranspose::config();
  c["kernel_size"] = single_json(kernel_size());
  c["strides"] = single_json(strides());
  c["output_padding"] = has_output_padding() ? single_json(output_padding()) : Json();
  c["dilation_rate"] = single_json(dilation_rate());
  return c;
}

LayerPtr Conv1DTranspose::from_config(const Json& c) {
  c.at("kernel_size", "Conv1DTranspose config");  // required
  return finish(std::make_shared<Conv1DTranspose>(
                    c.at("filters", "Conv1DTranspose config").as_int("Conv1DTranspose filters"),
                    get_single(c, "kernel_size", 0), get_single(c, "strides", 1), c.get("padding", "valid"),
                    get_single(c, "output_padding", -1), get_single(c, "dilation_rate", 1),
                    c.get("activation", "linear"), c.get("use_bias", true),
                    init_arg(c, "kernel_initializer", "glorot_uniform", "Conv1DTranspose"),
                    init_arg(c, "bias_initializer", "zeros", "Conv1DTranspose"), name_of(c)),
                c);
}

Json UpSampling1D::config() const {
  Json c = Layer::config();
  c["size"] = size();
  return c;
}

LayerPtr UpSampling1D::from_config(const Json& c) {
  return finish(std::make_shared<UpSampling1D>(get_single(c, "size", 2), name_of(c)), c);
}

Json Pooling1D::config() const {
  Json c = Pooling2D::config();
  c["pool_size"] = single_json(pool_size());
  c["strides"] = single_json(strides());
  return c;
}

LayerPtr MaxPooling1D::from_config(const Json& c) {
  return finish(std::make_shared<MaxPooling1D>(get_single(c, "pool_size", 2), get_single(c, "strides", 0),
                                               c.get("padding", "valid"), name_of(c)),
                c);
}

LayerPtr AveragePooling1D::from_config(const Json& c) {
  return finish(std::make_shared<AveragePooling1D>(get_single(c, "pool_size", 2), get_single(c, "strides", 0),
                                                   c.get("padding", "valid"), name_of(c)),
                c);
}

LayerPtr GlobalAveragePooling1D::from_config(const Json& c) {
  return finish(std::make_shared<GlobalAveragePooling1D>(name_of(c)), c);
}

LayerPtr GlobalMaxPooling1D::from_config(const Json& c) {
  return finish(std::make_shared<GlobalMaxPooling1D>(name_of(c)), c);
}

// The inner layer's regularizers live in its own config; the base part here only repeats them (shared Params).
Json TimeDistributed::config() const {
  Json c = Layer::config();
  c["layer"] = layer_spec(*inner_);
  return c;
}

LayerPtr TimeDistributed::from_config(const Json& c) {
  return finish(std::make_shared<TimeDistributed>(layer_from_config(c.at("layer", "TimeDistributed config")),
                                                  name_of(c)),
                c);
}

// ---- normalization ----------------------------------------------------------------------------------------------
Json AffineNormalization::config() const {
  Json c = Layer::config();
  c["axis"] = axis_;
  c["epsilon"] = epsilon_;
  c["center"] = center_;
  c["scale"] = scale_;
  c["beta_initializer"] = beta_init_.to_json();
  c["gamma_initializer"] = gamma_init_.to_json();
  return c;
}

Json BatchNormalization::config() const {
  Json c = AffineNormalization::config();
  c["momentum"] = momentum_;
  c["moving_mean_initializer"] = mean_init_.to_json();
  c["moving_variance_initializer"] = var_init_.to_json();
  return c;
}

LayerPtr BatchNormalization::from_config(const Json& c) {
  return finish(std::make_shared<BatchNormalization>(
                    c.get("axis", int64_t{-1}), c.get("momentum", 0.99f), c.get("epsilon", 1e-3f),
                    c.get("center", true), c.get("scale", true),
                    init_arg(c, "beta_initializer", "zeros", "BatchNormalization"),
                    init_arg(c, "gamma_initializer", "ones", "BatchNormalization"),
                    init_arg(c, "moving_mean_initializer", "zeros", "BatchNormalization"),
                    init_arg(c, "moving_variance_initializer", "ones", "BatchNormalization"), name_of(c)),
                c);
}

LayerPtr LayerNormalization::from_config(const Json& c) {
  return finish(std::make_shared<LayerNormalization>(c.get("axis", int64_t{-1}), c.get("epsilon", 1e-3f),
                                                     c.get("center", true), c.get("scale", true),
                                                     init_arg(c, "beta_initializer", "zeros", "LayerNormalization"),
                                                     init_arg(c, "gamma_initializer", "ones", "LayerNormalization"),
                                                     name_of(c)),
                c);
}

// Keras writes axis as a list (its tuple; [] for None); an int or null are read too.
Json Normalization::config() const {
  Json c = Layer::config();
  c["axis"] = Shape(axis_);
  c["invert"] = invert_;
  c["mean"] = values_json(input_mean_);
  c["variance"] = values_json(input_variance_);
  return c;
}

LayerPtr Normalization::from_config(const Json& c) {
  std::vector<int64_t> axis{-1};
  if (const Json* a = c.find("axis")) {
    if (a->is_null()) axis.clear();
    else if (a->is_array()) axis = a->as_shape("Normalization axis");
    else axis = {a->as_int("Normalization axis")};
  }
  return finish(std::make_shared<Normalization>(axis, get_values(c, "mean", "Normalization"),
                                                get_values(c, "variance", "Normalization"), c.get("invert", false),
                                                name_of(c)),
                c);
}

// ---- merging ----------------------------------------------------------------------------------------------------
Json ElementwiseMerge::config() const { return Layer::config(); }

LayerPtr Add::from_config(const Json& c) { return finish(std::make_shared<Add>(name_of(c)), c); }
LayerPtr Subtract::from_config(const Json& c) { return finish(std::make_shared<Subtract>(name_of(c)), c); }
LayerPtr Multiply::from_config(const Json& c) { return finish(std::make_shared<Multiply>(name_of(c)), c); }
LayerPtr Average::from_config(const Json& c) { return finish(std::make_shared<Average>(name_of(c)), c); }
LayerPtr Maximum::from_config(const Json& c) { return finish(std::make_shared<Maximum>(name_of(c)), c); }
LayerPtr Minimum::from_config(const Json& c) { return finish(std::make_shared<Minimum>(name_of(c)), c); }

Json Concatenate::config() const {
  Json c = Layer::config();
  c["axis"] = axis_;
  return c;
}

LayerPtr Concatenate::from_config(const Json& c) {
  return finish(std::make_shared<Concatenate>(c.get("axis", int64_t{-1}), name_of(c)), c);
}

// Keras writes axes as given: an int, or a pair.
Json Dot::config() const {
  Json c = Layer::config();
  if (single_) {
    c["axes"] = axes_[0];
  } else {
    Json a = Json::array();
    a.push_back(axes_[0]);
    a.push_back(axes_[1]);
    c["axes"] = a;
  }
  c["normalize"] = normalize_;
  return c;
}

LayerPtr Dot::from_config(const Json& c) {
  const Json& a = c.at("axes", "Dot config");
  const bool normalize = c.get("normalize", false);
  if (!a.is_array()) return finish(std::make_shared<Dot>(a.as_int("Dot axes"), normalize, name_of(c)), c);
  const Shape s = a.as_shape("Dot axes");
  NNC_CHECK(s.size() == 2, "Dot axes: expected an int or a pair of ints, got ", s.size(), " entries");
  return finish(std::make_shared<Dot>(std::array<int64_t, 2>{s[0], s[1]}, normalize, name_of(c)), c);
}

}  // namespace nncore
