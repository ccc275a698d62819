#pragma once
// Optimizers keep their per-parameter state in C++; apply() runs one update of every trainable parameter.
// Learning-rate schedules map the number of updates already taken to a learning rate.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nncore/json.hpp"
#include "nncore/layers/layer.hpp"

namespace nncore {

// ---- learning-rate schedules (Keras 3 formulas) ------------------------------------------------------------
// A schedule is evaluated at `step` = the optimizer's iterations before the update (0 on the first step).
class LearningRateSchedule {
 public:
  virtual ~LearningRateSchedule() = default;
  virtual std::string name() const = 0;
  virtual float operator()(int64_t step) const = 0;
  // Constructor arguments as JSON, Keras names (schedule_from_config in nncore/io.hpp reads it back).
  virtual Json config() const = 0;
};

// lr = initial * decay_rate^(step / decay_steps)  (staircase: the exponent is floored).
class ExponentialDecay : public LearningRateSchedule {
 public:
  ExponentialDecay(float initial_learning_rate, double decay_steps, float decay_rate, bool staircase = false);
  std::string name() const override { return "ExponentialDecay"; }
  Json config() const override;
  float operator()(int64_t step) const override;
  float initial_learning_rate() const { return initial_; }
  double decay_steps() const { return decay_steps_; }
  float decay_rate() const { return decay_rate_; }
  bool staircase() const { return staircase_; }

 private:
  float initial_;
  double decay_steps_;
  float decay_rate_;
  bool staircase_;
};

// values[0] while step <= boundaries[0], values[i+1] while boundaries[i] < step <= boundaries[i+1], values.back()
// after the last boundary; boundaries strictly increasing, values.size() == boundaries.size() + 1.
class PiecewiseConstantDecay : public LearningRateSchedule {
 public:
  PiecewiseConstantDecay(std::vector<double> boundaries, std::vector<float> values);
  std::string name() const override { return "PiecewiseConstantDecay"; }
  Json config() const override;
  float operator()(int64_t step) const override;
  const std::vector<double>& boundaries() const { return boundaries_; }
  const std::vector<float>& values() const { return values_; }

 private:
  std::vector<double> boundaries_;
  std::vector<float> values_;
};

// SGDR's cosine annealing without restarts (Loshchilov & Hutter, 2017), Keras 3's form:
// decay(s, from) = from * ((1 - alpha) * 0.5 * (1 + cos(pi * s / decay_steps)) + alpha), s capped at decay_steps.
// With warmup_target: lr rises linearly from initial to warmup_target over warmup_steps, then
// decay(step - warmup_steps, warmup_target).
class CosineDecay : public LearningRateSchedule {
 public:
  CosineDecay(float initial_learning_rate, double decay_steps, float alpha = 0.f,
              std::optional<float> warmup_target = std::nullopt, double warmup_steps = 0.0);
  std::string name() const override { return "CosineDecay"; }
  Json config() const override;
  float operator()(int64_t step) const override;
  float initial_learning_rate() const { return initial_; }
  double decay_steps() const { return decay_steps_; }
  float alpha() const { return alpha_; }
  std::optional<float> warmup_target() const { return warmup_target_; }
  double warmup_steps() const { return warmup_steps_; }

 private:
  float initial_;
  double decay_steps_;
  float alpha_;
  std::optional<float> warmup_target_;
  double warmup_steps_;
};

// ---- optimizers --------------------------------------------------------------------------------------------
// Each apply(), as Keras 3 does it: (1) clip the gradients, one mode only, clipnorm before global_clipnorm before
// clipvalue; (2) decoupled weight decay w -= w * weight_decay * lr; (3) the optimizer's update with lr =
// schedule(iterations) (iterations counted before this step); (4) ++iterations.
// Clipping writes the clipped gradients to scratch buffers owned by the optimizer; the gradients passed in are
// never modified.
class Optimizer {
 public:
  explicit Optimizer(float learning_rate);
  virtual ~Optimizer() = default;
  virtual std::string name() const = 0;
  // State is created on the first call, and again (with iterations() back to 0) if the list of parameters
  // changes.
  void apply(const std::vector<Param*>& params);

