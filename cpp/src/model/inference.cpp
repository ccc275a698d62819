// InferenceSession (nncore/inference.hpp): a run of the model's graph of its own, over the model's weights.
#include "nncore/inference.hpp"

#include <cstring>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include "model/graph_run.hpp"
#include "model/rows.hpp"
#include "nncore/check.hpp"

namespace nncore {

InferenceSession::InferenceSession(Model& model) : model_(&model) {
  NNC_CHECK(model.built(), "InferenceSession: model '", model.name(),
            "' is not built yet (build it, or predict on it once, first)");
  run_ = model.new_call();
  graph_version_ = model.graph_version_;
}

InferenceSession::~InferenceSession() = default;
InferenceSession::InferenceSession(InferenceSession&&) noexcept = default;

void InferenceSession::run(const std::vector<Tensor>& xs, int64_t batch_size, std::vector<Tensor*>& outs) {
  Model& m = *model_;
  NNC_CHECK(batch_size >= 0, "InferenceSession.predict: batch_size must be >= 0 (0: all at once), got ", batch_size);
  // Never read weights halfway through an optimizer step on another thread; fit's own thread (its callbacks) may.
  std::shared_lock<std::shared_mutex> lock;
  if (m.training_thread_.load() != std::this_thread::get_id()) {
    lock = std::shared_lock<std::shared_mutex>(m.weights_mutex_, std::try_to_lock);
    NNC_CHECK(lock.owns_lock(), "InferenceSession.predict: model '", m.name(),
              "' is being trained (fit or train_on_batch) on another thread; predict after it returns, or on a "
              "copy of the model");
  }
  if (graph_version_ != m.graph_version_) {  // layers were added or removed since: a run for the new graph
    run_ = m.new_call();
    graph_version_ = m.graph_version_;
  }
  const std::vector<Shape> out_shapes = m.check_inputs(xs, "InferenceSession.predict: x");
  const int64_t N = xs[0].dim(0);
  const int64_t B = batch_size == 0 ? m.inference_part_rows(std::max<int64_t>(N, 1)) : std::min(batch_size, N);
  for (size_t j = 0; j < m.outputs_.size(); ++j) {
    Shape s{N};
    s.insert(s.end(), out_shapes[j].begin(), out_shapes[j].end());
    outs[j]->resize(s);
  }
  auto& r = static_cast<Model::GraphRun&>(*run_);
  std::vector<const Tensor*> ptrs(xs.size());
  for (int64_t b0 = 0; b0 < N; b0 += B) {
    const int64_t nb = std::min(B, N - b0);
    const std::vector<Tensor> xb = row_views(xs, b0, nb);
    for (size_t i = 0; i < xb.size(); ++i) ptrs[i] = &xb[i];
    m.forward(r, ptrs, {}, false);
    for (size_t j = 0; j < m.outputs_.size(); ++j) {
      const int64_t row = outs[j]->size() / N;
      std::memcpy(outs[j]->data() + b0 * row, r.vals[m.outputs_[j]]->data(), sizeof(float) * static_cast<size_t>(nb * row));
    }
  }
}

std::vector<Tensor> InferenceSession::predict(const std::vector<Tensor>& xs, int64_t batch_size) {
  std::vector<Tensor> out(model_->outputs_.size());
  std::vector<Tensor*> ptrs;
  for (Tensor& t : out) ptrs.push_back(&t);
  run(xs, batch_size, ptrs);
  return out;
}

void InferenceSession::predict_into(const Tensor& x, Tensor& out, int64_t batch_size) {
  NNC_CHECK(model_->outputs_.size() == 1, "InferenceSession.predict: model '", model_->name(), "' has ",
            model_->outputs_.size(), " outputs; use the list form");
  std::vector<Tensor*> ptrs{&out};
  run({x}, batch_size, ptrs);
}

Tensor InferenceSession::predict(const Tensor& x, int64_t batch_size) {
  Tensor out;
  predict_into(x, out, batch_size);
  return out;
}

}  // namespace nncore
