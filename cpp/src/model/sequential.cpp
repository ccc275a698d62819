// Sequential: a chain graph. Layers are added one by one; the chain is built from the first layer's input shape,
// or from the first batch the model sees.
#include <unordered_set>

#include "nncore/check.hpp"
#include "nncore/layers/merge.hpp"
#include "nncore/model.hpp"

namespace nncore {

namespace {
void check_single_output(const Layer& l) {
  NNC_CHECK(l.num_outputs() == 1, "Sequential: layer '", l.name(), "' (", l.class_name(), ") returns ",
            l.num_outputs(), " tensors (e.g. return_state=True); a Sequential model passes one tensor from layer to "
            "layer: use the functional API (Input, Model)");
}
}  // namespace

Sequential::Sequential(std::string name) : Model(name.empty() ? unique_layer_name("sequential") : std::move(name)) {}

Sequential::Sequential(std::vector<LayerPtr> layers, std::string name) : Sequential(std::move(name)) {
  add(std::move(layers));
}

// The graph of the chain: value 0 the input, node i reads value i and makes value i + 1.
void Sequential::rebuild_chain() {
  nodes_.clear();
  for (size_t i = 0; i < layers_.size(); ++i) {
    Node n;
    n.layer = layers_[i];
    n.inputs = {i};
    nodes_.push_back(std::move(n));
  }
  outputs_.assign(1, layers_.size());
  if (inputs_.empty()) inputs_.push_back({"input_layer", {}});
  const std::vector<LayerPtr> keep = layers_;
  graph_changed();
  layers_ = keep;
}

void Sequential::add(LayerPtr layer) { add(std::vector<LayerPtr>{std::move(layer)}); }

void Sequential::add(std::vector<LayerPtr> layers) {
  std::unordered_set<const Layer*> objects;
  std::unordered_set<std::string> names;
  for (const auto& l : layers_) {
    objects.insert(l.get());
    names.insert(l->name());
  }
  for (const LayerPtr& layer : layers) {
    NNC_CHECK(layer != nullptr, "Sequential.add: expected a layer, got null");
    NNC_CHECK(dynamic_cast<MergeLayer*>(layer.get()) == nullptr, "Sequential.add: ", layer->class_name(), " '",
              layer->name(), "' merges several inputs; build such models with the functional API (Input, Model)");
    NNC_CHECK(objects.insert(layer.get()).second, "Sequential.add: layer '", layer->name(),
              "' is already in the model");
    NNC_CHECK(names.insert(layer->name()).second, "Sequential.add: all layers of a model need unique names; '",
              layer->name(), "' is already the name of a layer in model '", name_, "'");
  }
  // A failed build leaves the model as it was: the layers join it only once all of them are built.
  if (built_) {
    Shape s = output_shape();
    for (const LayerPtr& layer : layers) {
      layer->build(s);
      check_single_output(*layer);
      s = layer->output_shape();
    }
  }
  for (LayerPtr& layer : layers) layers_.push_back(std::move(layer));
  rebuild_chain();
}

LayerPtr Sequential::pop() {
  NNC_CHECK(!layers_.empty(), "Sequential.pop: the model has no layers");
  LayerPtr l = layers_.back();
  layers_.pop_back();
  if (layers_.empty()) built_ = false;
  rebuild_chain();
  return l;
}

void Sequential::build(const Shape& input_shape) {
  NNC_CHECK(!layers_.empty(), "Sequential '", name_, "': cannot build a model with no layers");
  Shape s = input_shape;
  for (auto& l : layers_) {
    l->build(s);
    check_single_output(*l);
    s = l->output_shape();
  }
  inputs_.assign(1, {"input_layer", input_shape});
  built_ = true;
  rebuild_chain();
}

void Sequential::ensure_built(const std::vector<Tensor>& xs, const std::string& what) {
  NNC_CHECK(!layers_.empty(), "Sequential '", name_, "' has no layers");
  NNC_CHECK(xs.size() == 1, what, ": a Sequential model takes one input array, got ", xs.size());
  const Tensor& x = xs[0];
  NNC_CHECK(x.ndim() >= 2, what, ": expected a batch of samples with at least 2 dimensions (batch, ...), got shape ",
            x.shape_str());
  build(Shape(x.shape().begin() + 1, x.shape().end()));
}

std::vector<Shape> Sequential::build_shapes(const std::vector<Shape>& in) {
  NNC_CHECK(in.size() == 1, "Sequential '", name_, "' takes one input, got ", in.size());
  if (!built_) build(in[0]);
  return call_shapes(in);
}

}  // namespace nncore
