// Data-parallel training from C++ over MPI: every rank builds the same model, nncore::MpiReducer averages the
// gradients inside fit, and rank 0 reports. The two-spirals problem of train_mlp.cpp, each rank taking its share of
// every global batch.
//   mpiexec -n 2 ./train_mpi [epochs] [out.nncore]
// With an output path, rank 0 saves the trained model (every rank holds the same weights; the test compares).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>

#include "nncore/mpi_reducer.hpp"
#include "nncore/nncore.hpp"

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int code = 0;
  try {
    const int64_t epochs = argc > 1 ? std::atoll(argv[1]) : 100;
    auto reducer = std::make_shared<nncore::MpiReducer>(MPI_COMM_WORLD);
    nncore::set_random_seed(42 + reducer->rank());  // different starts: fit broadcasts rank 0's weights

    // The whole data set on every rank (fit shards it).
    const int64_t n = 500;
    nncore::Tensor x({2 * n, 2}), y({2 * n, 1});
    std::mt19937 rng(7);
    std::normal_distribution<float> noise(0.f, 0.02f);
    for (int64_t i = 0; i < n; ++i) {
      const float t = 0.25f + 3.0f * static_cast<float>(i) / static_cast<float>(n);
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
                              std::make_shared<nncore::Dense>(64, "relu"),
                              std::make_shared<nncore::Dense>(1, "sigmoid")});
    model.build({2});
    // A global batch of size() * 16 samples.
    model.compile(std::make_shared<nncore::Adam>(0.003f), nncore::Loss::from_name("binary_crossentropy"),
                  {"accuracy"});
    nncore::FitOptions options;
    options.epochs = epochs;
    options.batch_size = 16;
    options.verbose = 0;
    options.reducer = reducer;
    const nncore::History history = model.fit(x, y, options);
    const std::vector<double> result = model.evaluate(x, y);
    if (reducer->rank() == 0) {
      std::printf("ranks: %d  epochs: %zu  final training loss (averaged over ranks): %.4f\n", reducer->size(),
                  history["loss"].size(), history["loss"].back());
      std::printf("loss: %.4f  accuracy: %.4f\n", result[0], result[1]);
    }
    if (argc > 2) nncore::save_model(model, std::string(argv[2]) + "." + std::to_string(reducer->rank()));
    code = result[1] >= 0.97 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_mpi: %s\n", e.what());
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  MPI_Finalize();
  return code;
}
