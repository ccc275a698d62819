#pragma once
// A Dense kernel packed once for the GEMM at inference, shared by every thread that predicts with the layer.
//
// gemm reads a weight in place for products of a few rows and, from 64 rows to 256 (the small-M kernel), copies it a
// panel at a time on every call. At inference the weight usually stays the same from call to call, so the layer keeps
// it in the small-M kernel's layout (kernels::gemm_pack_b_small_m) and the kernel reads that instead: the same sums,
// bit for bit. The packed copy follows the weight's WeightWatch: re-packed when the weight's version moved
// (an optimizer step, load_weights, the last numpy view released), and not used while a numpy view is alive.
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "kernels/kernels.hpp"
#include "nncore/layers/layer.hpp"

namespace nncore::detail {

class PackedKernel {
 public:
  // The kernel weight `w` (K x N, row-major) packed for an R x K x N product at inference, or null where the GEMM
  // reads `w` itself: a product the small-M kernel reads in place (fewer than 64 rows) or does not take, a CPU path
  // without the layout, a numpy view of w alive. Safe to call from several threads at once; what it returns stays
  // valid while held, even when another thread re-packs.
  std::shared_ptr<const kernels::GemmPackedB> get(const Param& w, int64_t R);
  // How many times the weight was packed (tests: a predict that re-packed each call would go unnoticed otherwise).
  int64_t packs() const { return packs_.load(std::memory_order_relaxed); }

 private:
  struct Entry {
    kernels::GemmPackedB packed;
    uint64_t version = 0;
    kernels::Isa isa = kernels::Isa::generic;
  };
  bool current(const Entry* e, const Param& w, uint64_t version) const;
  std::mutex mutex_;
  std::shared_ptr<const Entry> entry_;  // read and replaced with std::atomic_load / std::atomic_store
  std::atomic<int64_t> packs_{0};
};

}  // namespace nncore::detail
