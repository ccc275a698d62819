#pragma once
// Sequential model and its training loop. fit/evaluate/predict run entirely in C++: shuffling, batching,
// forward, loss, backward, update and metrics, with buffers allocated once per batch size.
#include <atomic>
#include <functional>
#include <memory>
#include <shared_mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "nncore/distributed.hpp"
#include "nncore/layers/layer.hpp"
#include "nncore/losses.hpp"
#include "nncore/metrics.hpp"
#include "nncore/optimizers.hpp"

namespace nncore {

namespace detail {
class DataParallel;
}

using Logs = std::vector<std::pair<std::string, double>>;

struct History {
  std::vector<int64_t> epochs;
  std::vector<std::pair<std::string, std::vector<double>>> values;  // key -> one value per epoch
  bool interrupted = false;  // stopped by Ctrl-C (SIGINT) between batches
  const std::vector<double>& operator[](const std::string& key) const;
};

// evaluate's and predict's hooks (Keras's on_test_* and on_predict_*); unset hooks cost nothing.
struct EvalCallbacks {
  std::function<void()> on_begin;
  std::function<void(const Logs& logs)> on_end;
  std::function<void(int64_t batch)> on_batch_begin;
  std::function<void(int64_t batch, const Logs& logs)> on_batch_end;
};

// Hooks called from the loop. Unset hooks cost nothing; the per-batch ones are only called when set.
struct FitCallbacks {
  std::function<void()> on_train_begin, on_train_end;
  std::function<void(int64_t epoch)> on_epoch_begin;
  std::function<void(int64_t epoch, const Logs& logs)> on_epoch_end;
  std::function<void(int64_t batch)> on_batch_begin;
  std::function<void(int64_t batch, const Logs& logs)> on_batch_end;
  EvalCallbacks validation;  // the validation run after each epoch (Keras calls the test hooks there)
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
  // (Keras's "sum_over_batch_size"); weighted metrics (Keras's weighted_metrics) read them, others do not. A validation_split also
  // splits the weights; validation_x/y are evaluated unweighted.
  const Tensor* sample_weight = nullptr;
  int64_t initial_epoch = 0;
  bool handle_sigint = true;  // Ctrl-C stops cleanly between batches (History::interrupted)
  std::function<void(const std::string&)> print;  // progress output; default: stdout
  FitCallbacks callbacks;
  // Data-parallel training over several processes (nncore/distributed.hpp): null, or a reducer of size 1, trains
  // here alone. Arrays only (not a BatchSource).
  std::shared_ptr<GradientReducer> reducer;
  DataSharding sharding = DataSharding::global;
};

// Batches from the caller instead of arrays (a Python generator or PyDataset, a C++ reader): next(step, xs, ys, w)
// fills batch `step` (xs per input, ys per output, w the per-sample loss weights or left empty) and returns false
// when the epoch has no more; `steps` is the number of batches per epoch (-1: until next returns false). The
// tensors may be views: the model copies them. begin_epoch/end_epoch (optional) bracket each epoch.
struct BatchSource {
  int64_t steps = -1;
  std::function<bool(int64_t step, std::vector<Tensor>& xs, std::vector<Tensor>& ys, Tensor& w)> next;
  std::function<void(int64_t epoch)> begin_epoch, end_epoch;
};

// ---- the functional API ---------------------------------------------------------------------------------------
// A symbolic tensor is output `index` of a graph node: one call of a layer on symbolic tensors, or a model input.
// Calling a layer builds it for the per-sample shapes of its inputs (on its first call; later calls are checked
// against them); Model(inputs, outputs) then collects the calls between them. A layer may be called many times.
struct GraphNode;

class SymbolicTensor {
 public:
  SymbolicTensor() = default;
  SymbolicTensor(std::shared_ptr<GraphNode> node, size_t index) : node_(std::move(node)), index_(index) {}
  const Shape& shape() const;  // per sample (no batch axis)
  const std::shared_ptr<GraphNode>& node() const { return node_; }
  size_t index() const { return index_; }
  // The layer that produced it, or the input's name for a model input.
  std::string name() const;

