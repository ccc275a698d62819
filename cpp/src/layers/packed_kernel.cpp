#include "layers/packed_kernel.hpp"

#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

namespace nncore::detail {

namespace {
// NNCORE_CHECK_PACKED=1 (the tests set it): every use of a kept copy first packs the weight afresh and compares, so
// that a writer of weights that does not call Param::changed() fails loudly instead of predicting with old weights.
bool check_packed() {
  static const bool on = [] {
    const char* v = std::getenv("NNCORE_CHECK_PACKED");
    return v != nullptr && std::string(v) == "1";
  }();
  return on;
}

void check_current(const kernels::GemmPackedB& kept, const Param& w) {
  kernels::GemmPackedB fresh;
  kernels::gemm_pack_b_small_m(kept.K, kept.N, w.value.data(), kept.N, &fresh);
  const size_t bytes = sizeof(float) * static_cast<size_t>(kept.K * kept.NP);
  if (fresh.NP != kept.NP || std::memcmp(fresh.data(), kept.data(), bytes) != 0)
    throw std::logic_error("NNCORE_CHECK_PACKED: the packed copy of weight '" + w.name +
                           "' is stale: it was written without Param::changed()");
}
}  // namespace

bool PackedKernel::current(const Entry* e, const Param& w, uint64_t version) const {
  return e != nullptr && e->version == version && e->isa == kernels::active_isa() && e->packed.B == w.value.data() &&
         e->packed.K == w.value.dim(0) && e->packed.N == w.value.dim(1);
}

std::shared_ptr<const kernels::GemmPackedB> PackedKernel::get(const Param& w, int64_t R) {
  const int64_t K = w.value.dim(0), N = w.value.dim(1);
  if (!kernels::gemm_small_m_reads_packed(R, N, K)) return nullptr;
  const WeightWatch& watch = *w.watch;
  if (watch.views.load(std::memory_order_acquire) != 0) return nullptr;
  const uint64_t version = watch.version.load(std::memory_order_acquire);
  std::shared_ptr<const Entry> e = std::atomic_load(&entry_);
  if (!current(e.get(), w, version)) {
    std::lock_guard<std::mutex> lock(mutex_);
    e = std::atomic_load(&entry_);
    if (!current(e.get(), w, version)) {
      auto fresh = std::make_shared<Entry>();
      fresh->version = version;
      fresh->isa = kernels::active_isa();
      kernels::gemm_pack_b_small_m(K, N, w.value.data(), N, &fresh->packed);
      packs_.fetch_add(1, std::memory_order_relaxed);
      e = std::move(fresh);
      std::atomic_store(&entry_, e);
    }
  }
  if (check_packed()) check_current(e->packed, w);
  return std::shared_ptr<const kernels::GemmPackedB>(e, &e->packed);
}

}  // namespace nncore::detail
