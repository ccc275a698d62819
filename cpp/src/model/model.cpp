// The model graph: the functional API's symbolic tensors, topological order, forward and backward over nodes,
// and what derives from the graph (summary, parameters). The training loop is in training.cpp.
#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include "kernels/kernels.hpp"
#include "nncore/check.hpp"
#include "nncore/io.hpp"
#include "nncore/model.hpp"
#include "model/graph_run.hpp"

namespace nncore {

// ---- symbolic tensors ------------------------------------------------------------------------------------------
const Shape& SymbolicTensor::shape() const {
  NNC_CHECK(node_ != nullptr, "symbolic tensor: empty (not made by Input or a layer call)");
  return node_->shapes.at(index_);
}

std::string SymbolicTensor::name() const {
  NNC_CHECK(node_ != nullptr, "symbolic tensor: empty (not made by Input or a layer call)");
  return node_->layer ? node_->layer->name() : node_->input_name;
}

GraphNode::~GraphNode() {
  std::vector<std::shared_ptr<GraphNode>> pending;
  for (SymbolicTensor& t : inbound) pending.push_back(t.node());
  inbound.clear();
  while (!pending.empty()) {
    std::shared_ptr<GraphNode> n = std::move(pending.back());
    pending.pop_back();
    // The last owner takes the node's inbound before it dies, so that destructor finds nothing to recurse into.
    if (n.use_count() == 1) {
      for (SymbolicTensor& t : n->inbound) pending.push_back(t.node());
      n->inbound.clear();
    }
  }
}

SymbolicTensor Input(const Shape& shape, const std::string& name) {
  for (int64_t d : shape)
    NNC_CHECK(d > 0 || d == -1, "Input: shape must have positive dimensions (or None for an unknown length), got ",
              shape_str(shape));
  auto node = std::make_shared<GraphNode>();
  node->input_name = name.empty() ? unique_layer_name("input_layer") : name;
  node->shapes = {shape};
  return SymbolicTensor(node, 0);
}

std::vector<SymbolicTensor> call_outputs(const LayerPtr& layer, const std::vector<SymbolicTensor>& inputs,
                                         int training) {
  NNC_CHECK(layer != nullptr, "call: layer must not be null");
  NNC_CHECK(!inputs.empty(), "Layer '", layer->name(), "': called on no inputs");
  NNC_CHECK(training >= -1 && training <= 1, "Layer '", layer->name(), "': training must be -1 (the model's mode), 0 or 1, got ",
            training);
  std::vector<Shape> shapes;
  for (const SymbolicTensor& t : inputs) shapes.push_back(t.shape());
  auto node = std::make_shared<GraphNode>();
  node->shapes = layer->output_shapes_for(shapes);
  node->layer = layer;
  node->inbound = inputs;
  node->training = training;
  std::vector<SymbolicTensor> out;
  for (size_t j = 0; j < node->shapes.size(); ++j) out.emplace_back(node, j);
  return out;
}

SymbolicTensor call(const LayerPtr& layer, const std::vector<SymbolicTensor>& inputs) {
  std::vector<SymbolicTensor> out = call_outputs(layer, inputs);
  NNC_CHECK(out.size() == 1, layer->class_name(), " '", layer->name(), "' returns ", out.size(),
            " tensors; use call_outputs");
  return out[0];
}

// ---- Model construction ------------------------------------------------------------------------------------------
Model::Model(std::string name) : Layer(std::move(name)) {}

Model::~Model() = default;

Model::Model(const std::vector<SymbolicTensor>& inputs, const std::vector<SymbolicTensor>& outputs, std::string name)
    : Layer(name.empty() ? unique_layer_name("functional") : std::move(name)) {
  NNC_CHECK(!inputs.empty(), "Model '", name_, "': needs at least one input");
  NNC_CHECK(!outputs.empty(), "Model '", name_, "': needs at least one output");
  std::map<const GraphNode*, size_t> first_value;  // graph node -> the value id of its output 0
  size_t n_values = 0;
  for (const SymbolicTensor& t : inputs) {
    NNC_CHECK(t.node() && !t.node()->layer, "Model '", name_, "': inputs must come from nncore Input(), got the output of layer '",
              t.name(), "'");
    NNC_CHECK(!first_value.count(t.node().get()), "Model '", name_, "': input '", t.name(), "' is listed twice");
    first_value[t.node().get()] = n_values++;
    inputs_.push_back({t.node()->input_name, t.node()->shapes[0]});
  }
  // Depth-first from the outputs, each call after everything it reads (a topological order). Iterative, with an
  // explicit stack: a chain of 100,000 layers must not recurse 100,000 calls deep.
  std::set<const GraphNode*> visiting;
  struct Frame {
    std::shared_ptr<GraphNode> node;
    size_t next = 0;  // the next inbound tensor to visit
  };
  std::vector<Frame> stack;
  auto enter = [&](const std::shared_ptr<GraphNode>& n) {
    if (first_value.count(n.get())) return;
    NNC_CHECK(n->layer != nullptr, "Model '", name_, "': input '", n->input_name,
              "' is needed to compute the outputs but is not among the model's inputs");
    NNC_CHECK(visiting.insert(n.get()).second, "Model '", name_, "': the graph has a cycle at layer '",
              n->layer->name(), "'");
    stack.push_back({n, 0});
  };
  auto visit = [&](const SymbolicTensor& root) -> size_t {
    enter(root.node());
    while (!stack.empty()) {
      if (stack.back().next < stack.back().node->inbound.size()) {
        const std::shared_ptr<GraphNode> in = stack.back().node->inbound[stack.back().next++].node();
        enter(in);
        continue;
      }
      const std::shared_ptr<GraphNode> n = std::move(stack.back().node);
      stack.pop_back();
      visiting.erase(n.get());
      Node node;
      node.layer = n->layer;
      node.training = n->training;
      for (const SymbolicTensor& in : n->inbound) node.inputs.push_back(first_value.at(in.node().get()) + in.index());
      node.num_outputs = n->shapes.size();
      first_value[n.get()] = n_values;
      n_values += node.num_outputs;
      nodes_.push_back(std::move(node));
    }
    return first_value.at(root.node().get()) + root.index();
  };
  for (const SymbolicTensor& t : outputs) {
    NNC_CHECK(t.node() != nullptr, "Model '", name_, "': an output is empty");
    outputs_.push_back(visit(t));
  }
  for (size_t j = 0; j < outputs_.size(); ++j)
    NNC_CHECK(outputs_[j] >= inputs_.size(), "Model '", name_, "': output ", j, " is a model input itself; put a layer on it");
  built_ = true;
  graph_changed();
}

void Model::graph_changed() {
  ++graph_version_;
  layers_.clear();
  std::set<const Layer*> seen;
  for (const Node& n : nodes_)
    if (seen.insert(n.layer.get()).second) layers_.push_back(n.layer);
  std::set<std::string> names;
  for (const InputSpec& i : inputs_)
    NNC_CHECK(names.insert(i.name).second, "Model '", name_, "': the name '", i.name,
              "' is used twice; layer and input names must be unique");
  for (const auto& l : layers_)
    NNC_CHECK(names.insert(l->name()).second, "Model '", name_, "': the name '", l->name(),
              "' is used twice; layer and input names must be unique");
  // Value numbering: the inputs, then each node's outputs.
  size_t n_values = inputs_.size();
  value_node_.assign(inputs_.size(), -1);
  std::map<const Layer*, size_t> calls;
  for (size_t k = 0; k < nodes_.size(); ++k) {
    Node& n = nodes_[k];
    n.call_index = calls[n.layer.get()]++;
    n.first_value = n_values;
    n_values += n.num_outputs;
    value_node_.resize(n_values, static_cast<int64_t>(k));
  }
  consumers_.assign(n_values, 0);
  for (const Node& n : nodes_)
    for (size_t v : n.inputs) ++consumers_[v];
  for (size_t v : outputs_) ++consumers_[v];
  // The shapes of every value, the model's face as a layer, and its own run.
  value_shapes_.assign(n_values, Shape());
  params_.clear();
  run_.reset();
  if (built_) {
    for (size_t i = 0; i < inputs_.size(); ++i) value_shapes_[i] = inputs_[i].shape;
    std::vector<Shape> in;
    for (Node& n : nodes_) {
      in.clear();
      for (size_t v : n.inputs) in.push_back(value_shapes_[v]);
      const std::vector<Shape> out = n.layer->output_shapes_for(in);
      NNC_CHECK(out.size() == n.num_outputs, "Model '", name_, "': layer '", n.layer->name(), "' returns ",
                out.size(), " tensors where the graph expects ", n.num_outputs);
      for (size_t j = 0; j < n.num_outputs; ++j) value_shapes_[n.first_value + j] = out[j];
    }
    input_shapes_.clear();
    for (const InputSpec& i : inputs_) input_shapes_.push_back(i.shape);
    output_shapes_.clear();
    for (size_t v : outputs_) output_shapes_.push_back(value_shapes_[v]);
    for (const auto& l : layers_)
      for (const Param& p : l->params()) {
        Param q = p;  // shares the layer's value and gradient storage
        q.name = l->name() + "/" + p.name;
        params_.push_back(q);
      }
    run_ = make_run();
  }
  need_dx_.clear();  // derived again by prepare_training
}

std::unique_ptr<Model::GraphRun> Model::make_run() const {
  NNC_CHECK(built_, class_name(), " '", name_, "' is not built yet");
  auto r = std::make_unique<GraphRun>();
  std::vector<Shape> in;
  for (const Node& n : nodes_) {
    in.clear();
    for (size_t v : n.inputs) in.push_back(value_shapes_[v]);
    r->calls.push_back(n.layer->make_call(in));
    r->xs.emplace_back(n.inputs.size(), nullptr);
    r->masks.emplace_back(n.inputs.size(), nullptr);
    r->dys.emplace_back(n.num_outputs, nullptr);
  }
  r->input_shapes = input_shapes_;
  r->output_shapes = output_shapes_;
  return r;
}

// ---- the model as a layer ------------------------------------------------------------------------------------------
Json Model::config() const {
  Json c = model_config(*this);
  c["trainable"] = trainable_;
  return c;
}

void Model::set_trainable(bool t) {
  Layer::set_trainable(t);
  for (const auto& l : layers_) l->set_trainable(t);
}

namespace {
// The layers of m that quantization reaches (all: every layer), its own and those of the models nested in it.
void quantization_targets(const Model& m, std::vector<Layer*>& out, bool all) {
  for (const auto& l : m.layers()) {
    if (auto* inner = dynamic_cast<Model*>(l.get())) quantization_targets(*inner, out, all);
    else if (all || (l->quantizable() && l->quantize_by_default())) out.push_back(l.get());
  }
}
}  // namespace

void Model::quantize(const std::string& mode) {
  NNC_CHECK(mode == "int8", "Invalid quantization mode: expected 'int8' (Keras's 'float8', 'int4', 'gptq' and 'awq' "
            "modes are not supported by nncore), got '", mode, "'");
  NNC_CHECK(built(), "Cannot quantize a model that isn't yet built: model '", name(), "' is not built (give it an "
            "Input, or call it on data, first)");
  NNC_CHECK(!has_quantized_layers(), "model '", name(), "' is already quantized with dtype_policy="
            "'int8_from_float32': quantize the float model once");
  std::vector<Layer*> layers;
  quantization_targets(*this, layers, false);
  NNC_CHECK(!layers.empty(), "model '", name(), "' has no layer that int8 quantization applies to (Dense, Embedding, "
            "Conv1D, Conv2D, SimpleRNN, LSTM, GRU, or Bidirectional / TimeDistributed around them)");
  for (Layer* l : layers) l->quantize(mode);
}

bool Model::has_quantized_layers() const {
  std::vector<Layer*> layers;
  quantization_targets(*this, layers, true);
  for (const Layer* l : layers)
    if (l->quantized()) return true;
  return false;
}

void Model::refresh_quantized() {
  for (const auto& l : layers_) l->refresh_quantized();
}

bool Model::rows_independent() const {
  return std::all_of(layers_.begin(), layers_.end(), [](const LayerPtr& l) { return l->rows_independent(); });
}

namespace {
// Floats per sample of a per-sample shape; an axis unknown until the call (-1) counts as 1.
int64_t floats_of(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= std::max<int64_t>(d, 1);
  return n;
}
}  // namespace

int64_t Model::inference_scratch_per_sample(const std::vector<Shape>&) const {
  int64_t most = 0;
  for (const Node& n : nodes_) {
    std::vector<Shape> in;
    int64_t floats = 0;
    for (size_t v : n.inputs) {
      in.push_back(value_shapes_.at(v));
      floats += floats_of(in.back());
    }
    for (size_t k = 0; k < n.num_outputs; ++k) floats += floats_of(value_shapes_.at(n.first_value + k));
    most = std::max(most, floats + n.layer->inference_scratch_per_sample(in));
  }
  return most;
}

// A batch whose largest layer call (inputs, outputs, scratch) fits in kPartBytes runs at once; a larger one in parts
// of that size, at least 32 rows (Keras's predict batch) and a multiple of 8. A classic CNN at 256 samples: its
// convolution's 22 MB output went to memory and max pooling read it back; in parts of 32 both stay in cache (4.6
// -> 2.5 ms on a Xeon at one thread, 1.6 -> 1.1 ms at two). LSTM(128) over 28 steps: 12.6 -> 10.6 ms.
int64_t Model::inference_part_rows(int64_t n) const {
  constexpr int64_t kPartBytes = int64_t{2} << 20;
  // Parts have at least 32 rows: a batch of up to 32 (serving latency) is whole without walking the graph.
  if (n <= 32 || value_shapes_.empty() || !rows_independent()) return n;
  const int64_t per_sample = 4 * std::max<int64_t>(inference_scratch_per_sample({}), 1);
  if (n * per_sample <= kPartBytes) return n;
  return std::min(n, std::max<int64_t>(32, kPartBytes / per_sample / 8 * 8));
}

int64_t Model::count_trainable_params() const {
  if (!trainable_) return 0;
  int64_t n = 0;
  for (const auto& l : layers_) n += l->count_trainable_params();
  return n;
}

void Model::collect_trainable(std::vector<Param*>& out) {
  if (!trainable_) return;
  for (const auto& l : layers_) l->collect_trainable(out);
}

std::unique_ptr<LayerCall> Model::new_call() const { return make_run(); }

std::vector<Shape> Model::build_shapes(const std::vector<Shape>& in) {
  // A functional model is built from its inputs; Sequential overrides this to build from the first call.
  return call_shapes(in);
}

std::vector<Shape> Model::call_shapes(const std::vector<Shape>& in) const {
  NNC_CHECK(built_, class_name(), " '", name_, "' is not built yet");
  NNC_CHECK(in.size() == inputs_.size(), class_name(), " '", name_, "' takes ", inputs_.size(), " input(s), got ",
            in.size());
  for (size_t i = 0; i < in.size(); ++i)
    NNC_CHECK(shape_fits(inputs_[i].shape, in[i]), class_name(), " '", name_, "': input '", inputs_[i].name,
              "' has shape ", shape_str(batch_shape(-1, inputs_[i].shape)), ", called on a tensor of shape ",
              shape_str(batch_shape(-1, in[i])));
  if (in == input_shapes_) return output_shapes_;
  // Other lengths on unknown axes: the shapes of every value, for these inputs.
  std::vector<Shape> vals(value_shapes_.size());
  for (size_t i = 0; i < in.size(); ++i) vals[i] = in[i];
  std::vector<Shape> args;
  for (const Node& n : nodes_) {
    args.clear();
    for (size_t v : n.inputs) args.push_back(vals[v]);
    std::vector<Shape> out = n.layer->output_shapes_for(args);
    for (size_t j = 0; j < n.num_outputs; ++j) vals[n.first_value + j] = std::move(out[j]);
  }
  std::vector<Shape> out;
  for (size_t v : outputs_) out.push_back(vals[v]);
  return out;
}

void Model::forward_list(LayerCall& c, bool training) {
  GraphRun& r = as<GraphRun>(c);
  r.args.resize(c.inputs.size());
  for (size_t i = 0; i < c.inputs.size(); ++i) r.args[i] = &c.inputs[i];
  forward(r, r.args, c.masks, training);
  c.outputs.resize(outputs_.size());
  for (size_t j = 0; j < outputs_.size(); ++j) c.outputs[j] = r.vals[outputs_[j]];
}

void Model::backward_list(LayerCall& c, const std::vector<const Tensor*>& dys, bool need_dx) {
  GraphRun& r = as<GraphRun>(c);
  derive_need_dx();  // trainable flags may have changed since the last call
  r.input_grads = backward(r, dys, nullptr, need_dx);
  if (!need_dx) return;
  for (size_t i = 0; i < c.dxs.size(); ++i) c.dxs[i] = r.input_grads[i];
}

bool Model::adds_losses() const {
  for (const auto& l : layers_)
    if (l->adds_losses()) return true;
  return false;
}

double Model::aux_loss(const LayerCall& c) const {
  const GraphRun& r = static_cast<const GraphRun&>(c);
  double sum = 0.0;
  for (size_t k = 0; k < nodes_.size() && k < r.calls.size(); ++k)
    if (r.calls[k]->has_forward()) sum += nodes_[k].layer->aux_loss(*r.calls[k]);
  return sum;
}

const Tensor* Model::output_mask(const LayerCall& c, size_t output) const {
  const GraphRun& r = static_cast<const GraphRun&>(c);
  return output < outputs_.size() && !r.vmasks.empty() ? r.vmasks[outputs_[output]] : nullptr;
}

void Model::ensure_built(const std::vector<Tensor>&, const std::string&) {}

LayerPtr Model::get_layer(const std::string& name) const {
  for (const auto& l : layers_)
    if (l->name() == name) return l;
  std::string all;
  for (const auto& l : layers_) all += (all.empty() ? "" : ", ") + l->name();
  throw std::invalid_argument(str_cat("Model '", name_, "': no layer named '", name, "'; layers: ", all));
}

const Shape& Model::input_shape(size_t i) const {
  NNC_CHECK(built_, class_name(), " '", name_, "' is not built yet");
  NNC_CHECK(i < inputs_.size(), "Model '", name_, "': input ", i, " out of range (", inputs_.size(), " inputs)");
  return inputs_[i].shape;
}

const Shape& Model::output_shape(size_t i) const {
  NNC_CHECK(built_, class_name(), " '", name_, "' is not built yet");
  NNC_CHECK(i < outputs_.size(), "Model '", name_, "': output ", i, " out of range (", outputs_.size(), " outputs)");
  return value_shapes_[outputs_[i]];
}

const std::string& Model::output_name(size_t i) const {
  NNC_CHECK(i < outputs_.size(), "Model '", name_, "': output ", i, " out of range (", outputs_.size(), " outputs)");
  return nodes_[static_cast<size_t>(value_node_[outputs_[i]])].layer->name();
}

const LayerPtr& Model::node_layer(size_t k) const {
  NNC_CHECK(k < nodes_.size(), "Model '", name_, "': node index ", k, " out of range");
  return nodes_[k].layer;
}

size_t Model::node_call_index(size_t k) const {
  NNC_CHECK(k < nodes_.size(), "Model '", name_, "': node index ", k, " out of range");
  return nodes_[k].call_index;
}

std::vector<TensorRef> Model::node_inputs(size_t k) const {
  NNC_CHECK(k < nodes_.size(), "Model '", name_, "': node index ", k, " out of range");
  std::vector<TensorRef> out;
  for (size_t v : nodes_[k].inputs) {
    if (value_node_[v] < 0) {
      out.push_back({inputs_[v].name, 0, 0});
      continue;
    }
    const size_t p = static_cast<size_t>(value_node_[v]);
    out.push_back({nodes_[p].layer->name(), node_call_index(p), v - nodes_[p].first_value});
  }
  return out;
}

TensorRef Model::output_ref(size_t j) const {
  NNC_CHECK(j < outputs_.size(), "Model '", name_, "': output ", j, " out of range (", outputs_.size(), " outputs)");
  const size_t v = outputs_[j];
  const size_t p = static_cast<size_t>(value_node_[v]);
  return {nodes_[p].layer->name(), node_call_index(p), v - nodes_[p].first_value};
}

// ---- running the graph ---------------------------------------------------------------------------------------------
void Model::forward(GraphRun& r, const std::vector<const Tensor*>& xs, const std::vector<const Tensor*>& masks,
                    bool training) {
  const size_t n_in = inputs_.size(), n_values = value_node_.size();
  r.vals.assign(n_values, nullptr);
  r.vmasks.assign(n_values, nullptr);
  for (size_t i = 0; i < n_in; ++i) {
    r.vals[i] = xs[i];
    r.vmasks[i] = i < masks.size() ? masks[i] : nullptr;
  }
  for (size_t k = 0; k < nodes_.size(); ++k) {
    const Node& n = nodes_[k];
    LayerCall& call = *r.calls[k];
    std::vector<const Tensor*>& xk = r.xs[k];
    std::vector<const Tensor*>& mk = r.masks[k];
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      xk[i] = r.vals[n.inputs[i]];
      mk[i] = r.vmasks[n.inputs[i]];
    }
    n.layer->forward(call, xk, mk, n.training < 0 ? training : n.training == 1);
    for (size_t j = 0; j < n.num_outputs; ++j) {
      r.vals[n.first_value + j] = call.outputs[j];
      r.vmasks[n.first_value + j] = n.layer->output_mask(call, j);
    }
  }
}