 private:
  std::shared_ptr<GraphNode> node_;
  size_t index_ = 0;
};

struct GraphNode {
  LayerPtr layer;                       // null for a model input
  std::vector<SymbolicTensor> inbound;  // the call's inputs, in order
  std::string input_name;               // model inputs only
  std::vector<Shape> shapes;            // per output, per sample
  int training = -1;                    // the call's training flag: -1 the model's mode, 0 inference, 1 training
  GraphNode() = default;
  GraphNode(const GraphNode&) = delete;
  GraphNode& operator=(const GraphNode&) = delete;
  // Releases the chain behind it iteratively: a graph of 100,000 layers must not recurse 100,000 deep.
  ~GraphNode();
};

// A model input of per-sample shape `shape` (Keras's Input(shape)).
SymbolicTensor Input(const Shape& shape, const std::string& name = "");
// Calls `layer` on symbolic inputs and returns its symbolic outputs (one for most layers; a recurrent layer with
// return_state also returns its states).
// training (Keras's `layer(x, training=False)`): -1 follows the model's mode, 0 always inference (a frozen base
// model's BatchNormalization), 1 always training (Monte Carlo dropout).
std::vector<SymbolicTensor> call_outputs(const LayerPtr& layer, const std::vector<SymbolicTensor>& inputs,
                                         int training = -1);
// The same for a layer with one output.
SymbolicTensor call(const LayerPtr& layer, const std::vector<SymbolicTensor>& inputs);
inline SymbolicTensor call(const LayerPtr& layer, const SymbolicTensor& input) { return call(layer, std::vector<SymbolicTensor>{input}); }

// Where a tensor of a model comes from: output `output` of call `call` of layer (or model input) `layer`, as
// Keras's [layer_name, node_index, tensor_index].
struct TensorRef {
  std::string layer;
  size_t call = 0;
  size_t output = 0;
};

// ---- models -------------------------------------------------------------------------------------------------
// A graph of layers from one or more inputs to one or more outputs, and its training loop. The loop runs entirely
// in C++; buffers grow once per batch size. With several outputs, each has its loss (one loss serves all when a
// single one is given) and the reported "loss" is their sum; the logs then also hold "<output>_loss" and
// "<output>_<metric>" for every output, as Keras names them.
//
// A model is a layer: it can be called on symbolic tensors inside another model, or be an entry of a Sequential.
// Its layers are then shared with the outer model (training it trains them, unless frozen); its weights are its
// layers' ("<inner layer>/<weight>"); set_trainable(false) freezes every layer in it. Each call of a model runs
// the graph on its own GraphRun, so a model may be called several times too.
class Model : public Layer {
 public:
  Model(const std::vector<SymbolicTensor>& inputs, const std::vector<SymbolicTensor>& outputs, std::string name = "");
  ~Model() override;

  std::string class_name() const override { return "Functional"; }
  // The architecture (nncore::model_config).
  Json config() const override;
  // Every layer once, in the order of their first calls.
  const std::vector<LayerPtr>& layers() const { return layers_; }
  LayerPtr get_layer(const std::string& name) const;
  void set_trainable(bool t) override;  // every layer of the model follows (Keras)
  int64_t count_trainable_params() const override;
  // Keras's model.quantize("int8"): every quantizable layer (nested models' too; Layer::quantize) gets int8
  // weights; the others stay float. From then on the model predicts and evaluates, and fit / train_on_batch raise.
  // Errors: mode not "int8", the model not built, already quantized, no quantizable layer.
  void quantize(const std::string& mode) override;
  // Whether any layer (nested ones too) is quantized.
  bool has_quantized_layers() const;
  void refresh_quantized() override;  // every layer's
  bool rows_independent() const override;  // every layer's
  // The largest working set of one layer call (inputs, outputs, scratch) per sample, in floats.
  int64_t inference_scratch_per_sample(const std::vector<Shape>& in) const override;
  // Rows per part when an inference session runs a batch of n in parts (see InferenceSession::predict).
  int64_t inference_part_rows(int64_t n) const;

