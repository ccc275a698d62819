// Threads, SIMD path and the global random seed stream.
#include "nncore/runtime.hpp"

#include <omp.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <random>

#include "kernels/kernels.hpp"
#include "nncore/check.hpp"

namespace nncore {

namespace {
int default_threads() {
  const char* env = std::getenv("OMP_NUM_THREADS");
  if (env != nullptr) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  return omp_get_num_procs();
}
std::atomic<int>& thread_count() {
  static std::atomic<int> n{default_threads()};
  return n;
}

struct SeedStream {
  std::mutex mu;
  std::mt19937_64 gen{std::random_device{}()};
};
SeedStream& seeds() {
  static SeedStream s;
  return s;
}
}  // namespace

void set_num_threads(int n) {
  NNC_CHECK(n >= 1, "set_num_threads: expected n >= 1, got ", n);
  thread_count().store(n);
}
int get_num_threads() { return thread_count().load(); }

std::string get_isa() { return kernels::isa_name(kernels::active_isa()); }
void set_isa(const std::string& isa) { kernels::set_active_isa(kernels::isa_from_name(isa)); }
std::string best_isa() { return kernels::isa_name(kernels::cpu_best_isa()); }
bool has_amx() { return kernels::cpu_has_amx_int8(); }
bool get_amx() { return kernels::amx_int8_enabled(); }
void set_amx(bool on) { kernels::set_amx_int8(on); }

void set_random_seed(uint64_t seed) {
  std::lock_guard<std::mutex> lock(seeds().mu);
  seeds().gen.seed(seed);
}
uint64_t next_seed() {
  std::lock_guard<std::mutex> lock(seeds().mu);
  return seeds().gen();
}

namespace kernels {
int num_threads() { return thread_count().load(std::memory_order_relaxed); }
int threads_for(double flops) {
  // Below ~1 MFLOP (~20 us) per thread, waking and joining a thread costs more than it saves, and far more
  // when another process holds the other core: the join then waits for a whole scheduler time slice.
  const int n = num_threads();
  const double per_thread = 1048576.0;
  int want = static_cast<int>(flops / per_thread);
  if (want < 1) want = 1;
  return want < n ? want : n;
}
}  // namespace kernels

}  // namespace nncore