std::vector<const Tensor*> Model::backward(GraphRun& r, const std::vector<const Tensor*>& douts, const char* fused,
                                           bool all_dx) {
  const size_t n_in = inputs_.size(), n_values = value_node_.size();
  r.grads.assign(n_values, nullptr);
  r.grad_buf.resize(n_values);
  // Outputs whose loss is fused take the gradient of their pre-activation (backward_from_preact).
  r.preact.assign(nodes_.size(), nullptr);
  for (size_t j = 0; j < outputs_.size(); ++j) {
    if (douts[j] == nullptr) continue;
    if (fused != nullptr && fused[j]) r.preact[static_cast<size_t>(value_node_[outputs_[j]])] = douts[j];
    else r.add_grad(outputs_[j], douts[j]);
  }
  if (need_dx_.size() != nodes_.size()) derive_need_dx();
  for (size_t k = nodes_.size(); k-- > 0;) {
    const Node& n = nodes_[k];
    LayerCall& call = *r.calls[k];
    const bool need_dx = all_dx || need_dx_[k] != 0;
    if (r.preact[k] != nullptr) {
      n.layer->backward_from_preact(call, *r.preact[k], need_dx);
    } else {
      std::vector<const Tensor*>& dk = r.dys[k];
      bool any = false;
      for (size_t j = 0; j < n.num_outputs; ++j) {
        dk[j] = r.grads[n.first_value + j];
        any = any || dk[j] != nullptr;
      }
      if (!any) continue;  // nothing downstream depends on it
      n.layer->backward(call, dk, need_dx);
    }
    for (size_t i = 0; i < n.inputs.size(); ++i)
      if (call.dxs[i] != nullptr) r.add_grad(n.inputs[i], call.dxs[i]);
  }
  return std::vector<const Tensor*>(r.grads.begin(), r.grads.begin() + static_cast<std::ptrdiff_t>(n_in));
}

