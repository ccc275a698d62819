#pragma once
// A grow-only, 64-byte aligned scratch buffer. Kernels keep them thread_local: the pool (thread_pool.hpp) keeps its
// workers, so in steady state a kernel call allocates nothing.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>

namespace nncore::kernels {

class ThreadBuffer {
 public:
  float* get(int64_t n) {
    if (n > capacity_) {
      const size_t bytes = ((static_cast<size_t>(n) * sizeof(float) + 63) / 64) * 64;
      void* p = std::aligned_alloc(64, bytes);
      if (p == nullptr) throw std::bad_alloc();
      data_.reset(static_cast<float*>(p));
      capacity_ = n;
    }
    return data_.get();
  }
  float* data() const { return data_.get(); }  // what the last get returned (null before the first)

 private:
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  std::unique_ptr<float, Free> data_;
  int64_t capacity_ = 0;
};

}  // namespace nncore::kernels
