// The one table of layer classes that model files can name. A new layer class adds its line here (and its
// config()/from_config in layer_config.cpp or next to its other serialization code).
#include <map>

#include "nncore/check.hpp"
#include "nncore/io.hpp"
#include "nncore/layers/activation.hpp"
#include "nncore/layers/attention.hpp"
#include "nncore/layers/augment.hpp"
#include "nncore/layers/conv.hpp"
#include "nncore/layers/core.hpp"
#include "nncore/layers/merge.hpp"
#include "nncore/layers/normalization.hpp"
#include "nncore/layers/ops.hpp"
#include "nncore/layers/sequence.hpp"
#include "nncore/layers/recurrent.hpp"
#include "nncore/layers/traced.hpp"

namespace nncore {

namespace {

using Factory = LayerPtr (*)(const Json&);

LayerPtr model_layer_from_config(const Json& c) {
  std::shared_ptr<Model> m = model_from_config(c);
  if (!c.get("trainable", true)) m->set_trainable(false);
  return m;
}

const std::map<std::string, Factory>& registry() {
  static const std::map<std::string, Factory> table = {
      {"Dense", &Dense::from_config},
      {"Activation", &ActivationLayer::from_config},
      {"Reshape", &Reshape::from_config},
      {"Flatten", &Flatten::from_config},
      {"Dropout", &Dropout::from_config},
      {"SpatialDropout2D", &SpatialDropout2D::from_config},
      {"Conv2D", &Conv2D::from_config},
      {"MaxPooling2D", &MaxPooling2D::from_config},
      {"AveragePooling2D", &AveragePooling2D::from_config},
      {"GlobalAveragePooling2D", &GlobalAveragePooling2D::from_config},
      {"GlobalMaxPooling2D", &GlobalMaxPooling2D::from_config},
      {"ZeroPadding2D", &ZeroPadding2D::from_config},
      {"Conv2DTranspose", &Conv2DTranspose::from_config},
      {"DepthwiseConv2D", &DepthwiseConv2D::from_config},
      {"RandomFlip", &RandomImageLayer::from_config<RandomImageLayer::Kind::flip>},
      {"RandomRotation", &RandomImageLayer::from_config<RandomImageLayer::Kind::rotation>},
      {"RandomZoom", &RandomImageLayer::from_config<RandomImageLayer::Kind::zoom>},
      {"RandomTranslation", &RandomImageLayer::from_config<RandomImageLayer::Kind::translation>},
      {"RandomContrast", &RandomImageLayer::from_config<RandomImageLayer::Kind::contrast>},
      {"RandomBrightness", &RandomImageLayer::from_config<RandomImageLayer::Kind::brightness>},
      {"RandomCrop", &RandomImageLayer::from_config<RandomImageLayer::Kind::crop>},
      {"Resizing", &RandomImageLayer::from_config<RandomImageLayer::Kind::resizing>},
      {"CenterCrop", &RandomImageLayer::from_config<RandomImageLayer::Kind::center_crop>},
      {"SeparableConv2D", &SeparableConv2D::from_config},
      {"DepthwiseConv1D", &DepthwiseConv1D::from_config},
      {"SeparableConv1D", &SeparableConv1D::from_config},
      {"UpSampling2D", &UpSampling2D::from_config},
      {"BatchNormalization", &BatchNormalization::from_config},
      {"LayerNormalization", &LayerNormalization::from_config},
      {"Add", &Add::from_config},
      {"Subtract", &Subtract::from_config},
      {"Multiply", &Multiply::from_config},
      {"Average", &Average::from_config},
      {"Concatenate", &Concatenate::from_config},
      {"Maximum", &Maximum::from_config},
      {"Minimum", &Minimum::from_config},
      {"Dot", &Dot::from_config},
      // Activation layers with arguments.
      {"ReLU", &ReLU::from_config},
      {"LeakyReLU", &LeakyReLU::from_config},
      {"ELU", &ELU::from_config},
      {"Softmax", &Softmax::from_config},
      {"PReLU", &PReLU::from_config},
      // Reshaping, preprocessing and regularization utilities.
      {"RepeatVector", &RepeatVector::from_config},
      {"Permute", &Permute::from_config},
      {"Cropping1D", &Cropping1D::from_config},
      {"Cropping2D", &Cropping2D::from_config},
      {"Rescaling", &Rescaling::from_config},
      {"Masking", &Masking::from_config},
      {"Normalization", &Normalization::from_config},
      {"GaussianNoise", &GaussianNoise::from_config},
      {"GaussianDropout", &GaussianDropout::from_config},
      {"ActivityRegularization", &ActivityRegularization::from_config},
      {"Embedding", &Embedding::from_config},
      {"Conv1D", &Conv1D::from_config},
      {"Conv1DTranspose", &Conv1DTranspose::from_config},
      {"UpSampling1D", &UpSampling1D::from_config},
      {"MaxPooling1D", &MaxPooling1D::from_config},
      {"AveragePooling1D", &AveragePooling1D::from_config},
      {"GlobalAveragePooling1D", &GlobalAveragePooling1D::from_config},
      {"GlobalMaxPooling1D", &GlobalMaxPooling1D::from_config},
      {"TimeDistributed", &TimeDistributed::from_config},
      {"SimpleRNN", &SimpleRNN::from_config},
      {"LSTM", &LSTM::from_config},
      {"GRU", &GRU::from_config},
      {"Bidirectional", &Bidirectional::from_config},
      {"MultiHeadAttention", &MultiHeadAttention::from_config},
      // Ops on symbolic tensors (nncore.ops in a graph).
      {"BinaryOp", &BinaryOpLayer::from_config},
      {"UnaryOp", &UnaryOpLayer::from_config},
      {"MatMulOp", &MatMulOpLayer::from_config},
      {"ReduceOp", &ReduceOpLayer::from_config},
      {"TransposeOp", &TransposeOpLayer::from_config},
      {"SliceOp", &SliceOpLayer::from_config},
      {"RandomOp", &RandomOpLayer::from_config},
      {"DotProductAttentionOp", &DotProductAttentionOp::from_config},
      // Custom layers traced from Python (their graphs of the layers and ops above).
      {"TracedLayer", &TracedLayer::from_config},
      // Models are layers too (nested models): their config is the model's architecture.
      {"Sequential", &model_layer_from_config},
      {"Functional", &model_layer_from_config},
  };
  return table;
}

}  // namespace

Json layer_spec(const Layer& layer) {
  Json s = Json::object();
  s["class_name"] = layer.class_name();
  s["config"] = layer.config();
  return s;
}

LayerPtr layer_from_config(const Json& spec) {
  NNC_CHECK(spec.is_object(), "layer spec: expected an object {\"class_name\": ..., \"config\": {...}}");
  const std::string& cls = spec.at("class_name", "layer spec").as_string("layer spec class_name");
  const auto it = registry().find(cls);
  if (it == registry().end()) {
    std::string known;
    for (const auto& kv : registry()) known += (known.empty() ? "" : ", ") + kv.first;
    throw std::invalid_argument(str_cat("unknown layer class '", cls, "'; known classes: ", known));
  }
  const Json& config = spec.at("config", str_cat("layer spec of class ", cls));
  NNC_CHECK(config.is_object(), "config of layer class ", cls, ": expected an object");
  return it->second(config);
}

std::vector<std::string> layer_class_names() {
  std::vector<std::string> names;
  for (const auto& kv : registry()) names.push_back(kv.first);
  return names;
}

}  // namespace nncore