void Model::forward(const std::vector<const Tensor*>& xs, bool training) { forward(*run_, xs, {}, training); }

std::vector<const Tensor*> Model::backward(bool all_dx) {
  dout_ptrs_.resize(dout_.size());
  for (size_t j = 0; j < dout_.size(); ++j) dout_ptrs_[j] = &dout_[j];
  return backward(*run_, dout_ptrs_, fused_.data(), all_dx);
}

void Model::derive_need_dx() {
  std::vector<char> upstream(value_node_.size(), 0);
  need_dx_.assign(nodes_.size(), 0);
  for (size_t k = 0; k < nodes_.size(); ++k) {
    const Node& n = nodes_[k];
    bool any = false;
    for (size_t v : n.inputs) any = any || upstream[v];
    need_dx_[k] = any ? 1 : 0;
    const bool up = any || (n.layer->trainable() && n.layer->count_trainable_params() > 0);
    for (size_t j = 0; j < n.num_outputs; ++j) upstream[n.first_value + j] = up;
  }
}

// ---- what derives from the graph -----------------------------------------------------------------------------------
int64_t Model::count_params() const {
  int64_t n = 0;
  for (const auto& l : layers_) n += l->count_params();
  return n;
}

std::vector<Tensor*> Model::weights() {
  std::vector<Tensor*> w;
  for (auto& l : layers_)
    for (Param& p : l->params()) w.push_back(&p.value);
  return w;
}

