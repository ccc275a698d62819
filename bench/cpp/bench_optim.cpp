// Times nncore's memory-bound training kernels through the public C++ API (no Python in the timed loop):
// the Adam update of one n-element parameter and BatchNormalization forward+backward (training mode) on a
// (rows, channels) activation. Prints one JSON line: seconds (median) and the bytes each pass must move.
//   ./bench_optim <adam_n> <bn_rows> <bn_channels> <threads>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "nncore/layers/normalization.hpp"
#include "nncore/nncore.hpp"

namespace {
template <typename F>
double median_seconds(F f, int reps) {
  std::vector<double> t;
  f();  // warm-up: first-touch page faults and state allocation
  for (int i = 0; i < reps; ++i) {
    const auto s = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - s).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s adam_n bn_rows bn_channels threads\n", argv[0]);
    return 2;
  }
  const int64_t n = std::atoll(argv[1]), rows = std::atoll(argv[2]), C = std::atoll(argv[3]);
  nncore::set_num_threads(std::atoi(argv[4]));

  nncore::Param p;
  p.value = nncore::Tensor({n});
  p.grad = nncore::Tensor({n});
  for (int64_t i = 0; i < n; ++i) p.grad.data()[i] = 1e-3f * static_cast<float>((i % 17) - 8);
  nncore::Adam adam(1e-3f);
  std::vector<nncore::Param*> params{&p};
  const double adam_s = median_seconds([&] { adam.apply(params); }, 21);
  // Adam reads w, m, v, g and writes w, m, v.
  const double adam_bytes = 7.0 * 4.0 * static_cast<double>(n);

  nncore::BatchNormalization bn;
  bn.build({C});
  nncore::Tensor x({rows, C}), dy({rows, C});
  for (int64_t i = 0; i < x.size(); ++i) {
    x.data()[i] = static_cast<float>((i * 7919) % 101) / 50.f - 1.f;
    dy.data()[i] = static_cast<float>((i * 104729) % 97) / 97.f - 0.5f;
  }
  const double bn_s = median_seconds([&] {
    bn.forward(x, true);
    bn.backward(dy, true);
  }, 21);
  // Lower bound on traffic: forward reads x (statistics) and writes y; backward reads dy and x and writes dx.
  const double bn_bytes = 5.0 * 4.0 * static_cast<double>(rows * C);
  std::printf("{\"adam_s\": %.9g, \"adam_bytes\": %.9g, \"bn_s\": %.9g, \"bn_bytes\": %.9g}\n", adam_s, adam_bytes,
              bn_s, bn_bytes);
  return 0;
}
