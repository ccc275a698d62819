#pragma once
// Optimizers keep their per-parameter state in C++; apply() runs one update of every trainable parameter.
#include <memory>
#include <string>
#include <vector>

#include "nncore/layers/layer.hpp"

namespace nncore {

class Optimizer {
 public:
  explicit Optimizer(float learning_rate);
  virtual ~Optimizer() = default;
  virtual std::string name() const = 0;
  // State is created on the first call, and again (with iterations() back to 0) if the list of parameters
  // changes.
  void apply(const std::vector<Param*>& params);
  float learning_rate() const { return lr_; }
  void set_learning_rate(float lr);
  int64_t iterations() const { return iterations_; }

 protected:
  virtual void create_state(const std::vector<Param*>& params) = 0;
  virtual void update(size_t index, Param& p) = 0;
  float lr_;
  int64_t iterations_ = 0;

 private:
  std::vector<const float*> bound_;  // which parameters the state belongs to
};

// Stochastic gradient descent with optional (Nesterov) momentum (Sutskever et al., 2013), Keras's form:
// v = momentum*v - lr*g; w += v  (nesterov: w += momentum*v - lr*g).
class SGD : public Optimizer {
 public:
  explicit SGD(float learning_rate = 0.01f, float momentum = 0.f, bool nesterov = false);
  std::string name() const override { return "SGD"; }
  float momentum() const { return momentum_; }
  bool nesterov() const { return nesterov_; }

 protected:
  void create_state(const std::vector<Param*>& params) override;
  void update(size_t index, Param& p) override;

 private:
  float momentum_;
  bool nesterov_;
  std::vector<Tensor> velocity_;
};

// Adam (Kingma & Ba, 2015, Algorithm 1 with the bias corrections folded into the step size):
// lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t); m, v moving averages of g and g^2; w -= lr_t * m / (sqrt(v) + eps).
class Adam : public Optimizer {
 public:
  explicit Adam(float learning_rate = 0.001f, float beta_1 = 0.9f, float beta_2 = 0.999f, float epsilon = 1e-7f);
  std::string name() const override { return "Adam"; }
  float beta_1() const { return b1_; }
  float beta_2() const { return b2_; }
  float epsilon() const { return eps_; }

 protected:
  void create_state(const std::vector<Param*>& params) override;
  void update(size_t index, Param& p) override;

 private:
  float b1_, b2_, eps_;
  std::vector<Tensor> m_, v_;
};

// RMSprop (Hinton, Coursera lecture 6e, 2012), Keras's form: ms = rho*ms + (1-rho)*g^2; w -= lr * g / sqrt(ms + eps).
class RMSprop : public Optimizer {
 public:
  explicit RMSprop(float learning_rate = 0.001f, float rho = 0.9f, float epsilon = 1e-7f);
  std::string name() const override { return "RMSprop"; }
  float rho() const { return rho_; }
  float epsilon() const { return eps_; }

 protected:
  void create_state(const std::vector<Param*>& params) override;
  void update(size_t index, Param& p) override;

 private:
  float rho_, eps_;
  std::vector<Tensor> ms_;
};

// "sgd", "adam", "rmsprop" with Keras's defaults. Throws listing the valid names.
std::shared_ptr<Optimizer> make_optimizer(const std::string& name);

}  // namespace nncore
