// The model graph: the functional API's symbolic tensors, topological order, forward and backward over nodes,
// and what derives from the graph (summary, parameters). The training loop is in training.cpp.
#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include "kernels/kernels.hpp"
#include "nncore/check.hpp"
#include "nncore/layers/merge.hpp"
#include "nncore/model.hpp"

namespace nncore {

// ---- symbolic tensors ------------------------------------------------------------------------------------------
const Shape& SymbolicTensor::shape() const {
  NNC_CHECK(node_ != nullptr, "symbolic tensor: empty (not made by Input or a layer call)");
  return node_->shape;
}

std::string SymbolicTensor::name() const {
  NNC_CHECK(node_ != nullptr, "symbolic tensor: empty (not made by Input or a layer call)");
  return node_->layer ? node_->layer->name() : node_->input_name;
}

GraphNode::~GraphNode() {
  std::vector<std::shared_ptr<GraphNode>> pending = std::move(inbound);
  while (!pending.empty()) {
    std::shared_ptr<GraphNode> n = std::move(pending.back());
    pending.pop_back();
    // The last owner takes the node's inbound before it dies, so that destructor finds nothing to recurse into.
    if (n.use_count() == 1)
      for (auto& in : n->inbound) pending.push_back(std::move(in));
  }
}

SymbolicTensor Input(const Shape& shape, const std::string& name) {
  for (int64_t d : shape) NNC_CHECK(d > 0, "Input: shape must have positive dimensions, got ", shape_str(shape));
  auto node = std::make_shared<GraphNode>();
  node->input_name = name.empty() ? unique_layer_name("input_layer") : name;
  node->shape = shape;
  return SymbolicTensor(node);
}

SymbolicTensor call(const LayerPtr& layer, const std::vector<SymbolicTensor>& inputs) {
  NNC_CHECK(layer != nullptr, "call: layer must not be null");
  NNC_CHECK(!inputs.empty(), "Layer '", layer->name(), "': called on no inputs");
  std::vector<Shape> shapes;
  for (const SymbolicTensor& t : inputs) shapes.push_back(t.shape());
  if (auto* merge = dynamic_cast<MergeLayer*>(layer.get())) {
    merge->build_merge(shapes);
  } else {
    NNC_CHECK(inputs.size() == 1, layer->class_name(), " '", layer->name(), "' takes one input, got ", inputs.size());
    layer->build(shapes[0]);
  }
  auto node = std::make_shared<GraphNode>();
  node->layer = layer;
  for (const SymbolicTensor& t : inputs) node->inbound.push_back(t.node());
  node->shape = layer->output_shape();
  return SymbolicTensor(node);
}

// ---- Model construction ------------------------------------------------------------------------------------------
Model::Model(std::string name) : name_(std::move(name)) {}

Model::Model(const std::vector<SymbolicTensor>& inputs, const std::vector<SymbolicTensor>& outputs, std::string name)
    : name_(name.empty() ? unique_layer_name("functional") : std::move(name)) {
  NNC_CHECK(!inputs.empty(), "Model '", name_, "': needs at least one input");
  NNC_CHECK(!outputs.empty(), "Model '", name_, "': needs at least one output");
  std::map<const GraphNode*, size_t> value_of;
  for (const SymbolicTensor& t : inputs) {
    NNC_CHECK(t.node() && !t.node()->layer, "Model '", name_, "': inputs must come from nncore Input(), got the output of layer '",
              t.name(), "'");
    NNC_CHECK(!value_of.count(t.node().get()), "Model '", name_, "': input '", t.name(), "' is listed twice");
    value_of[t.node().get()] = inputs_.size();
    inputs_.push_back({t.node()->input_name, t.node()->shape});
  }
  // Depth-first from the outputs, each node after everything it reads (a topological order). Iterative, with an
  // explicit stack: a chain of 100,000 layers must not recurse 100,000 calls deep.
  std::set<const GraphNode*> visiting;
  std::set<const Layer*> used_layers;
  struct Frame {
    std::shared_ptr<GraphNode> node;
    size_t next = 0;  // the next inbound tensor to visit
  };
  std::vector<Frame> stack;
  auto enter = [&](const std::shared_ptr<GraphNode>& n) {
    if (value_of.count(n.get())) return;
    NNC_CHECK(n->layer != nullptr, "Model '", name_, "': input '", n->input_name,
              "' is needed to compute the outputs but is not among the model's inputs");
    NNC_CHECK(visiting.insert(n.get()).second, "Model '", name_, "': the graph has a cycle at layer '",
              n->layer->name(), "'");
    stack.push_back({n, 0});
  };
  auto visit = [&](const std::shared_ptr<GraphNode>& root) -> size_t {
    enter(root);
    while (!stack.empty()) {
      if (stack.back().next < stack.back().node->inbound.size()) {
        const std::shared_ptr<GraphNode> in = stack.back().node->inbound[stack.back().next++];
        enter(in);
        continue;
      }
      const std::shared_ptr<GraphNode> n = std::move(stack.back().node);
      stack.pop_back();
      visiting.erase(n.get());
      NNC_CHECK(used_layers.insert(n->layer.get()).second, "Model '", name_, "': layer '", n->layer->name(),
                "' is called more than once; sharing a layer between calls is not supported");
      Node node;
      node.layer = n->layer;
      node.merge = dynamic_cast<MergeLayer*>(n->layer.get());
      for (const auto& in : n->inbound) node.inputs.push_back(value_of.at(in.get()));
      value_of[n.get()] = inputs_.size() + nodes_.size();
      nodes_.push_back(std::move(node));
    }
    return value_of.at(root.get());
  };
  for (const SymbolicTensor& t : outputs) {
    NNC_CHECK(t.node() != nullptr, "Model '", name_, "': an output is empty");
    outputs_.push_back(visit(t.node()));
  }
  for (size_t j = 0; j < outputs_.size(); ++j)
    NNC_CHECK(outputs_[j] >= inputs_.size(), "Model '", name_, "': output ", j, " is a model input itself; put a layer on it");
  built_ = true;
  graph_changed();
}

void Model::graph_changed() {
  layers_.clear();
  for (const Node& n : nodes_) layers_.push_back(n.layer);
  std::set<std::string> names;
  for (const std::string& n : [&] {
         std::vector<std::string> all;
         for (const InputSpec& i : inputs_) all.push_back(i.name);
         for (const auto& l : layers_) all.push_back(l->name());
         return all;
       }())
    NNC_CHECK(names.insert(n).second, "Model '", name_, "': the name '", n, "' is used twice; layer and input names must be unique");
  const size_t n_values = inputs_.size() + nodes_.size();
  consumers_.assign(n_values, 0);
  for (const Node& n : nodes_)
    for (size_t v : n.inputs) ++consumers_[v];
  for (size_t v : outputs_) ++consumers_[v];
  need_dx_.clear();  // derived again by prepare_training
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
  return nodes_[outputs_[i] - inputs_.size()].layer->output_shape();
}

const std::string& Model::output_name(size_t i) const {
  NNC_CHECK(i < outputs_.size(), "Model '", name_, "': output ", i, " out of range (", outputs_.size(), " outputs)");
  return nodes_[outputs_[i] - inputs_.size()].layer->name();
}

std::vector<std::string> Model::inbound_names(size_t k) const {
  NNC_CHECK(k < nodes_.size(), "Model '", name_, "': layer index ", k, " out of range");
  std::vector<std::string> out;
  for (size_t v : nodes_[k].inputs)
    out.push_back(v < inputs_.size() ? inputs_[v].name : nodes_[v - inputs_.size()].layer->name());
  return out;
}

// ---- running the graph ---------------------------------------------------------------------------------------------
void Model::forward(const std::vector<const Tensor*>& xs, bool training) {
  const size_t n_in = inputs_.size();
  vals_.assign(n_in + nodes_.size(), nullptr);
  masks_.assign(n_in + nodes_.size(), nullptr);
  for (size_t i = 0; i < n_in; ++i) vals_[i] = xs[i];
  std::vector<const Tensor*> ins;
  for (size_t k = 0; k < nodes_.size(); ++k) {
    Node& n = nodes_[k];
    n.layer->set_input_mask(masks_[n.inputs[0]]);
    if (n.merge) {
      ins.clear();
      for (size_t v : n.inputs) ins.push_back(vals_[v]);
      vals_[n_in + k] = &n.merge->forward_multi(ins, training);
    } else {
      vals_[n_in + k] = &n.layer->forward(*vals_[n.inputs[0]], training);
    }
    masks_[n_in + k] = n.layer->output_mask();
  }
}

void Model::add_grad(size_t v, const Tensor* g) {
  if (grads_[v] == nullptr) {
    grads_[v] = g;
    return;
  }
  Tensor& buf = grad_buf_[v];
  if (grads_[v] != &buf) {
    buf.resize(g->shape());
    buf.copy_from(*grads_[v]);
    grads_[v] = &buf;
  }
  float* d = buf.data();
  const float* s = g->data();
  for (int64_t i = 0, n = buf.size(); i < n; ++i) d[i] += s[i];
}

std::vector<const Tensor*> Model::backward(bool all_dx) {
  const size_t n_in = inputs_.size();
  grads_.assign(n_in + nodes_.size(), nullptr);
  grad_buf_.resize(n_in + nodes_.size());
  // Outputs whose loss is fused take the gradient of their pre-activation (backward_from_preact).
  std::vector<const Tensor*> preact(nodes_.size(), nullptr);
  for (size_t j = 0; j < outputs_.size(); ++j) {
    if (fused_[j]) preact[outputs_[j] - n_in] = &dout_[j];
    else add_grad(outputs_[j], &dout_[j]);
  }
  for (size_t k = nodes_.size(); k-- > 0;) {
    Node& n = nodes_[k];
    const size_t v = n_in + k;
    if (grads_[v] == nullptr && preact[k] == nullptr) continue;  // nothing downstream depends on it
    const bool need_dx = all_dx || need_dx_[k] != 0;
    if (n.merge) {
      if (!need_dx) continue;  // no weights, and nothing upstream needs a gradient
      const std::vector<Tensor>& dxs = n.merge->backward_multi(*grads_[v], true);
      for (size_t i = 0; i < n.inputs.size(); ++i) add_grad(n.inputs[i], &dxs[i]);
      continue;
    }
    const Tensor& dx = preact[k] ? n.layer->backward_from_preact(*preact[k], need_dx) : n.layer->backward(*grads_[v], need_dx);
    if (need_dx) add_grad(n.inputs[0], &dx);
  }
  return std::vector<const Tensor*>(grads_.begin(), grads_.begin() + static_cast<std::ptrdiff_t>(n_in));
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

std::string Model::summary(int line_length) const {
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
  os << " " << pad("Layer (type)", c1 - 1) << pad("Output Shape", c2) << (graph ? pad("Param #", c3) + "Connected to" : "Param #")
     << "\n";
  os << std::string(static_cast<size_t>(line_length), '=') << "\n";
  std::vector<std::string> rows;
  if (graph)
    for (const InputSpec& in : inputs_) rows.push_back(" " + pad(in.name + " (InputLayer)", c1 - 1) + pad(batch(in.shape), c2) + "0");
  for (size_t i = 0; i < layers_.size(); ++i) {
    const Layer& l = *layers_[i];
    std::string row = " " + pad(l.name() + " (" + l.class_name() + ")", c1 - 1) +
                      pad(l.built() ? batch(l.output_shape()) : "?", c2);
    if (graph) {
      std::string from;
      for (const std::string& n : inbound_names(i)) from += (from.empty() ? "" : ", ") + n;
      row += pad(group(l.count_params()), c3) + from;
    } else {
      row += group(l.count_params());
    }
    rows.push_back(row);
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
