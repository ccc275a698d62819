// ThreadSanitizer driver: trains and runs models whose layers all take their multi-threaded paths (GEMM, convolution,
// transposed convolution, pooling, upsampling, normalization, the recurrent batch split, optimizer updates) on 2
// threads, and checks that the results equal the 1-thread ones bit for bit, under every SIMD path. Built by
// NNCORE_BUILD_THREAD_CHECK=ON with clang and -fsanitize=thread (tools/sanitizer_tests.sh --thread; the worker
// pool's threads and atomics are all ThreadSanitizer needs to see): any data race is a report and a non-zero exit.
// Then serves each trained model from 4 threads at once, each with its own InferenceSession (float, then quantized to int8), and checks every
// answer against the single-threaded one. A C++ program, as the ThreadSanitizer runtime preloaded into Python crashes at start-up.
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "nncore/nncore.hpp"

namespace {

using nncore::LayerPtr;
using nncore::Tensor;

Tensor filled(const nncore::Shape& shape, uint32_t seed, float scale = 1.f) {
  Tensor t(shape);
  uint32_t s = seed * 2654435761u + 1u;
  for (int64_t i = 0; i < t.size(); ++i) {
    s = s * 1664525u + 1013904223u;
    t.data()[i] = scale * (static_cast<float>(s >> 8) / 16777216.f - 0.5f);
  }
  return t;
}

Tensor labels(int64_t n, int64_t classes) {
  Tensor t({n});
  for (int64_t i = 0; i < n; ++i) t.data()[i] = static_cast<float>((i * 7) % classes);
  return t;
}

struct Case {
  std::string name;
  std::function<std::vector<LayerPtr>()> layers;
  nncore::Shape input;
  int64_t classes;
};

// Weights and predictions after one epoch, from a fixed seed.
std::vector<float> train(const Case& c, int threads) {
  nncore::set_num_threads(threads);
  nncore::set_random_seed(7);
  nncore::Sequential model(c.layers());
  model.build(c.input);
  model.compile(std::make_shared<nncore::Adam>(1e-3f), nncore::Loss::from_name("sparse_categorical_crossentropy"),
                {"accuracy"});
  nncore::Shape xs{64};
  xs.insert(xs.end(), c.input.begin(), c.input.end());
  const Tensor x = filled(xs, 3), y = labels(64, c.classes);
  nncore::FitOptions options;
  options.epochs = 1;
  options.batch_size = 32;
  options.verbose = 0;
  model.fit(x, y, options);
  std::vector<float> out;
  for (const auto& layer : model.layers())
    for (const auto& p : layer->params()) out.insert(out.end(), p.value.data(), p.value.data() + p.value.size());
  const Tensor p = model.predict(x, 32);
  out.insert(out.end(), p.data(), p.data() + p.size());
  return out;
}

// The trained model (int8: quantized) answering from `workers` threads at once, each with its own InferenceSession
// (batches of 1 to 8 rows of x: from 5 rows Dense kernels are read packed, and every weight is marked changed
// before the workers start, so that they race to pack them again): the number of answers that differ from one
// session's on one thread.
int serve(const Case& c, int workers, bool int8) {
  nncore::set_num_threads(2);
  nncore::set_random_seed(7);
  nncore::Sequential model(c.layers());
  model.build(c.input);
  if (int8) model.quantize("int8");
  nncore::Shape xs{24};
  xs.insert(xs.end(), c.input.begin(), c.input.end());
  const Tensor x = filled(xs, 5);
  const int64_t row = x.size() / 24;
  const auto request = [&](int k) {  // rows k .. k + k % 8 of x
    nncore::Shape s = xs;
    s[0] = 1 + k % 8;
    return Tensor::view(const_cast<float*>(x.data()) + (k % 12) * row, s);
  };
  std::vector<Tensor> expected;
  nncore::InferenceSession single(model);
  for (int k = 0; k < 12; ++k) expected.push_back(single.predict(request(k)));
  for (const LayerPtr& layer : model.layers())
    for (nncore::Param& p : layer->params()) p.changed();
  std::vector<int> wrong(static_cast<size_t>(workers), 0);
  std::vector<std::thread> pool;
  for (int w = 0; w < workers; ++w)
    pool.emplace_back([&, w] {
      nncore::InferenceSession session(model);
      for (int k = w; k < w + 12; ++k) {
        const Tensor y = session.predict(request(k % 12));
        const Tensor& e = expected[static_cast<size_t>(k % 12)];
        if (y.shape() != e.shape() || std::memcmp(y.data(), e.data(), sizeof(float) * static_cast<size_t>(y.size())))
          ++wrong[static_cast<size_t>(w)];
      }
    });
  for (std::thread& t : pool) t.join();
  int total = 0;
  for (int n : wrong) total += n;
  return total;
}

}  // namespace

