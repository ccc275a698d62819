// Inference latency from C++ for bench/bench_inference.py: loads a model saved by nncore (model.save("m.nncore")),
// times nncore::InferenceSession::predict on inputs of each batch size given, and prints one line per batch:
// "<batch> <microseconds per call>" (the median of 7 samples, each of enough calls to take ~20 ms).
//   ./bench_inference MODEL.nncore THREADS BATCH [BATCH ...]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "nncore/nncore.hpp"

namespace {

double seconds(const std::chrono::steady_clock::time_point& t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s MODEL.nncore THREADS [--ids=VOCAB] BATCH [BATCH ...]\n", argv[0]);
    return 2;
  }
  // --ids=V: the inputs are token ids in [0, V) (an Embedding first), else values in [0, 1).
  int first = 3;
  int64_t vocab = 0;
  if (std::strncmp(argv[3], "--ids=", 6) == 0) vocab = std::atoll(argv[first++] + 6);
  try {
    std::unique_ptr<nncore::Model> model = nncore::load_model(argv[1], /*compile=*/false);
    nncore::set_num_threads(std::atoi(argv[2]));
    nncore::InferenceSession session(*model);
    for (int a = first; a < argc; ++a) {
      const int64_t batch = std::atoll(argv[a]);
      nncore::Shape shape{batch};
      for (int64_t d : model->input_shape()) shape.push_back(d);
      nncore::Tensor x(shape), y;
      for (int64_t i = 0; i < x.size(); ++i)
        x.data()[i] = vocab > 0 ? static_cast<float>((i * 7919) % vocab) : static_cast<float>((i * 7919) % 1000) / 1000.f;
      session.predict_into(x, y);  // warm-up: buffers, thread pool
      auto t0 = std::chrono::steady_clock::now();
      session.predict_into(x, y);
      const int64_t calls = std::max<int64_t>(1, static_cast<int64_t>(0.02 / std::max(seconds(t0), 1e-7)));
      std::vector<double> samples;
      for (int s = 0; s < 7; ++s) {
        t0 = std::chrono::steady_clock::now();
        for (int64_t c = 0; c < calls; ++c) session.predict_into(x, y);
        samples.push_back(seconds(t0) / static_cast<double>(calls));
      }
      std::sort(samples.begin(), samples.end());
      std::printf("%lld %.3f\n", static_cast<long long>(batch), samples[3] * 1e6);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
