#pragma once
// Sequential model and its training loop. fit/evaluate/predict run entirely in C++: shuffling, batching,
// forward, loss, backward, update and metrics, with buffers allocated once per batch size.
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "nncore/layers/layer.hpp"
#include "nncore/losses.hpp"
#include "nncore/optimizers.hpp"

namespace nncore {

using Logs = std::vector<std::pair<std::string, double>>;

struct History {
  std::vector<int64_t> epochs;
  std::vector<std::pair<std::string, std::vector<double>>> values;  // key -> one value per epoch
  bool interrupted = false;  // stopped by Ctrl-C (SIGINT) between batches
  const std::vector<double>& operator[](const std::string& key) const;
};

// Hooks called from the loop. Unset hooks cost nothing; on_batch_end is only called when set.
struct FitCallbacks {
  std::function<void()> on_train_begin, on_train_end;
  std::function<void(int64_t epoch)> on_epoch_begin;
  std::function<void(int64_t epoch, const Logs& logs)> on_epoch_end;
  std::function<void(int64_t batch, const Logs& logs)> on_batch_end;
};

struct FitOptions {
  int64_t epochs = 1;
  int64_t batch_size = 32;
  bool shuffle = true;
  int verbose = 1;  // 0 silent, 1 progress bar, 2 one line per epoch
  double validation_split = 0.0;
  const Tensor* validation_x = nullptr;
  const Tensor* validation_y = nullptr;
  // (N,) per-sample loss weights, gathered with the shuffled batch; the batch loss is sum(w_i * loss_i) / B
  // (Keras's "sum_over_batch_size"). Metrics stay unweighted (Keras 3's `metrics=`). A validation_split also
  // splits the weights; validation_x/y are evaluated unweighted.
  const Tensor* sample_weight = nullptr;
  int64_t initial_epoch = 0;
  bool handle_sigint = true;  // Ctrl-C stops cleanly between batches (History::interrupted)
  std::function<void(const std::string&)> print;  // progress output; default: stdout
  FitCallbacks callbacks;
};

class Sequential {
 public:
  explicit Sequential(std::string name = "");
  explicit Sequential(std::vector<LayerPtr> layers, std::string name = "");

  void add(LayerPtr layer);
  LayerPtr pop();
  const std::vector<LayerPtr>& layers() const { return layers_; }
  const std::string& name() const { return name_; }

  // Builds every layer for per-sample input shape `input_shape` (no batch axis).
  void build(const Shape& input_shape);
  bool built() const { return built_; }
  const Shape& input_shape() const;
  const Shape& output_shape() const;

  void compile(std::shared_ptr<Optimizer> optimizer, const Loss& loss, const std::vector<std::string>& metrics);
  bool compiled() const { return static_cast<bool>(optimizer_); }
  std::shared_ptr<Optimizer> optimizer() const { return optimizer_; }
  const Loss& loss() const { return loss_; }
  // ["loss", metric names...]
  std::vector<std::string> metrics_names() const;

  History fit(const Tensor& x, const Tensor& y, const FitOptions& options = {});
  // [loss, metrics...]
  // sample_weight: (N,) per-sample loss weights as in FitOptions; metrics stay unweighted.
  std::vector<double> evaluate(const Tensor& x, const Tensor& y, int64_t batch_size = 32, int verbose = 0,
                               const std::function<void(const std::string&)>& print = nullptr,
                               const Tensor* sample_weight = nullptr);
  Tensor predict(const Tensor& x, int64_t batch_size = 32);
  // Forward with training=false into an existing output tensor (resized as needed).
  void predict_into(const Tensor& x, Tensor& out, int64_t batch_size = 32);
  std::vector<double> train_on_batch(const Tensor& x, const Tensor& y);
  std::vector<double> test_on_batch(const Tensor& x, const Tensor& y);
  // Forward in inference mode, mean loss + weight penalties, backward into every trainable param's grad (zeroed
  // first; no optimizer step). Also writes d(loss)/d(x) into *dx when given. Returns the loss.
  double compute_gradients(const Tensor& x, const Tensor& y, Tensor* dx = nullptr);
  // d(mean loss)/d(x), shaped like x (saliency maps, adversarial examples).
  Tensor input_gradient(const Tensor& x, const Tensor& y);

  std::string summary(int line_length = 65) const;
  int64_t count_params() const;
  std::vector<Param*> trainable_params();
  std::vector<Tensor*> weights();

  // Set from a callback (any thread) to end training after the current batch.
  std::atomic<bool> stop_training{false};

 private:
  void check_x(const Tensor& x, const std::string& what);
  void check_compiled(const std::string& what) const;
  void prepare_training();
  // One optimization step on a batch already in xb/yb; adds the batch sums of loss and metrics to `sums`.
  // wb: the batch's per-sample loss weights, or nullptr for all ones.
  void train_step(const Tensor& xb, const float* yb, std::vector<double>& sums, const float* wb = nullptr);
  // Forward in inference mode + loss/metric sums (no gradient).
  void test_step(const Tensor& xb, const float* yb, std::vector<double>& sums, const float* wb = nullptr);
  // Validates (N,) sample weights: length, finite, >= 0. `what` names the call ("fit", "evaluate").
  static void check_sample_weight(const Tensor& w, int64_t N, const std::string& what);
  const Tensor& forward(const Tensor& x, bool training);
  // Sum of the trainable weights' penalties; with_grad also adds their gradients.
  double regularization(bool with_grad);

  std::string name_;
  std::vector<LayerPtr> layers_;
  bool built_ = false;
  std::shared_ptr<Optimizer> optimizer_;
  Loss loss_;
  std::vector<Metric> metrics_;
  bool fused_ = false;            // loss computed from the last layer's pre-activation
  std::vector<char> need_dx_;     // per layer: does any earlier layer need a gradient?
  std::vector<Param*> trainable_;
  Tensor xb_, yb_, dout_;         // batch buffers, grown once per batch size
};

}  // namespace nncore
