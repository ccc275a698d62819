// Whole-model and weights files (format described in nncore/io.hpp).
#include <map>
#include <set>

#include "layers/common.hpp"
#include "nncore/check.hpp"
#include "nncore/io.hpp"

namespace nncore {

namespace {

const char* const kOptimizerPrefix = "optimizer/";

std::string weight_key(const Layer& l, const Param& p) { return l.name() + "/" + p.name; }

void check_unique_names(const Model& m, const std::string& what) {
  std::set<std::string> seen;
  for (const auto& l : m.layers())
    NNC_CHECK(seen.insert(l->name()).second, what, ": layer names must be unique within model '", m.name(),
              "', '", l->name(), "' appears more than once");
}

std::vector<TensorToWrite> weight_tensors(Model& m) {
  std::vector<TensorToWrite> out;
  for (const auto& l : m.layers())
    for (const Param& p : l->params()) out.push_back({weight_key(*l, p), &p.value, p.int8});
  return out;
}

const char* dtype_name(bool int8) { return int8 ? "I8" : "F32"; }

// Whether the file stores tensor `name` (which it holds) as I8.
bool file_int8(const TensorFile& f, const std::string& name) {
  for (const NamedTensor& nt : f.tensors)
    if (nt.name == name) return nt.int8;
  return false;
}

// After the weights were copied in: the quantized layers check their int8 weights and scales and re-pack them;
// a bad value is a broken file.
void refresh_loaded(Model& m, const std::string& source) {
  try {
    m.refresh_quantized();
  } catch (const std::invalid_argument& e) {
    throw ModelFileError(str_cat(source, ": ", e.what()));
  }
}

std::string list(const std::vector<std::string>& names) {
  std::string s;
  for (size_t i = 0; i < names.size() && i < 20; ++i) s += (i ? ", " : "") + names[i];
  if (names.size() > 20) s += str_cat(", ... (", names.size(), " in all)");
  return s;
}

// Copies the file's weights into the model by name; every model weight must be in the file and every weight
// tensor of the file (all but the optimizer's) must belong to the model.
void assign_weights(Model& m, const TensorFile& f, const std::string& source) {
  std::vector<std::string> missing, unexpected, mismatched, retyped;
  std::set<std::string> used;
  for (const auto& l : m.layers())
    for (Param& p : l->params()) {
      const std::string key = weight_key(*l, p);
      const Tensor* t = f.find(key);
      if (!t) {
        missing.push_back(key);
        continue;
      }
      used.insert(key);
      if (t->shape() != p.value.shape())
        mismatched.push_back(str_cat(key, " (model ", shape_str(p.value.shape()), ", file ", shape_str(t->shape()), ")"));
      else if (file_int8(f, key) != p.int8)
        retyped.push_back(str_cat(key, " (model ", dtype_name(p.int8), ", file ", dtype_name(!p.int8), ")"));
    }
  for (const NamedTensor& nt : f.tensors)
    if (nt.name.rfind(kOptimizerPrefix, 0) != 0 && !used.count(nt.name)) unexpected.push_back(nt.name);
  if (!missing.empty() || !unexpected.empty() || !mismatched.empty() || !retyped.empty()) {
    std::string msg = str_cat(source, ": the file's weights do not match model '", m.name(), "'");
    if (!missing.empty()) msg += str_cat("; missing from the file: ", list(missing));
    if (!unexpected.empty()) msg += str_cat("; unexpected in the file: ", list(unexpected));
    if (!mismatched.empty()) msg += str_cat("; shape mismatch: ", list(mismatched));
    if (!retyped.empty()) msg += str_cat("; dtype mismatch (a quantized model's file? quantize the model first): ",
                                         list(retyped));
    if (!missing.empty() && !unexpected.empty())
      msg += " (layers named differently? load_weights(..., by_name=false) takes the weights in file order)";
    throw ModelFileError(msg);
  }
  for (const auto& l : m.layers())
    for (Param& p : l->params()) {
      p.value.copy_from(*f.find(weight_key(*l, p)));
      p.changed();
    }
  refresh_loaded(m, source);
}

// Calls fn("optimizer/<layer>/<weight>/<slot>", slot) for every optimizer slot, walking the trainable parameters
// in the order Sequential::trainable_params() gives the optimizer.
template <typename Fn>
void for_each_slot(Model& m, Optimizer& opt, Fn fn) {
  size_t index = 0;
  for (const auto& l : m.layers()) {
    if (!l->trainable()) continue;
    for (Param& p : l->params()) {
      if (!p.trainable) continue;
      for (auto& slot : opt.slots(index)) fn(str_cat(kOptimizerPrefix, weight_key(*l, p), "/", slot.first), slot.second);
      ++index;
    }
  }
}

Json compile_config(const Model& m) {
  Json c = Json::object();
  auto loss_json = [](const Loss& l) {
    Json j = Json::object();
    j["name"] = l.name();
    j["from_logits"] = l.from_logits();
    if (l.label_smoothing() > 0.f) j["label_smoothing"] = static_cast<double>(l.label_smoothing());
    if (l.kind() != LossKind::custom && l.batch_sum()) j["batch_sum"] = true;
    if (l.kind() == LossKind::custom) {  // the traced function, so that C++ loads and trains without Python
      j["custom"] = true;
      j["batch_sum"] = l.batch_sum();
      j["graph"] = model_config(dynamic_cast<const Model&>(*l.graph()));
    }
    return j;
  };
  if (m.num_outputs() == 1) {
    c["loss"] = loss_json(m.loss());
  } else {
    Json all = Json::array();
    for (size_t j = 0; j < m.num_outputs(); ++j) all.push_back(loss_json(m.loss(j)));
    c["loss"] = all;
  }
  // Metrics: names when every output has the same plain names (the format before per-output metrics), else one
  // list of specs per output; a metric that averages a traced loss function keeps its graph, and one kept by the
  // caller (a Python Metric subclass) is recorded for the caller but skipped when C++ loads the file.
  auto metric_json = [&](const Metric& mt) {
    Json j = mt.config();
    if (mt.kind() == MetricKind::loss && mt.loss()->kind() == LossKind::custom) {
      j["loss"] = loss_json(*mt.loss());
      if (mt.root()) j["root"] = true;
    }
    return j;
  };
  bool plain = true;
  for (const auto& out : m.metrics())
    for (size_t k = 0; k < out.size(); ++k)
      plain = plain && out[k].plain() && m.metrics()[0].size() == out.size() && m.metrics()[0][k].name() == out[k].name();
  Json metrics = Json::array();
  for (size_t j = 0; j < m.metrics().size(); ++j) {
    if (plain) {
      if (j == 0)
        for (const Metric& mt : m.metrics()[0]) metrics.push_back(mt.name());
      continue;
    }
    Json list = Json::array();
    for (const Metric& mt : m.metrics()[j]) list.push_back(metric_json(mt));
    metrics.push_back(list);
  }
  c["metrics"] = metrics;
  if (!m.loss_weights().empty()) {
    Json w = Json::array();
    for (float v : m.loss_weights()) w.push_back(Json(static_cast<double>(v)));
    c["loss_weights"] = w;
  }
  c["optimizer"] = optimizer_spec(*m.optimizer());
  return c;
}

// The optimizer's iteration count and slots from a model file into `opt`, the optimizer of m's trainable parameters:
// matched by "optimizer/<layer>/<weight>/<slot>" name, or in file order (nncore writes them in model order) for a
// model of the same architecture whose layers are named otherwise. A file without optimizer state leaves it as is.
void restore_optimizer(Model& m, Optimizer& opt, const TensorFile& f, const std::string& source, bool by_name) {
  const std::string* iters = f.meta("optimizer_iterations");
  if (!iters) return;
  int64_t iterations = 0;
  try {
    iterations = Json::parse(*iters).as_int("optimizer_iterations");
  } catch (const std::invalid_argument& e) {
    throw ModelFileError(str_cat(source, ": corrupt optimizer_iterations: ", e.what()));
  }
  std::vector<const NamedTensor*> saved;
  for (const NamedTensor& nt : f.tensors)
    if (nt.name.rfind(kOptimizerPrefix, 0) == 0) saved.push_back(&nt);
  if (!saved.empty()) {
    opt.build_state(m.trainable_params());
    size_t k = 0;
    for_each_slot(m, opt, [&](const std::string& key, Tensor* slot) {
      const Tensor* t = nullptr;
      if (by_name) {
        t = f.find(key);
        if (!t) throw ModelFileError(str_cat(source, ": optimizer state '", key, "' is missing from the file"));
      } else {
        if (k >= saved.size())
          throw ModelFileError(str_cat(source, ": the file holds ", saved.size(), " optimizer state tensors, model '",
                                       m.name(), "''s optimizer has more"));
        t = &saved[k]->tensor;
      }
      if (t->shape() != slot->shape())
        throw ModelFileError(str_cat(source, ": optimizer state '", by_name ? key : saved[k]->name, "' has shape ",
                                     shape_str(t->shape()), ", expected ", shape_str(slot->shape()), " (", key, ")"));
      slot->copy_from(*t);
      ++k;
    });
    if (!by_name && k != saved.size())
      throw ModelFileError(str_cat(source, ": the file holds ", saved.size(), " optimizer state tensors, model '",
                                   m.name(), "''s optimizer has ", k));
  }
  opt.set_iterations(iterations);
}

void apply_compile_config(Model& m, const Json& c, const TensorFile& f, const std::string& source) {
  const Json& loss = c.at("loss", "compile_config");
  auto loss_from = [](const Json& l) {
    const std::string name = l.at("name", "compile_config loss").as_string("loss name");
    if (name == "none") return Loss::none();
    if (l.get("custom", false))
      return Loss::custom(std::shared_ptr<Model>(model_from_config(l.at("graph", "custom loss"))), name,
                          l.get("batch_sum", false));
    return Loss::from_name(name, l.get("from_logits", false))
        .with_label_smoothing(l.get("label_smoothing", 0.f))
        .with_batch_sum(l.get("batch_sum", false));
  };
  std::vector<Loss> losses;
  if (loss.is_array())
    for (const Json& l : loss.as_array("compile_config loss")) losses.push_back(loss_from(l));
  else
    losses.push_back(loss_from(loss));
  const std::vector<Json>& saved = c.at("metrics", "compile_config").as_array("compile_config metrics");
  const bool per_output = !saved.empty() && saved[0].is_array();
  auto opt = optimizer_from_config(c.at("optimizer", "compile_config"));
  try {
    const size_t n_out = std::max<size_t>(m.num_outputs(), 1);
    std::vector<std::vector<Metric>> metrics(n_out);
    NNC_CHECK(!per_output || saved.size() == n_out, "compile_config: expected one metric list per output (", n_out,
              "), got ", saved.size());
    for (size_t j = 0; j < n_out; ++j) {
      const Loss& lj = losses.size() == n_out ? losses[j] : losses[0];
      Shape out;  // unknown before the model is built
      if (m.built()) out = m.output_shape(j).empty() ? Shape{1} : m.output_shape(j);
      for (const Json& spec : per_output ? saved[j].as_array("compile_config metrics") : saved) {
        if (spec.is_object() && spec.get("external", false)) continue;  // kept by the caller that saved it
        if (const Json* l = spec.is_object() ? spec.find("loss") : nullptr) {
          Metric mt = Metric::from_loss(loss_from(*l), spec.at("name", "metric").as_string("metric name"),
                                        spec.get("root", false));
          mt.set_weighted(spec.get("weighted", false));
          metrics[j].push_back(mt);
        } else {
          metrics[j].push_back(Metric::from_config(spec, lj, out));
        }
      }
    }
    m.compile(opt, losses, metrics);
    if (const Json* w = c.find("loss_weights"); w != nullptr && !w->is_null()) {
      std::vector<float> ws;
      for (const Json& v : w->as_array("compile_config loss_weights"))
        ws.push_back(static_cast<float>(v.as_number("loss weight")));
      m.set_loss_weights(ws);
    }
  } catch (const std::invalid_argument& e) {
    // E.g. a metric whose target layout differs from its loss's, which earlier builds accepted (and misread).
    throw ModelFileError(str_cat(source, ": the saved compile settings are refused: ", e.what(),
                                 ". The architecture and weights are fine: load with compile=False and compile again"));
  }
  restore_optimizer(m, *opt, f, source, true);
}

}  // namespace

Json model_config(const Model& m) {
  Json c = Json::object();
  c["class_name"] = m.class_name();
  c["name"] = m.name();
  if (m.class_name() == "Sequential") {
    c["input_shape"] = m.built() ? Json(m.input_shape()) : Json();
    Json layers = Json::array();
    for (const auto& l : m.layers()) layers.push_back(layer_spec(*l));
    c["layers"] = layers;
    return c;
  }
  Json inputs = Json::array();
  for (size_t i = 0; i < m.num_inputs(); ++i) {
    Json in = Json::object();
    in["name"] = m.input_name(i);
    in["shape"] = m.input_shape(i);
    inputs.push_back(in);
  }
  c["inputs"] = inputs;
  Json layers = Json::array();
  for (const auto& l : m.layers()) layers.push_back(layer_spec(*l));
  c["layers"] = layers;
  auto ref = [](const TensorRef& r) {
    Json a = Json::array();
    a.push_back(r.layer);
    a.push_back(static_cast<int64_t>(r.call));
    a.push_back(static_cast<int64_t>(r.output));
    return a;
  };
  Json nodes = Json::array();
  for (size_t k = 0; k < m.num_nodes(); ++k) {
    Json node = Json::object();
    node["layer"] = m.node_layer(k)->name();
    Json inbound = Json::array();
    for (const TensorRef& r : m.node_inputs(k)) inbound.push_back(ref(r));
    node["inbound"] = inbound;
    nodes.push_back(node);
  }
  c["nodes"] = nodes;
  Json outputs = Json::array();
  for (size_t j = 0; j < m.num_outputs(); ++j) outputs.push_back(ref(m.output_ref(j)));
  c["outputs"] = outputs;
  return c;
}

namespace {
// A functional config's tensor reference: [layer or input name, call index, output index], or (format 1) a name.
TensorRef tensor_ref(const Json& j, const std::string& what) {
  if (j.type() == Json::Type::string) return {j.as_string(what), 0, 0};
  const auto& a = j.as_array(what);
  NNC_CHECK(a.size() == 3, what, ": expected [name, call index, output index], got ", a.size(), " entries");
  const int64_t call = a[1].as_int(what + " call index"), out = a[2].as_int(what + " output index");
  NNC_CHECK(call >= 0 && out >= 0, what, ": indices must be >= 0, got ", call, ", ", out);
  return {a[0].as_string(what + " name"), static_cast<size_t>(call), static_cast<size_t>(out)};
}
}  // namespace

std::unique_ptr<Model> model_from_config(const Json& c) {
  NNC_CHECK(c.is_object(), "model config: expected an object");
  const std::string cls = c.get("class_name", "Sequential");
  const auto& specs = c.at("layers", "model config").as_array("model config layers");
  const Json* in_specs = c.find("inputs");
  const size_t n_inputs = in_specs && in_specs->is_array() ? in_specs->as_array("model config inputs").size() : 0;
  const Json* node_specs = c.find("nodes");
  const size_t n_nodes = node_specs && node_specs->is_array() ? node_specs->as_array("model config nodes").size() : 0;
  NNC_CHECK(static_cast<int64_t>(specs.size() + n_inputs) <= kMaxModelLayers, "model config: ", specs.size(),
            " layers and ", n_inputs, " inputs exceed the limit of ", kMaxModelLayers,
            " layers per model (nncore::kMaxModelLayers)");
  NNC_CHECK(static_cast<int64_t>(n_nodes) <= kMaxModelLayers, "model config: ", n_nodes,
            " layer calls exceed the limit of ", kMaxModelLayers, " per model (nncore::kMaxModelLayers)");
  if (cls == "Sequential") {
    auto m = std::make_unique<Sequential>(c.get("name", ""));
    std::vector<LayerPtr> layers;
    layers.reserve(specs.size());
    for (const Json& spec : specs) layers.push_back(layer_from_config(spec));
    m->add(std::move(layers));
    const Json* in = c.find("input_shape");
    if (in && !in->is_null()) m->build(in->as_shape("model config input_shape"));
    return m;
  }
  NNC_CHECK(cls == "Functional", "model config: unknown model class '", cls, "' (known: Sequential, Functional)");
  // Replays the layer calls in the saved order (every call after the calls and inputs it reads). Format 1 lists no
  // "nodes": each layer is called once, on the names in its "inbound".
  std::map<std::string, SymbolicTensor> input_of;
  std::map<std::string, LayerPtr> layer_of;
  std::map<std::string, std::vector<std::vector<SymbolicTensor>>> calls_of;  // layer -> per call, its outputs
  std::vector<SymbolicTensor> inputs, outputs;
  for (const Json& in : c.at("inputs", "model config").as_array("model config inputs")) {
    const std::string& name = in.at("name", "model input").as_string("model input name");
    NNC_CHECK(!input_of.count(name), "model config: the name '", name, "' is used twice");
    SymbolicTensor t = Input(in.at("shape", "model input").as_shape("model input shape"), name);
    input_of[name] = t;
    inputs.push_back(t);
  }
  auto resolve = [&](const TensorRef& r, const std::string& reader) -> SymbolicTensor {
    const auto in = input_of.find(r.layer);
    if (in != input_of.end()) {
      NNC_CHECK(r.call == 0 && r.output == 0, "model config: ", reader, " reads input '", r.layer, "' as [",
                r.call, "][", r.output, "]; an input has only [0][0]");
      return in->second;
    }
    const auto it = calls_of.find(r.layer);
    NNC_CHECK(it != calls_of.end() && r.call < it->second.size(), "model config: ", reader, " reads '", r.layer,
              "' call ", r.call, ", which is not an input or an earlier layer call");
    NNC_CHECK(r.output < it->second[r.call].size(), "model config: ", reader, " reads output ", r.output, " of '",
              r.layer, "', which has ", it->second[r.call].size(), " output(s)");
    return it->second[r.call][r.output];
  };
  auto call_layer = [&](const LayerPtr& layer, const std::vector<SymbolicTensor>& args) {
    calls_of[layer->name()].push_back(call_outputs(layer, args));
  };
  for (const Json& spec : specs) {
    LayerPtr layer = layer_from_config(spec);
    NNC_CHECK(!layer_of.count(layer->name()) && !input_of.count(layer->name()), "model config: the name '",
              layer->name(), "' is used twice");
    layer_of[layer->name()] = layer;
    if (node_specs != nullptr) continue;
    std::vector<SymbolicTensor> args;
    for (const Json& n : spec.at("inbound", "model config layer").as_array("layer inbound"))
      args.push_back(resolve({n.as_string("layer inbound name"), 0, 0}, "layer '" + layer->name() + "'"));
    call_layer(layer, args);
  }
  if (node_specs != nullptr) {
    for (const Json& node : node_specs->as_array("model config nodes")) {
      const std::string& name = node.at("layer", "model config node").as_string("node layer");
      const auto it = layer_of.find(name);
      NNC_CHECK(it != layer_of.end(), "model config: a node calls layer '", name, "', which is not in \"layers\"");
      std::vector<SymbolicTensor> args;
      for (const Json& r : node.at("inbound", "model config node").as_array("node inbound"))
        args.push_back(resolve(tensor_ref(r, "node inbound"), "layer '" + name + "'"));
      call_layer(it->second, args);
    }
  }
  for (const Json& n : c.at("outputs", "model config").as_array("model config outputs"))
    outputs.push_back(resolve(tensor_ref(n, "model output"), "the model's output"));
  return std::make_unique<Model>(inputs, outputs, c.get("name", ""));
}

void save_model(Model& m, const std::string& path, bool include_optimizer) {
  check_unique_names(m, "save");
  // What load_model would refuse is refused here, before anything is written.
  NNC_CHECK(static_cast<int64_t>(m.layers().size() + m.num_inputs()) <= kMaxModelLayers, "save: model '", m.name(),
            "' has ", m.layers().size(), " layers and ", m.num_inputs(), " inputs, over the limit of ",
            kMaxModelLayers, " per model file (nncore::kMaxModelLayers)");
  auto tensors = weight_tensors(m);
  std::vector<std::pair<std::string, std::string>> meta = {
      {"format", "nncore"}, {"format_version", std::to_string(kModelFormatVersion)},
      {"model_config", model_config(m).dump()}};
  if (m.compiled()) meta.emplace_back("compile_config", compile_config(m).dump());
  for (const auto& [key, text] : meta)
    NNC_CHECK(static_cast<int64_t>(text.size()) <= kMaxConfigBytes, "save: model '", m.name(), "': its ", key, " is ",
              text.size(), " bytes, over the limit of ", kMaxConfigBytes, " (nncore::kMaxConfigBytes)");
  if (m.compiled()) {
    if (include_optimizer) {
      Optimizer& opt = *m.optimizer();
      const std::vector<Param*> params = m.trainable_params();
      meta.emplace_back("optimizer_iterations", std::to_string(opt.iterations()));
      if (opt.bound_to(params))
        for_each_slot(m, opt, [&](const std::string& key, Tensor* slot) { tensors.push_back({key, slot, false}); });
    }
  }
  write_safetensors(path, tensors, meta);
}

namespace {
// The model in a parsed file; `path` names the source in errors.
std::unique_ptr<Model> model_from_file(const TensorFile& f, const std::string& path, bool compile) {
  try {
    const std::string* format = f.meta("format");
    if (format && *format == "nncore-weights")
      throw ModelFileError(str_cat(path, ": a weights-only file (no model_config): build the model and use load_weights"));
    if (!format || *format != "nncore")
      throw ModelFileError(str_cat(path, ": not an nncore model file (metadata \"format\" is ",
                                   format ? "'" + *format + "'" : std::string("missing"), ", expected 'nncore')"));
    const std::string* version = f.meta("format_version");
    const int64_t v = version ? Json::parse(*version).as_int("format_version") : -1;
    if (v < 1 || v > kModelFormatVersion)
      throw ModelFileError(str_cat(path, ": format_version ", version ? *version : std::string("missing"),
                                   " is not supported (this nncore reads versions 1 to ", kModelFormatVersion, ")"));
    const std::string* arch = f.meta("model_config");
    if (!arch) throw ModelFileError(str_cat(path, ": the file has no model_config (a weights-only file? use load_weights)"));
    const std::string* cc = f.meta("compile_config");
    for (const auto& [key, text] : {std::pair{"model_config", arch}, std::pair{"compile_config", cc}})
      if (text && static_cast<int64_t>(text->size()) > kMaxConfigBytes)
        throw ModelFileError(str_cat(path, ": ", key, " is ", text->size(), " bytes, over the limit of ",
                                     kMaxConfigBytes, " bytes (nncore::kMaxConfigBytes)"));
    int64_t floats = 0;
    for (const NamedTensor& nt : f.tensors) floats += nt.tensor.size();
    std::unique_ptr<Model> m;
    {
      detail::WeightBudget budget(floats);
      m = model_from_config(Json::parse(*arch, kMaxConfigDepth));
    }
    if (!m->built()) throw ModelFileError(str_cat(path, ": model_config has no input_shape, so the weights cannot be placed"));
    assign_weights(*m, f, path);
    if (compile && cc) apply_compile_config(*m, Json::parse(*cc, kMaxConfigDepth), f, path);
    return m;
  } catch (const ModelFileError&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw;  // a valid model too large for this machine: MemoryError, not a broken file
  } catch (const std::exception& e) {
    throw ModelFileError(str_cat(path, ": invalid model file: ", e.what()));
  }
}
}  // namespace

std::unique_ptr<Model> load_model(const std::string& path, bool compile) {
  return model_from_file(read_safetensors(path), path, compile);
}

std::unique_ptr<Model> load_model_from_memory(const std::string& bytes, bool compile, const std::string& source) {
  return model_from_file(parse_safetensors(bytes, source), source, compile);
}

void save_weights(Model& m, const std::string& path) {
  check_unique_names(m, "save_weights");
  NNC_CHECK(m.built(), "save_weights: model '", m.name(), "' is not built yet, so it has no weights");
  write_safetensors(path, weight_tensors(m), {{"format", "nncore-weights"},
                                              {"format_version", std::to_string(kModelFormatVersion)}});
}

void load_weights(Model& m, const std::string& path, bool by_name) {
  NNC_CHECK(m.built(), "load_weights: model '", m.name(), "' is not built yet: build it or call it on data first");
  TensorFile f = read_safetensors(path);
  if (by_name) return assign_weights(m, f, path);
  std::vector<const NamedTensor*> file;
  for (const NamedTensor& nt : f.tensors)
    if (nt.name.rfind(kOptimizerPrefix, 0) != 0) file.push_back(&nt);
  std::vector<Param*> params;
  for (const auto& l : m.layers())
    for (Param& p : l->params()) params.push_back(&p);
  if (file.size() != params.size())
    throw ModelFileError(str_cat(path, ": the file holds ", file.size(), " weight tensors, model '", m.name(),
                                 "' has ", params.size()));
  for (size_t i = 0; i < params.size(); ++i)
    if (file[i]->tensor.shape() != params[i]->value.shape() || file[i]->int8 != params[i]->int8)
      throw ModelFileError(str_cat(path, ": weight ", i, " of model '", m.name(), "' (", params[i]->name, ") has shape ",
                                   shape_str(params[i]->value.shape()), " ", dtype_name(params[i]->int8),
                                   ", the file's '", file[i]->name, "' has ", shape_str(file[i]->tensor.shape()), " ",
                                   dtype_name(file[i]->int8)));
  for (size_t i = 0; i < params.size(); ++i) {
    params[i]->value.copy_from(file[i]->tensor);
    params[i]->changed();
  }
  refresh_loaded(m, path);
}

void load_optimizer_state(Model& m, const std::string& path) {
  NNC_CHECK(m.compiled(), "load_optimizer_state: model '", m.name(), "' must be compiled (its optimizer receives the "
            "state)");
  NNC_CHECK(m.built(), "load_optimizer_state: model '", m.name(), "' is not built yet");
  TensorFile f = read_safetensors(path);
  restore_optimizer(m, *m.optimizer(), f, path, false);
}

}  // namespace nncore
