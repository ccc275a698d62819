#pragma once
// Model::GraphRun: one run of a model's graph (model.cpp runs it; training.cpp reads its values).
#include <memory>
#include <vector>

#include "nncore/model.hpp"

namespace nncore {

struct Model::GraphRun : LayerCall {
  std::vector<std::unique_ptr<LayerCall>> calls;                // per node
  std::vector<std::vector<const Tensor*>> xs, masks, dys;      // per node: its argument lists, reused every step
  std::vector<const Tensor*> vals, vmasks, grads;               // per value, for the current step
  std::vector<Tensor> grad_buf;                                 // per value: sums of several gradient contributions
  std::vector<const Tensor*> preact;                            // per node: the fused loss's pre-activation gradient
  std::vector<const Tensor*> args;                              // the model's inputs as a layer
  std::vector<const Tensor*> input_grads;

  void add_grad(size_t v, const Tensor* g) {
    if (grads[v] == nullptr) {
      grads[v] = g;
      return;
    }
    Tensor& buf = grad_buf[v];
    if (grads[v] != &buf) {
      buf.resize(g->shape());
      buf.copy_from(*grads[v]);
      grads[v] = &buf;
    }
    float* d = buf.data();
    const float* s = g->data();
    for (int64_t i = 0, n = buf.size(); i < n; ++i) d[i] += s[i];
  }
};

}  // namespace nncore
