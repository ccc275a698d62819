#include "nncore/tensor.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include "nncore/check.hpp"

namespace nncore {

std::string shape_str(const Shape& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += s[i] < 0 ? std::string("None") : std::to_string(s[i]);
  }
  if (s.size() == 1) out += ",";
  return out + ")";
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) {
    if (d < 0) throw std::invalid_argument("tensor shape " + shape_str(s) + " has a negative dimension");
    if (__builtin_mul_overflow(n, d, &n) || n > (int64_t{1} << 56))
      throw std::invalid_argument("tensor shape " + shape_str(s) + " is too large");
  }
  return n;
}

std::string bytes_str(int64_t bytes) {
  const char* units[] = {"bytes", "KB", "MB", "GB", "TB", "PB", "EB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1000.0 && u < 6) {
    v /= 1000.0;
    ++u;
  }
  if (u == 0) return std::to_string(bytes) + " bytes";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  return str_cat(buf, " (", bytes, " bytes)");
}

namespace {
std::shared_ptr<float> allocate(int64_t n, const Shape& shape) {
  // 64-byte alignment: one cache line, and a full AVX-512 vector.
  const size_t bytes = ((static_cast<size_t>(n) * sizeof(float) + 63) / 64) * 64;
  void* p = std::aligned_alloc(64, bytes == 0 ? 64 : bytes);
  if (p == nullptr)
    throw OutOfMemory(str_cat("out of memory: cannot allocate ", bytes_str(static_cast<int64_t>(bytes)),
                              " for a float32 tensor of shape ", shape_str(shape)));
  return std::shared_ptr<float>(static_cast<float*>(p), [](float* q) { std::free(q); });
}
}  // namespace

Tensor::Tensor(const Shape& shape) {
  for (int64_t d : shape) NNC_CHECK(d >= 0, "Tensor: negative dimension in shape ", nncore::shape_str(shape));
  shape_ = shape;
  size_ = shape_numel(shape);
  capacity_ = size_;
  storage_ = allocate(size_, shape_);
  data_ = storage_.get();
  std::memset(data_, 0, sizeof(float) * static_cast<size_t>(size_));
}

Tensor Tensor::view(float* data, const Shape& shape) {
  Tensor t;
  t.shape_ = shape;
  t.size_ = shape_numel(shape);
  t.capacity_ = t.size_;
  t.data_ = data;
  return t;
}

void Tensor::resize(const Shape& shape) {
  const int64_t n = shape_numel(shape);
  if (n > capacity_ || (!storage_ && n != size_)) {
    storage_ = allocate(n, shape);
    data_ = storage_.get();
    capacity_ = n;
  }
  shape_ = shape;
  size_ = n;
}

void Tensor::reshape(const Shape& shape) {
  NNC_CHECK(shape_numel(shape) == size_, "Tensor.reshape: cannot reshape ", shape_str(), " to ",
            nncore::shape_str(shape));
  shape_ = shape;
}

void Tensor::zero() {
  if (size_) std::memset(data_, 0, sizeof(float) * static_cast<size_t>(size_));
}

void Tensor::fill(float v) {
  for (int64_t i = 0; i < size_; ++i) data_[i] = v;
}

Tensor Tensor::clone() const {
  Tensor t(shape_);
  if (size_) std::memcpy(t.data_, data_, sizeof(float) * static_cast<size_t>(size_));
  return t;
}

void Tensor::copy_from(const Tensor& other) {
  NNC_CHECK(other.size_ == size_, "Tensor.copy_from: size mismatch, expected ", size_, " elements, got ",
            other.size_);
  if (size_ && data_ != other.data_)
    std::memcpy(data_, other.data_, sizeof(float) * static_cast<size_t>(size_));
}

}  // namespace nncore