  // The same step taken part by part, for a training loop that updates a weight block by block as its gradient is
  // computed (Dense's weight-gradient GEMM: each thread updates the block it just computed, while the block is in
  // its cache): begin_step(params) does what apply does before the updates; update_part(p, i, begin, n) updates
  // elements [begin, begin + n) of params[i] == &p from p.grad, bit-identical to apply (safe from several threads
  // on disjoint parts); finish_step(params, done) updates every parameter whose done[i] is 0. Only where no
  // clipping needs all gradients first: steps_in_parts().
  bool steps_in_parts() const { return !clipnorm_ && !global_clipnorm_ && !clipvalue_; }
  void begin_step(const std::vector<Param*>& params);
  void update_part(Param& p, size_t index, int64_t begin, int64_t n);
  void finish_step(const std::vector<Param*>& params, const std::vector<char>& done);
  // The learning rate the next apply() will use: the schedule at iterations(), or the constant.
  float learning_rate() const;
  void set_learning_rate(float lr);  // replaces any schedule
  void set_learning_rate(std::shared_ptr<LearningRateSchedule> schedule);
  std::shared_ptr<LearningRateSchedule> learning_rate_schedule() const { return schedule_; }
  int64_t iterations() const { return iterations_; }

  // Unset (nullopt) switches the option off, as None does in Keras.
  std::optional<float> weight_decay() const { return weight_decay_; }
  void set_weight_decay(std::optional<float> weight_decay);
  std::optional<float> clipnorm() const { return clipnorm_; }
  void set_clipnorm(std::optional<float> clipnorm);
  std::optional<float> clipvalue() const { return clipvalue_; }
  void set_clipvalue(std::optional<float> clipvalue);
  std::optional<float> global_clipnorm() const { return global_clipnorm_; }
  void set_global_clipnorm(std::optional<float> global_clipnorm);

  // Constructor arguments and common options as JSON, Keras names (optimizer_from_config in nncore/io.hpp reads
  // it back); the learning rate is a number or a schedule {"class_name", "config"}.
  virtual Json config() const;
  // The state of parameter `index` as named slots ("m", "v", ...); slots an option switched off are left out.
  // Empty until the state exists (after the first apply() or build_state()).
  virtual std::vector<std::pair<std::string, Tensor*>> slots(size_t index) = 0;
  // Creates fresh state bound to `params` as the first apply() would, so that restored slot values and
  // iterations are used by the next apply() with the same parameters.
  void build_state(const std::vector<Param*>& params);
  // Whether the state belongs to exactly these parameters, in this order.
  bool bound_to(const std::vector<Param*>& params) const;
  void set_iterations(int64_t iterations);

 protected:
  virtual void create_state(const std::vector<Param*>& params) = 0;
  // Per-step constants (Adam's bias-corrected rate), once before a step's updates; iterations_ already counts
  // this step (1 on the first).
  virtual void prepare_step(float lr) {}
  // Elements [begin, begin + n) of parameter `index`: w and g point at element `begin`. Called from several
  // threads at once on disjoint parts.
  virtual void update(size_t index, int64_t begin, float* w, const float* g, int64_t n, float lr) = 0;
  int64_t iterations_ = 0;

 private:
  void start_step(const std::vector<Param*>& params);
  void advance();  // counts the step and runs prepare_step: after start_step and clipping, before any update
  // Weight decay then the update of n elements of parameter `index` from `begin` (each depends on itself alone).
  void decay_and_update(size_t index, int64_t begin, float* w, const float* g, int64_t n);
  // Returns the gradient each parameter's update reads: its own, or the clipped copy in clipped_.
  std::vector<const float*> clip_gradients(const std::vector<Param*>& params);

  float lr_;
  std::shared_ptr<LearningRateSchedule> schedule_;
  std::optional<float> weight_decay_, clipnorm_, clipvalue_, global_clipnorm_;
  std::vector<const float*> bound_;  // which parameters the state belongs to
  std::vector<Tensor> clipped_;      // scratch for clipped gradients
  float step_lr_ = 0.f;              // the open step's learning rate
};

// Stochastic gradient descent with optional (Nesterov) momentum (Sutskever et al., 2013), Keras's form:
// v = momentum*v - lr*g; w += v  (nesterov: w += momentum*v - lr*g).
class SGD : public Optimizer {
 public:
  explicit SGD(float learning_rate = 0.01f, float momentum = 0.f, bool nesterov = false);
  std::string name() const override { return "SGD"; }
  Json config() const override;
  std::vector<std::pair<std::string, Tensor*>> slots(size_t index) override;
  float momentum() const { return momentum_; }
  bool nesterov() const { return nesterov_; }

