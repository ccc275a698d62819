// The worker pool of thread_pool.hpp. Each worker has a slot: the master writes a job into the slots of the
// workers it needs (each idle: the previous region has finished), then bumps their `posted` count; a worker spins on
// its own count, so workers a region does not use are never disturbed. Sleeping uses one mutex and condition
// variable: the master notifies only when some worker sleeps (posted and sleepers are sequentially consistent, so
// either the master sees the sleeper or the sleeper sees the post).
#include "kernels/thread_pool.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#include <immintrin.h>
#define NNCORE_PAUSE() _mm_pause()
#else
#define NNCORE_PAUSE() std::this_thread::yield()
#endif

#if defined(__unix__)
#include <pthread.h>
#include <sys/resource.h>
#endif

namespace nncore::kernels {

namespace {

using Clock = std::chrono::steady_clock;

struct alignas(64) Slot {
  std::atomic<uint64_t> posted{0};  // jobs posted to this worker
  ParallelFn fn = nullptr;          // the job: written by the master before posted's increment
  const void* ctx = nullptr;
  int t = 0, T = 1;
};

struct Pool {
  std::mutex claim;  // held by the master of the running region
  std::vector<std::unique_ptr<Slot>> slots;  // worker t's at slots[t - 1]; grown under claim, never shrunk
  std::atomic<int> pending{0};               // workers' parts of the running region not finished yet
  std::mutex mu;
  std::condition_variable cv;
  std::atomic<int> sleepers{0};
  std::atomic<bool> master_sleeps{false};  // the master waits on cv for pending == 0
};

thread_local bool tls_in_region = false;

Clock::duration spin_time() {
  static const Clock::duration d = [] {
    const char* env = std::getenv("NNCORE_SPIN_US");
    long us = 300;
    if (env != nullptr && *env != '\0') {
      char* end = nullptr;
      const long v = std::strtol(env, &end, 10);
      if (end != env && v >= 0) us = v;
    }
    return std::chrono::duration_cast<Clock::duration>(std::chrono::microseconds(us));
  }();
  return d;
}

// When another process wants these cores, a spinning thread is worse than useless: it burns its share of the core
// and loses the scheduler's preference for threads that wake from sleep, so the thread a region waits for runs
// late (an MLP epoch at 2 threads beside a busy process: 1.3 s sleeping at once, 3-4 s spinning 30-300 us). A spin
// that finds itself descheduled for over 1 ms (between two of its clock reads) while the kernel counts an involuntary
// context switch of its thread (another task took the core: a virtual machine's pauses count none) marks the cores
// contended for a while: meanwhile nobody spins, workers and the master sleep at once. 100 ms at first (another
// library's threads in this process, busy for a moment after their own call, cost one short window), growing by
// 100 ms up to a second while each window is followed at once by the next (a busy machine).
constexpr auto kPreempted = std::chrono::milliseconds(1);
constexpr int64_t kWindowMs = 100, kMaxWindows = 10;
std::atomic<int64_t> contended_until{0};  // Clock ticks since its epoch
std::atomic<int64_t> streak{0};           // windows in a row

void mark_contended(Clock::time_point now) {
  const int64_t t = now.time_since_epoch().count();
  const int64_t window = std::chrono::duration_cast<Clock::duration>(std::chrono::milliseconds(kWindowMs)).count();
  const int64_t n = t - contended_until.load(std::memory_order_relaxed) < 2 * window
                        ? std::min(streak.load(std::memory_order_relaxed) + 1, kMaxWindows)
                        : 1;
  streak.store(n, std::memory_order_relaxed);
  contended_until.store(t + n * window, std::memory_order_relaxed);
}

bool contended(Clock::time_point now) {
  return now.time_since_epoch().count() < contended_until.load(std::memory_order_relaxed);
}

long involuntary_switches() {
#if defined(RUSAGE_THREAD)
  rusage u;
  if (getrusage(RUSAGE_THREAD, &u) == 0) return u.ru_nivcsw;
#endif
  return -1;
}

void note_gap(Clock::time_point now) {
  thread_local long seen = -1;
  const long n = involuntary_switches();
  if (n < 0 || (seen >= 0 && n > seen)) mark_contended(now);
  seen = n;
}

// Spins until done() (yielding the core every ~1024 pauses), for at most `limit` and while the cores are not
// contended; whether done() became true.
template <typename Done>
bool spin_until(Done&& done, Clock::duration limit) {
  const Clock::time_point start = Clock::now();
  if (contended(start)) return done();
  Clock::time_point last = start;
  for (uint32_t i = 1;; ++i) {
    if (done()) return true;
    NNCORE_PAUSE();
    if (i % 64 == 0) {
      const Clock::time_point now = Clock::now();
      if (now - last > kPreempted) {
        note_gap(now);
        return done();
      }
      last = now;
      if (now - start >= limit) return done();
      if (i % 1024 == 0) std::this_thread::yield();
    }
  }
}

void worker_main(Pool* pool, Slot* slot) {
  uint64_t done = 0;  // the slot is new: its first job may be posted before this thread runs
  for (;;) {
    const auto posted = [&] { return slot->posted.load(std::memory_order_seq_cst) != done; };
    if (!spin_until(posted, spin_time())) {
      std::unique_lock<std::mutex> lock(pool->mu);
      pool->sleepers.fetch_add(1, std::memory_order_seq_cst);
      pool->cv.wait(lock, posted);
      pool->sleepers.fetch_sub(1, std::memory_order_seq_cst);
    }
    done = slot->posted.load(std::memory_order_acquire);
    tls_in_region = true;
    slot->fn(slot->ctx, slot->t, slot->T);  // a worker's part must not throw (std::terminate, as OpenMP's would)
    tls_in_region = false;
    if (pool->pending.fetch_sub(1, std::memory_order_seq_cst) == 1 && pool->master_sleeps.load(std::memory_order_seq_cst)) {
      { std::lock_guard<std::mutex> lock(pool->mu); }
      pool->cv.notify_all();
    }
  }
}

Pool* new_pool();

// The pool lives as long as the process (its workers are detached and never stop). A forked child has none of the
// parent's threads: it starts a new pool of its own.
std::atomic<Pool*>& the_pool() {
  static std::atomic<Pool*> pool{new_pool()};
  return pool;
}

Pool* new_pool() {
#if defined(__unix__)
  static std::once_flag once;
  std::call_once(once, [] { pthread_atfork(nullptr, nullptr, [] { the_pool().store(new Pool); }); });
#endif
  return new Pool;
}

}  // namespace

void parallel_run_fn(int nt, ParallelFn fn, const void* ctx) {
  if (nt <= 1 || tls_in_region) {
    fn(ctx, 0, 1);
    return;
  }
  Pool* pool = the_pool().load(std::memory_order_acquire);
  std::unique_lock<std::mutex> claim(pool->claim, std::try_to_lock);
  if (!claim.owns_lock()) {  // another thread's region runs: this one runs alone
    fn(ctx, 0, 1);
    return;
  }
  pool->slots.reserve(static_cast<size_t>(nt - 1));  // so that push_back below cannot throw after a thread started
  while (static_cast<int>(pool->slots.size()) < nt - 1) {
    auto slot = std::make_unique<Slot>();
    try {
      std::thread(worker_main, pool, slot.get()).detach();
    } catch (const std::system_error&) {  // no more threads (a process limit): the region takes fewer
      break;
    }
    pool->slots.push_back(std::move(slot));
  }
  nt = std::min(nt, static_cast<int>(pool->slots.size()) + 1);
  if (nt <= 1) {
    claim.unlock();
    fn(ctx, 0, 1);
    return;
  }
  pool->pending.store(nt - 1, std::memory_order_relaxed);
  for (int t = 1; t < nt; ++t) {
    Slot& s = *pool->slots[static_cast<size_t>(t - 1)];
    s.fn = fn;
    s.ctx = ctx;
    s.t = t;
    s.T = nt;
    s.posted.fetch_add(1, std::memory_order_seq_cst);
  }
  if (pool->sleepers.load(std::memory_order_seq_cst) > 0) {
    { std::lock_guard<std::mutex> lock(pool->mu); }
    pool->cv.notify_all();
  }
  std::exception_ptr error;
  tls_in_region = true;
  try {
    fn(ctx, 0, nt);
  } catch (...) {
    error = std::current_exception();
  }
  tls_in_region = false;
  const auto finished = [&] { return pool->pending.load(std::memory_order_seq_cst) == 0; };
  if (!spin_until(finished, Clock::duration::max())) {  // contended: sleep until the last worker's part ends
    std::unique_lock<std::mutex> lock(pool->mu);
    pool->master_sleeps.store(true, std::memory_order_seq_cst);
    pool->cv.wait(lock, finished);
    pool->master_sleeps.store(false, std::memory_order_seq_cst);
  }
  claim.unlock();
  if (error) std::rethrow_exception(error);
}

}  // namespace nncore::kernels
