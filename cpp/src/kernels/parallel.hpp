#pragma once
// One static, deterministic split of [0, n) over the threads: thread t of T gets [n*t/T, n*(t+1)/T).
// Results never depend on the thread count as long as f writes disjoint ranges.
#include <cstdint>

#include "kernels/kernels.hpp"
#include "kernels/thread_pool.hpp"

namespace nncore::kernels {

template <typename F>
void parallel_range(int64_t n, double cost_per_item, F&& f) {
  const int nt = threads_for(static_cast<double>(n) * cost_per_item);
  if (nt <= 1 || n < 2) {
    f(int64_t{0}, n);
    return;
  }
  // Inside a region (a GEMM's block hook) the pool gives T = 1: this thread alone.
  parallel_run(nt, [&](int t, int T) {
    const int64_t begin = n * t / T, end = n * (t + 1) / T;
    if (begin < end) f(begin, end);
  });
}

}  // namespace nncore::kernels