void Model::add_nested_rows(const Model& m, const std::string& indent, int c1, int c2, int c3, bool show_trainable,
                            std::vector<std::string>& rows) {
  auto pad = [](std::string s, int w) {  // as summary()'s columns
    if (static_cast<int>(s.size()) < w) s += std::string(static_cast<size_t>(w - static_cast<int>(s.size())), ' ');
    return s + " ";
  };
  for (const auto& lp : m.layers_) {
    const Layer& l = *lp;
    Shape s{-1};
    s.insert(s.end(), l.output_shape().begin(), l.output_shape().end());
    const std::string params = std::to_string(l.count_params());
    std::string row = " " + pad(indent + "| " + l.name() + " (" + l.class_name() + ")", c1 - 1) + pad(shape_str(s), c2);
    row += show_trainable ? pad(params, c3) + (l.trainable() ? "Y" : "N") : params;
    rows.push_back(row);
    if (const auto* inner = dynamic_cast<const Model*>(&l); inner != nullptr && inner->built())
      add_nested_rows(*inner, indent + "  ", c1, c2, c3, show_trainable, rows);
  }
}

std::string Model::summary(int line_length, bool expand_nested, bool show_trainable) const {
  const bool graph = class_name() != "Sequential";
  const int c1 = line_length * (graph ? 33 : 45) / 100, c2 = line_length * (graph ? 22 : 30) / 100,
            c3 = line_length * 13 / 100;
  auto pad = [](std::string s, int w) {
    if (static_cast<int>(s.size()) < w) s += std::string(static_cast<size_t>(w - static_cast<int>(s.size())), ' ');
    return s + " ";
  };
  auto group = [](int64_t n) {
    std::string s = std::to_string(n), out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (i && (s.size() - i) % 3 == 0) out += ',';
      out += s[i];
    }
    return out;
  };
  auto batch = [](const Shape& per) {
    Shape s{-1};
    s.insert(s.end(), per.begin(), per.end());
    return shape_str(s);
  };
  std::ostringstream os;
  os << "Model: \"" << name_ << "\"\n" << std::string(static_cast<size_t>(line_length), '_') << "\n";
  const int c4 = line_length * 20 / 100;  // "Connected to", when a Trainable column follows
  os << " " << pad("Layer (type)", c1 - 1) << pad("Output Shape", c2)
     << (graph ? pad("Param #", c3) + (show_trainable ? pad("Connected to", c4) : "Connected to")
               : (show_trainable ? pad("Param #", c3) : "Param #"))
     << (show_trainable ? "Trainable" : "") << "\n";
  os << std::string(static_cast<size_t>(line_length), '=') << "\n";
  std::vector<std::string> rows;
  if (graph)
    for (const InputSpec& in : inputs_) rows.push_back(" " + pad(in.name + " (InputLayer)", c1 - 1) + pad(batch(in.shape), c2) + "0");
  std::map<const Layer*, std::vector<size_t>> calls_of;  // each layer's nodes, in order
  for (size_t k = 0; k < nodes_.size(); ++k) calls_of[nodes_[k].layer.get()].push_back(k);
  for (size_t i = 0; i < layers_.size(); ++i) {
    const Layer& l = *layers_[i];
    std::string row = " " + pad(l.name() + " (" + l.class_name() + ")", c1 - 1) +
                      pad(l.built() ? batch(l.output_shape()) : "?", c2);
    if (graph) {
      // Every call's inputs; a shared layer's later calls and a multi-output layer's outputs carry Keras's
      // [call][output] suffix.
      std::string from;
      for (size_t k : calls_of[&l]) {
        for (const TensorRef& r : node_inputs(k)) {
          from += (from.empty() ? "" : ", ") + r.layer;
          if (r.call != 0 || r.output != 0) from += "[" + std::to_string(r.call) + "][" + std::to_string(r.output) + "]";
        }
      }
      row += pad(group(l.count_params()), c3) + (show_trainable ? pad(from, c4) : from);
    } else {
      row += show_trainable ? pad(group(l.count_params()), c3) : group(l.count_params());
    }
    if (show_trainable) row += l.trainable() ? "Y" : "N";
    rows.push_back(row);
    // A nested model's own layers, indented under it (their params are counted in its row).
    if (const auto* inner = dynamic_cast<const Model*>(&l); inner != nullptr && expand_nested && inner->built())
      add_nested_rows(*inner, "  ", c1, c2, c3, show_trainable, rows);
  }
  int64_t total = 0, trainable = 0;
  for (const auto& l : layers_) {
    total += l->count_params();
    trainable += l->count_trainable_params();
  }
  for (size_t i = 0; i < rows.size(); ++i)
    os << rows[i] << "\n" << std::string(static_cast<size_t>(line_length), i + 1 == rows.size() ? '=' : ' ') << "\n";
  if (rows.empty()) os << std::string(static_cast<size_t>(line_length), '=') << "\n";
  os << "Total params: " << group(total) << "\nTrainable params: " << group(trainable)
     << "\nNon-trainable params: " << group(total - trainable) << "\n"
     << std::string(static_cast<size_t>(line_length), '_') << "\n";
  return os.str();
}

}  // namespace nncore