int main() {
  using namespace nncore;
  const std::vector<Case> cases = {
      {"cnn",
       [] {
         return std::vector<LayerPtr>{std::make_shared<Conv2D>(16, Pair{3, 3}, Pair{1, 1}, "same"),
                                      std::make_shared<BatchNormalization>(), std::make_shared<MaxPooling2D>(),
                                      std::make_shared<Conv2D>(16, Pair{3, 3}), std::make_shared<GlobalAveragePooling2D>(),
                                      std::make_shared<Dropout>(0.2f), std::make_shared<Dense>(10, "softmax")};
       },
       {16, 16, 3}, 10},
      {"decoder",
       [] {
         // Transposed convolution (the convolution's backward-data and forward kernels), both upsampling kernels and
         // the depthwise ones, each with enough work per batch to split over the threads.
         return std::vector<LayerPtr>{
             std::make_shared<Conv2DTranspose>(8, Pair{3, 3}, Pair{2, 2}, "same"),
             std::make_shared<UpSampling2D>(Pair{2, 2}, "bilinear"), std::make_shared<UpSampling2D>(Pair{2, 2}),
             // The augmentation kernels (images over the threads), then the depthwise ones: rows over the
             // threads forward, batch chunks backward.
             std::make_shared<RandomImageLayer>(RandomImageLayer::Kind::rotation,
                                                RandomImageLayer::Options{"", {-0.1f, 0.1f}}),
             std::make_shared<RandomImageLayer>(RandomImageLayer::Kind::contrast,
                                                RandomImageLayer::Options{"", {0.2f, 0.2f}}),
             std::make_shared<DepthwiseConv2D>(Pair{3, 3}, Pair{1, 1}, "same", 2),
             std::make_shared<SeparableConv2D>(8, Pair{3, 3}, Pair{1, 1}, "same"),
             std::make_shared<Conv2D>(8, Pair{3, 3}, Pair{4, 4}), std::make_shared<GlobalAveragePooling2D>(),
             std::make_shared<Dense>(10, "softmax")};
       },
       {16, 16, 3}, 10},
      {"mlp",
       [] {
         return std::vector<LayerPtr>{std::make_shared<Flatten>(), std::make_shared<Dense>(256, "relu"),
                                      std::make_shared<LayerNormalization>(), std::make_shared<Dense>(256, "relu"),
                                      std::make_shared<Dense>(10, "softmax")};
       },
       {16, 16}, 10},
      {"recurrent",
       [] {
         RecurrentOptions seq;
         seq.return_sequences = true;
         return std::vector<LayerPtr>{std::make_shared<Conv1D>(32, 3, 1, "causal"),
                                      std::make_shared<Bidirectional>(std::make_shared<GRU>(32, seq)),
                                      std::make_shared<LSTM>(48), std::make_shared<Dense>(5, "softmax")};
       },
       {12, 16}, 5},
  };
  int failures = 0;
  for (const std::string isa : {"generic", "avx2", "avx512"}) {
    try {
      set_isa(isa);
    } catch (const std::exception&) {
      continue;  // this CPU lacks the path
    }
    for (const Case& c : cases) {
      const std::vector<float> one = train(c, 1), two = train(c, 2);
      const bool same = one.size() == two.size() && std::memcmp(one.data(), two.data(), one.size() * sizeof(float)) == 0;
      std::printf("%-8s %-10s 1 vs 2 threads: %s\n", isa.c_str(), c.name.c_str(), same ? "bit-identical" : "DIFFERENT");
      failures += same ? 0 : 1;
      for (const bool int8 : {false, true}) {
        const int wrong = serve(c, 4, int8);
        std::printf("%-8s %-10s 4 sessions at once%s: %d answers differ\n", isa.c_str(), c.name.c_str(),
                    int8 ? " (int8)" : "", wrong);
        failures += wrong == 0 ? 0 : 1;
      }
    }
  }
  return failures == 0 ? 0 : 1;
}
