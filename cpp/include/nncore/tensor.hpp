#pragma once
// Tensor: float32, row-major (numpy order), 64-byte-aligned owned storage or a non-owning view of
// caller memory (how numpy arrays enter without a copy). Copies are shallow; clone() is deep.
#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <vector>

namespace nncore {

using Shape = std::vector<int64_t>;

// Memory for a tensor could not be had. A std::bad_alloc (so existing handlers still catch it) whose what() says
// how many bytes were asked for and for what; Python sees a MemoryError with that message.
class OutOfMemory : public std::bad_alloc {
 public:
  explicit OutOfMemory(std::string what) : what_(std::move(what)) {}
  const char* what() const noexcept override { return what_.c_str(); }

 private:
  std::string what_;
};

// "16.0 GB (16000000000 bytes)": a byte count for messages.
std::string bytes_str(int64_t bytes);

std::string shape_str(const Shape& s);
int64_t shape_numel(const Shape& s);

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(const Shape& shape);  // owned, zero-filled
  static Tensor view(float* data, const Shape& shape);

  const Shape& shape() const { return shape_; }
  int64_t ndim() const { return static_cast<int64_t>(shape_.size()); }
  int64_t dim(int64_t i) const { return shape_[i < 0 ? i + ndim() : i]; }
  int64_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  float* data() { return data_; }
  const float* data() const { return data_; }
  bool owns_data() const { return static_cast<bool>(storage_); }

  // Changes the shape; reallocates only when the new size exceeds the capacity (so training loops that
  // resize once per batch size allocate once). Contents are unspecified after a growing resize.
  void resize(const Shape& shape);
  // Same data, new shape with the same number of elements.
  void reshape(const Shape& shape);
  void zero();
  void fill(float v);
  Tensor clone() const;
  void copy_from(const Tensor& other);  // sizes must match
  std::string shape_str() const { return nncore::shape_str(shape_); }

 private:
  std::shared_ptr<float> storage_;
  float* data_ = nullptr;
  int64_t size_ = 0;
  int64_t capacity_ = 0;
  Shape shape_;
};

}  // namespace nncore
