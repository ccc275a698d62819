// Builds, trains and evaluates an MLP entirely from C++: the two-spirals problem (two interleaved spirals,
// 2-D points, labels 0/1), a classic that a linear model cannot separate.
//   ./train_mlp [epochs]
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>

#include "nncore/nncore.hpp"

int main(int argc, char** argv) {
  const int64_t epochs = argc > 1 ? std::atoll(argv[1]) : 200;
  nncore::set_random_seed(42);

  // Data: n points per spiral, 3 turns; the second spiral is the first rotated by 180 degrees.
  const int64_t n = 500;
  nncore::Tensor x({2 * n, 2}), y({2 * n, 1});
  std::mt19937 rng(7);
  std::normal_distribution<float> noise(0.f, 0.02f);
  for (int64_t i = 0; i < n; ++i) {
    const float t = 0.25f + 3.0f * static_cast<float>(i) / static_cast<float>(n);  // radius grows with angle
    const float a = t * 2.f * 3.14159265f;
    for (int s = 0; s < 2; ++s) {
      const int64_t k = 2 * i + s;
      const float sign = s == 0 ? 1.f : -1.f;
      x.data()[2 * k] = sign * t * std::cos(a) / 3.25f + noise(rng);
      x.data()[2 * k + 1] = sign * t * std::sin(a) / 3.25f + noise(rng);
      y.data()[k] = static_cast<float>(s);
    }
  }

  nncore::Sequential model({std::make_shared<nncore::Dense>(64, "relu"), std::make_shared<nncore::Dense>(64, "relu"),
                            std::make_shared<nncore::Dense>(64, "relu"), std::make_shared<nncore::Dense>(1, "sigmoid")});
  model.build({2});
  model.compile(std::make_shared<nncore::Adam>(0.003f), nncore::Loss::from_name("binary_crossentropy"), {"accuracy"});
  std::printf("%s", model.summary().c_str());

  nncore::FitOptions options;
  options.epochs = epochs;
  options.batch_size = 32;
  options.verbose = 0;
  const nncore::History history = model.fit(x, y, options);
  const std::vector<double> result = model.evaluate(x, y);
  std::printf("epochs: %zu  final training loss: %.4f\n", history["loss"].size(), history["loss"].back());
  std::printf("loss: %.4f  accuracy: %.4f\n", result[0], result[1]);

  // Inference on a raw buffer: predict() takes any (batch, 2) tensor, here a view of caller memory.
  float points[4] = {0.f, 0.f, 0.5f, -0.5f};
  const nncore::Tensor p = model.predict(nncore::Tensor::view(points, {2, 2}));
  std::printf("p(spiral 1 | (0,0)) = %.3f, p(spiral 1 | (0.5,-0.5)) = %.3f\n", p.data()[0], p.data()[1]);
  return result[1] >= 0.97 ? 0 : 1;
}