  size_t num_inputs() const { return inputs_.size(); }
  size_t num_outputs() const { return outputs_.size(); }
  const Shape& input_shape(size_t i = 0) const;   // per sample
  const Shape& output_shape(size_t i = 0) const;  // per sample
  const std::string& input_name(size_t i) const { return inputs_.at(i).name; }
  // The name of output i: its layer's name.
  const std::string& output_name(size_t i) const;
  // The graph's nodes (calls of layers), in the order they run.
  size_t num_nodes() const { return nodes_.size(); }
  const LayerPtr& node_layer(size_t k) const;
  // Which call of its layer node k is (0 for the first).
  size_t node_call_index(size_t k) const;
  // What node k reads, and where output j of the model comes from.
  std::vector<TensorRef> node_inputs(size_t k) const;
  TensorRef output_ref(size_t j) const;

  void compile(std::shared_ptr<Optimizer> optimizer, const Loss& loss, const std::vector<std::string>& metrics);
  // One loss per output (or a single one for all); the named metrics for every output.
  void compile(std::shared_ptr<Optimizer> optimizer, const std::vector<Loss>& losses,
               const std::vector<std::string>& metrics);
  // Each output's own metrics (one list per output; Metric::from_config makes them from Keras's classes).
  void compile(std::shared_ptr<Optimizer> optimizer, const std::vector<Loss>& losses,
               const std::vector<std::vector<Metric>>& metrics);
  bool compiled() const { return static_cast<bool>(optimizer_); }
  // Keras's loss_weights: output j's loss counts w[j] times in the total (and its gradient); empty: all 1. Set
  // after compile (compile resets them).
  void set_loss_weights(const std::vector<float>& weights);
  const std::vector<float>& loss_weights() const { return loss_weights_; }
  std::shared_ptr<Optimizer> optimizer() const { return optimizer_; }
  const Loss& loss(size_t output = 0) const;
  // The metrics given to compile, per output.
  const std::vector<std::vector<Metric>>& metrics() const { return metrics_; }
  // ["loss", metric names...]; with several outputs ["loss", "<out>_loss"..., "<out>_<metric>"...], the per-output
  // losses only for outputs with a loss and only when two or more have one (as Keras 3).
  std::vector<std::string> metrics_names() const;
  std::vector<size_t> logged_losses() const;

  // Single-input, single-output forms.
  History fit(const Tensor& x, const Tensor& y, const FitOptions& options = {});
  std::vector<double> evaluate(const Tensor& x, const Tensor& y, int64_t batch_size = 32, int verbose = 0,
                               const std::function<void(const std::string&)>& print = nullptr,
                               const Tensor* sample_weight = nullptr, const EvalCallbacks& callbacks = {});
  Tensor predict(const Tensor& x, int64_t batch_size = 32);
  // Forward with training=false into an existing output tensor (resized as needed).
  void predict_into(const Tensor& x, Tensor& out, int64_t batch_size = 32);
  std::vector<double> train_on_batch(const Tensor& x, const Tensor& y);
  std::vector<double> test_on_batch(const Tensor& x, const Tensor& y);
  double compute_gradients(const Tensor& x, const Tensor& y, Tensor* dx = nullptr);
  Tensor input_gradient(const Tensor& x, const Tensor& y);

