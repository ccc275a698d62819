#pragma once
// nncore's worker threads: every parallel region of the kernels runs here (parallel.hpp's parallel_range and the
// GEMM's grids). A worker that finishes waits for the next region spinning for a short while (a few hundred
// microseconds, yielding its core to any other runnable thread now and then), then sleeps: back-to-back regions
// (the layers of one predict call, the steps of fit, successive calls) find it awake, and a busy machine loses
// little to it. NNCORE_SPIN_US sets the spin (microseconds; 0: sleep at once).
#include <type_traits>

namespace nncore::kernels {

using ParallelFn = void (*)(const void* ctx, int t, int T);

// Runs fn(ctx, t, T) for t = 0 .. T-1 at once, t = 0 on the calling thread, and returns when all are done. T is nt;
// or 1 (the caller runs fn(ctx, 0, 1) alone) when nt <= 1, when called inside a region, or while another thread's
// region holds the workers: callers split their work so that no result depends on T. An exception from the
// caller's part is rethrown after the workers finish; the workers' parts must not throw.
void parallel_run_fn(int nt, ParallelFn fn, const void* ctx);

template <typename F>
void parallel_run(int nt, F&& f) {
  using Fn = std::remove_reference_t<F>;
  parallel_run_fn(nt, [](const void* ctx, int t, int T) { (*static_cast<Fn*>(const_cast<void*>(ctx)))(t, T); },
                  static_cast<const void*>(&f));
}

}  // namespace nncore::kernels
