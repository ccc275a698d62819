#pragma once
// N-dimensional kernels for the ops on symbolic tensors (nncore.ops): elementwise functions, binary operations
// with numpy broadcasting, reductions over axes, axis permutations and strided slices. Shapes have at most
// kMaxRank axes; strides count elements (0 on a broadcast axis). Each kernel has a plain `_ref` twin where the
// fast form differs from it.
#include <cstdint>
#include <vector>

namespace nncore::kernels {

constexpr int kMaxRank = 8;

// A shape with the strides of each operand laid over it: out has dims[0..rank), operand k reads
// x_k[sum_i idx_i * strides[k][i]].
struct NdGeom {
  int rank = 0;
  int64_t dims[kMaxRank] = {};
  int64_t strides[3][kMaxRank] = {};  // operand 0, operand 1, and the output (contiguous)
  int64_t size() const;
};
// Numpy broadcasting of shapes a and b (right-aligned) into out; strides for a (operand 0) and b (operand 1).
// Returns false when the shapes do not broadcast. Merges adjacent axes that are contiguous in all operands.
bool broadcast_geometry(const std::vector<int64_t>& a, const std::vector<int64_t>& b, NdGeom& g,
                        std::vector<int64_t>& out);

// The comparisons give 1 or 0 and pass no gradient.
enum class BinaryOp { add, subtract, multiply, divide, maximum, minimum, power, equal, not_equal, greater,
                      greater_equal, less, less_equal };
// y = op(a, b) over the broadcast geometry.
void binary_forward(BinaryOp op, float* y, const float* a, const float* b, const NdGeom& g);
// da += dy * d op/da, db += dy * d op/db, summed over the axes each operand is broadcast along (either may be
// null: not needed). Serial in output order, so the sums do not depend on the thread count.
void binary_backward(BinaryOp op, float* da, float* db, const float* dy, const float* a, const float* b,
                     const float* y, const NdGeom& g);

// floor, ceil, round (half to even, as numpy), trunc (toward zero: a cast to int) and logical_not (1 where x is
// 0) pass no gradient.
enum class UnaryOp { negative, exp, log, sqrt, square, abs, tanh, sigmoid, relu, gelu, erf, sin, cos, softplus,
                     reciprocal, sign, clip, floor, ceil, round, trunc, logical_not };
// y = f(x) for n values; clip takes [lo, hi].
void unary_forward(UnaryOp op, float* y, const float* x, int64_t n, float lo, float hi);
// dx = dy * f'(x) (overwrites; x and y are the forward's input and output).
void unary_backward(UnaryOp op, float* dx, const float* dy, const float* x, const float* y, int64_t n, float lo,
                    float hi);

// argmax / argmin reduce one axis to the position (0-based, the first on ties) of its max / min; no gradient.
enum class ReduceOp { sum, mean, max, min, argmax, argmin };
// Reduces x (shape dims, rank axes) over the axes with reduce[i] set into y (the kept axes, in order).
// max/min record in arg, per output, the flat index of the chosen input (the first one on ties).
void reduce_forward(ReduceOp op, float* y, int64_t* arg, const float* x, const std::vector<int64_t>& dims,
                    const std::vector<char>& reduce);
// dx = the gradient of y spread back over x (overwrites dx).
void reduce_backward(ReduceOp op, float* dx, const float* dy, const int64_t* arg, const std::vector<int64_t>& dims,
                     const std::vector<char>& reduce);

// y[idx permuted] = x: y has dims[perm[i]] along axis i.
void permute(float* y, const float* x, const std::vector<int64_t>& dims, const std::vector<int64_t>& perm);

// A strided window of x (dims): y[i0, i1, ...] = x[start0 + i0*step0, ...]; out[i] elements along axis i.
// backward: dx (zero-filled here) gets dy at those places.
void slice_forward(float* y, const float* x, const std::vector<int64_t>& dims, const std::vector<int64_t>& start,
                   const std::vector<int64_t>& step, const std::vector<int64_t>& out);
void slice_backward(float* dx, const float* dy, const std::vector<int64_t>& dims, const std::vector<int64_t>& start,
                    const std::vector<int64_t>& step, const std::vector<int64_t>& out);

}  // namespace nncore::kernels

namespace nncore::kernels {
// n draws from N(mean, stddev) or U[lo, hi) from `seed` (serial, so the same numbers for any thread count).
void random_normal(float* y, int64_t n, float mean, float stddev, uint64_t seed);
void random_uniform(float* y, int64_t n, float lo, float hi, uint64_t seed);
// y = x - logsumexp(x) over each row of a rows x cols matrix; dx = dy - exp(y) * sum(dy) per row.
void log_softmax_forward(float* y, const float* x, int64_t rows, int64_t cols);
void log_softmax_backward(float* dx, const float* dy, const float* y, int64_t rows, int64_t cols);
}  // namespace nncore::kernels
