#pragma once
// Serving one model from many threads at once.
//
// A Model's own predict uses the model's buffers (every layer's output of its one run of the graph), so it must not
// be called from two threads at a time. An InferenceSession owns a run of its own and reads the model's weights
// (shared, never copied): give each serving thread its own session (or a pool of them, one per thread at a time)
// and they predict concurrently, with the results of Model::predict.
//
//   std::unique_ptr<nncore::Model> model = nncore::load_model("m.nncore");
//   nncore::InferenceSession session(*model);        // per thread
//   nncore::Tensor y = session.predict(x);            // x: (batch, *input_shape)
//
// The model must be built and outlive its sessions. While fit or train_on_batch runs on another thread, predict
// throws (it would read weights halfway through an optimizer step); fit's own callbacks may predict. Changing the
// weights otherwise (set_weights, load_weights) while sessions predict is not guarded: do it between requests.
// A Dense layer keeps its kernel packed for inference, shared by the sessions, and packs it again after a change
// (Param::changed(): the optimizers and load_weights call it; code writing Param::value itself must too).
// A session used by one thread at a time allocates nothing after its first call of a given batch size.
#include <cstdint>
#include <memory>
#include <vector>

#include "nncore/model.hpp"

namespace nncore {

class InferenceSession {
 public:
  explicit InferenceSession(Model& model);
  ~InferenceSession();
  InferenceSession(InferenceSession&&) noexcept;
  InferenceSession& operator=(InferenceSession&&) = delete;
  InferenceSession(const InferenceSession&) = delete;
  InferenceSession& operator=(const InferenceSession&) = delete;

  // The outputs for inputs xs[i] of shape (N, *input_shape(i)), in inference mode, batch_size samples per forward
  // (0: all N at once; or, when one layer call on all N would need more than ~2 MB and every layer computes each
  // sample alone (Layer::rows_independent), in parts of at least 32 that stay in cache). One array per output.
  std::vector<Tensor> predict(const std::vector<Tensor>& xs, int64_t batch_size = 0);
  // Single input and output.
  Tensor predict(const Tensor& x, int64_t batch_size = 0);
  void predict_into(const Tensor& x, Tensor& out, int64_t batch_size = 0);

  Model& model() const { return *model_; }

 private:
  Model* model_;
  std::unique_ptr<LayerCall> run_;
  uint64_t graph_version_ = 0;
  // The model's outputs for xs, batch by batch, into outs (resized).
  void run(const std::vector<Tensor>& xs, int64_t batch_size, std::vector<Tensor*>& outs);
};

}  // namespace nncore