 protected:
  void create_state(const std::vector<Param*>& params) override;
  void update(size_t index, int64_t begin, float* w, const float* g, int64_t n, float lr) override;

 private:
  float momentum_;
  bool nesterov_;
  std::vector<Tensor> velocity_;
};

// Adam (Kingma & Ba, 2015, Algorithm 1 with the bias corrections folded into the step size):
// lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t); m, v moving averages of g and g^2; w -= lr_t * m / (sqrt(v) + eps).
// amsgrad (Reddi et al., 2018), Keras's form: v_hat = max(v_hat, v) replaces v in the denominator.
class Adam : public Optimizer {
 public:
  explicit Adam(float learning_rate = 0.001f, float beta_1 = 0.9f, float beta_2 = 0.999f, float epsilon = 1e-7f,
                bool amsgrad = false);
  std::string name() const override { return "Adam"; }
  Json config() const override;
  std::vector<std::pair<std::string, Tensor*>> slots(size_t index) override;
  float beta_1() const { return b1_; }
  float beta_2() const { return b2_; }
  float epsilon() const { return eps_; }
  bool amsgrad() const { return amsgrad_; }

 protected:
  void create_state(const std::vector<Param*>& params) override;
  void prepare_step(float lr) override;
  void update(size_t index, int64_t begin, float* w, const float* g, int64_t n, float lr) override;

 private:
  float b1_, b2_, eps_;
  bool amsgrad_;
  float lr_t_ = 0.f;  // this step's bias-corrected rate
  std::vector<Tensor> m_, v_, v_hat_;
};

// AdamW: Adam with decoupled weight decay (Loshchilov & Hutter, 2019): w -= lr * weight_decay * w before the
// Adam step.
class AdamW : public Adam {
 public:
  explicit AdamW(float learning_rate = 0.001f, float weight_decay = 0.004f, float beta_1 = 0.9f,
                 float beta_2 = 0.999f, float epsilon = 1e-7f, bool amsgrad = false);
  std::string name() const override { return "AdamW"; }
};

// Adagrad (Duchi et al., 2011), Keras's form: acc += g^2; w -= lr * g / sqrt(acc + eps), acc starting at
// initial_accumulator_value.
class Adagrad : public Optimizer {
 public:
  explicit Adagrad(float learning_rate = 0.001f, float initial_accumulator_value = 0.1f, float epsilon = 1e-7f);
  std::string name() const override { return "Adagrad"; }
  Json config() const override;
  std::vector<std::pair<std::string, Tensor*>> slots(size_t index) override;
  float initial_accumulator_value() const { return initial_accumulator_; }
  float epsilon() const { return eps_; }

 protected:
  void create_state(const std::vector<Param*>& params) override;
  void update(size_t index, int64_t begin, float* w, const float* g, int64_t n, float lr) override;

 private:
  float initial_accumulator_, eps_;
  std::vector<Tensor> acc_;
};

// RMSprop (Hinton, Coursera lecture 6e, 2012), Keras's form: ms = rho*ms + (1-rho)*g^2; d = ms + eps
// (centered: mg = rho*mg + (1-rho)*g, d = ms - mg^2 + eps); inc = lr * g / sqrt(d);
// w -= inc, or with momentum: vel = momentum*vel + inc; w -= vel.
class RMSprop : public Optimizer {
 public:
  explicit RMSprop(float learning_rate = 0.001f, float rho = 0.9f, float momentum = 0.f, float epsilon = 1e-7f,
                   bool centered = false);
  std::string name() const override { return "RMSprop"; }
  Json config() const override;
  std::vector<std::pair<std::string, Tensor*>> slots(size_t index) override;
  float rho() const { return rho_; }
  float momentum() const { return momentum_; }
  float epsilon() const { return eps_; }
  bool centered() const { return centered_; }

 protected:
  void create_state(const std::vector<Param*>& params) override;
  void update(size_t index, int64_t begin, float* w, const float* g, int64_t n, float lr) override;

 private:
  float rho_, momentum_, eps_;
  bool centered_;
  std::vector<Tensor> ms_, mg_, velocity_;
};

// "sgd", "adam", "adamw", "adagrad", "rmsprop" with Keras's defaults. Throws listing the valid names.
std::shared_ptr<Optimizer> make_optimizer(const std::string& name);

}  // namespace nncore