  // Any number of inputs and outputs: xs[i] is (N, *input_shape(i)), ys[j] the targets of output j.
  // FitOptions::validation_x/y are not used by this form: pass validation_xs/ys.
  History fit(const std::vector<Tensor>& xs, const std::vector<Tensor>& ys, const FitOptions& options = {},
              const std::vector<Tensor>& validation_xs = {}, const std::vector<Tensor>& validation_ys = {});
  std::vector<double> evaluate(const std::vector<Tensor>& xs, const std::vector<Tensor>& ys, int64_t batch_size = 32,
                               int verbose = 0, const std::function<void(const std::string&)>& print = nullptr,
                               const Tensor* sample_weight = nullptr, const EvalCallbacks& callbacks = {});
  std::vector<Tensor> predict(const std::vector<Tensor>& xs, int64_t batch_size = 32,
                              const EvalCallbacks& callbacks = {});
  std::vector<double> train_on_batch(const std::vector<Tensor>& xs, const std::vector<Tensor>& ys);
  // The same on batches from a BatchSource (validation: another source, evaluated after each epoch). Each batch is
  // checked as arrays are; batch_size and validation_split do not apply.
  History fit(BatchSource& data, const FitOptions& options, BatchSource* validation = nullptr);
  std::vector<double> evaluate(BatchSource& data, int verbose = 0,
                               const std::function<void(const std::string&)>& print = nullptr,
                               const EvalCallbacks& callbacks = {});
  std::vector<Tensor> predict(BatchSource& data, const EvalCallbacks& callbacks = {});
  // Forward in inference mode, loss + weight penalties, backward into every trainable param's grad (zeroed first;
  // no optimizer step). Also writes d(loss)/d(xs[i]) into (*dxs)[i] when given. Returns the loss.
  double compute_gradients(const std::vector<Tensor>& xs, const std::vector<Tensor>& ys,
                           std::vector<Tensor>* dxs = nullptr);

  // Keras's table of layers. expand_nested: a nested model's layers follow its row, indented; show_trainable: a
  // last column "Y"/"N" per layer.
  std::string summary(int line_length = 65, bool expand_nested = false, bool show_trainable = false) const;
  int64_t count_params() const;
  std::vector<Param*> trainable_params();
  std::vector<Tensor*> weights();
  // Adds this model's trainable parameters (those of its trainable layers, recursively) to `out`.
  void collect_trainable(std::vector<Param*>& out) override;

  // Set from a callback (any thread) to end training after the current batch.
  std::atomic<bool> stop_training{false};

  // One run of the graph: each node's call and the values of the last forward and backward. The model keeps one
  // for fit/evaluate/predict; each call of the model as a layer has its own.
  struct GraphRun;

 protected:
  explicit Model(std::string name);  // for Sequential, which fills the graph itself
  struct InputSpec {
    std::string name;
    Shape shape;
  };
  // One call of a layer. Values are numbered: the model inputs first, then each node's outputs in node order.
  struct Node {
    LayerPtr layer;
    std::vector<size_t> inputs;  // value ids
    size_t first_value = 0;      // its outputs are values first_value, first_value + 1, ...
    size_t num_outputs = 1;
    int training = -1;           // -1: the run's mode; 0/1: fixed (Keras's layer(x, training=...))
    size_t call_index = 0;       // which call of its layer this is (graph_changed)
  };
  // Rebuilds the derived graph state after nodes_/inputs_/outputs_ change: layers, value numbering, shapes, the
  // weights the model shows as a layer, and (when built) the model's own run.
  void graph_changed();
  // Builds the model when it is not (Sequential builds from the first batch's shape); `what` names the call.
  virtual void ensure_built(const std::vector<Tensor>& xs, const std::string& what);

  // ---- the model as a layer ----
  std::unique_ptr<LayerCall> new_call() const override;
  std::vector<Shape> build_shapes(const std::vector<Shape>& input_shapes) override;
  std::vector<Shape> call_shapes(const std::vector<Shape>& input_shapes) const override;
  void forward_list(LayerCall& call, bool training) override;
  void backward_list(LayerCall& call, const std::vector<const Tensor*>& dys, bool need_dx) override;
  const Tensor* output_mask(const LayerCall& call, size_t output) const override;
  double aux_loss(const LayerCall& call) const override;
 public:
  bool adds_losses() const override;

 protected:

  std::vector<InputSpec> inputs_;
  std::vector<Node> nodes_;
  std::vector<size_t> outputs_;  // value ids
  std::vector<LayerPtr> layers_;
  std::vector<int64_t> value_node_;   // per value: the node that makes it, or -1 for a model input
  std::vector<Shape> value_shapes_;   // per value, per sample (when built)

 private:
  // Checks inputs against the model's (count, samples, shapes, finite values); returns the per-sample output
  // shapes for them (which follow their lengths on unknown axes).
  std::vector<Shape> check_inputs(const std::vector<Tensor>& xs, const std::string& what);
  // Checks targets against the outputs: count, samples (`x_label` names the inputs: "fit: x"), and each loss's
  // own check (`y_label` names the targets: "y", "validation y").
  void check_targets(const std::vector<Tensor>& ys, int64_t n, const std::vector<Shape>& out_shapes,
                     const std::string& x_label,
                     const std::string& y_label) const;
  void check_compiled(const std::string& what) const;
  // One epoch's batches for run_epochs: next(step, w) puts batch `step` in xb_/yb_ (w: its loss weights or null).
  struct EpochSource {
    int64_t steps = -1;
    std::function<bool(int64_t step, const float*& w)> next;
    std::function<void(int64_t epoch)> begin_epoch, end_epoch;
    double share = 1.0;  // data-parallel: the last batch's samples over its global batch's (set by next)
  };
  History run_epochs(EpochSource& src, const FitOptions& options,
                     const std::function<std::vector<double>()>& validate);
  bool fetch(BatchSource& data, int64_t step, const std::string& what, bool with_targets, Tensor& w);
  static Shape loss_shape(const Shape& output);  // a per-sample output shape, with () read as (1,)
  void prepare_training();
  // The running values of one fit epoch or evaluation: the losses summed over the samples seen, and every
  // metric's state (Keras's metric variables), output by output.
  struct Running {
    std::vector<double> loss;      // [total, then the logged outputs' losses]
    std::vector<int64_t> loss_slot;  // per output: its entry in `loss`, or -1 when not logged
    std::vector<double> state;     // the metrics' states back to back
    std::vector<size_t> offset;    // where each metric's state starts (output-major)
    std::vector<Shape> shapes;     // each output's per-sample shape the states were sized for
    int64_t seen = 0;
  };
  // Zeros `r` (sized for the compiled metrics) and resets the metrics kept by the caller.
  void reset_running(Running& r) const;
  // The values in metrics_names() order: losses per sample seen, then each metric's result.
  void running_values(const Running& r, std::vector<double>& values) const;
  void running_logs(const Running& r, Logs& logs) const;
  // One optimization step on the batch in xb_/yb_; adds the batch's loss and metrics to `r`. Under data-parallel
  // fit (data_parallel_ set) the batch is this rank's part (possibly empty) of a global batch of which it holds
  // `share`; returns whether any rank asked to stop (`stop`: this one does).
  bool train_step(Running& r, const float* wb, double share = 1.0, bool stop = false);
  // Forward in inference mode + loss and metrics (no gradient) on batch views.
  void test_step(const std::vector<Tensor>& xb, const std::vector<Tensor>& yb, Running& r, const float* wb);
  // Loss of every output (+ its gradient when `grad`) and the metrics (when r is given), added to r; returns the
  // total loss summed over the batch.
  double losses_and_metrics(const std::vector<Tensor>& yb, int64_t B, Running* r, bool grad, const float* wb);
  static void check_sample_weight(const Tensor& w, int64_t N, const std::string& what);
  // A new run with a call for every node (the graph must be built).
  std::unique_ptr<GraphRun> make_run() const;
  void forward(GraphRun& run, const std::vector<const Tensor*>& xs, const std::vector<const Tensor*>& masks,
               bool training);
  // Backpropagates the outputs' gradients (douts[j], null: none reached output j; fused[j]: douts[j] is the
  // gradient of output j's pre-activation); every node that needs it (or all, with all_dx) passes dx down.
  // Returns the gradients that reach the model inputs (valid when all_dx; null where none reached).
  std::vector<const Tensor*> backward(GraphRun& run, const std::vector<const Tensor*>& douts, const char* fused,
                                      bool all_dx);
  // The top-level forms on the model's own run, with dout_ and fused_.
  void forward(const std::vector<const Tensor*>& xs, bool training);
  std::vector<const Tensor*> backward(bool all_dx);
  // Which nodes need an input gradient (a trainable layer lies upstream of them); into need_dx_.
  void derive_need_dx();
  // summary()'s rows for a nested model's layers (expand_nested).
  static void add_nested_rows(const Model& m, const std::string& indent, int c1, int c2, int c3, bool show_trainable,
                              std::vector<std::string>& rows);
  // Sum of the trainable weights' penalties; with_grad also adds their gradients.
  double regularization(bool with_grad);

  std::shared_ptr<Optimizer> optimizer_;
  std::vector<Loss> losses_;  // one per output
  std::vector<float> loss_weights_;  // per output, or empty (all 1)
  std::vector<std::vector<Metric>> metrics_;  // per output
  std::vector<char> fused_;       // per output: loss computed from the output layer's pre-activation
  std::vector<char> need_dx_;     // per node: does anything upstream need a gradient?
  std::vector<size_t> consumers_; // per value: how many node inputs read it (+1 per output use)
  std::vector<Param*> train_params_;  // what the optimizer updates (prepare_training)
  // Per train_params_ entry: a weight whose layer may take the optimizer's step on it during backward (the kernel
  // of a Dense called once, written by nothing else, without a penalty; see Param::step_optimizer).
  std::vector<char> step_in_backward_;
  std::vector<Param*> moving_state_;  // trainable layers' non-trainable weights (moving statistics), for data-parallel fit
  detail::DataParallel* data_parallel_ = nullptr;  // during a data-parallel fit
  std::vector<float> reg_scratch_;    // the OrthogonalRegularizer's work space
  std::unique_ptr<GraphRun> run_;  // the model's own run (fit, evaluate, predict)
  std::vector<Tensor> xb_, yb_, dout_;  // batch buffers, grown once per batch size
  std::vector<const Tensor*> dout_ptrs_;
  uint64_t graph_version_ = 0;  // bumped by graph_changed(): an InferenceSession's run is rebuilt after it

  // Training (fit, train_on_batch) holds this exclusively on its thread; InferenceSession::predict on other threads
  // holds it shared, so that no predict ever reads weights halfway through an optimizer step (see training.cpp's
  // TrainingLock).
  mutable std::shared_mutex weights_mutex_;
  std::atomic<std::thread::id> training_thread_{};

  friend class Sequential;
  friend class InferenceSession;
  friend class TrainingLock;
};

// A linear stack of layers: a chain graph built from the first layer's input shape (or the first batch's).
class Sequential : public Model {
 public:
  explicit Sequential(std::string name = "");
  explicit Sequential(std::vector<LayerPtr> layers, std::string name = "");
  std::string class_name() const override { return "Sequential"; }

  void add(LayerPtr layer);
  // Adds several layers in one pass (linear in the model's size, where add() one by one is quadratic).
  void add(std::vector<LayerPtr> layers);
  LayerPtr pop();
  // Builds every layer for per-sample input shape `input_shape` (no batch axis).
  void build(const Shape& input_shape);

 protected:
  void ensure_built(const std::vector<Tensor>& xs, const std::string& what) override;
  // As a layer: built from its first call's input shape.
  std::vector<Shape> build_shapes(const std::vector<Shape>& input_shapes) override;

 private:
  void rebuild_chain();
};

}  // namespace nncore
