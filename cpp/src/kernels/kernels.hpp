#pragma once
// Internal kernel interface: raw float* + int64_t sizes. All OpenMP and SIMD of nncore live under
// cpp/src/kernels/. Every fast kernel keeps a plain `_ref` twin used as the test oracle.
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/thread_buffer.hpp"

namespace nncore::kernels {

enum class Isa { generic = 0, avx2 = 1, avx512 = 2 };

Isa cpu_best_isa();      // from CPUID (and OS support of the register state)
Isa active_isa();        // best, or NNCORE_ISA, or what set_active_isa chose
void set_active_isa(Isa isa);  // throws std::invalid_argument when the CPU lacks it
const char* isa_name(Isa isa);
Isa isa_from_name(const std::string& name);  // throws std::invalid_argument
int num_threads();       // current thread budget (runtime.cpp)
// Threads worth using for `work` units of roughly `flops_per_unit`-sized work: small problems run on one
// thread so that they never get slower with more threads.
int threads_for(double flops);

// C (M x N, row stride ldc) = beta * C + op(A) * op(B), op(A) is M x K, op(B) is K x N.
// trans_a: A is stored K x M (lda >= M); else M x K (lda >= K). trans_b: B stored N x K; else K x N.
// beta == 0 never reads C (so C may hold garbage/NaN).
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
// What gemm does to each finished element of C while its tile is still in L1, instead of another pass over C:
// C = act(beta * C + op(A) op(B) + bias[j]), and preact (row stride ldc), when not null, receives the value
// before the activation.
struct GemmEpilogue {
  const float* bias = nullptr;  // N floats added to every row, or none
  bool relu = false;            // act: relu, else identity
  float* preact = nullptr;
  // Called once per finished rectangle of C (rows [r0, r1) x columns [c0, c1) of the caller's C), after the
  // above, by the thread that computed it while the rectangle is still in its cache; the rectangles tile C.
  // For an optimizer step fused into a weight-gradient product (the update reads each gradient block once, where
  // it was computed). Must be safe to call from several threads at once on disjoint rectangles.
  void (*on_block)(const void* ctx, int64_t r0, int64_t r1, int64_t c0, int64_t c1) = nullptr;
  const void* on_block_ctx = nullptr;
};
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc, const GemmEpilogue& epilogue);
// Whether gemm computes an M x N x K product with row-major B in its small-M kernel (few rows, B read in place),
// which then takes every product of fewer rows too and sums each element of C over all of K in one order: the rows
// of such a product may be split into groups of 4 without changing any result.
bool gemm_small_m_rows(int64_t M, int64_t N, int64_t K);
// The same on the calling thread only, for callers that spread independent GEMMs over the threads themselves.
// Bit-identical to gemm: its result never depends on the thread split.
void gemm_serial(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float beta, float* C, int64_t ldc, const GemmEpilogue& epilogue);
void gemm_ref(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
              const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// op(B) (K x N) packed once for many products op(A) op(B) with different A, as a recurrent kernel is read at
// every time step: gemm packs B again on every call, a third of the time of an LSTM step's GEMM at batch 32 and
// 128 units (B 32 x 128 times U 128 x 512: 65 us with packing, 42 us without, one Zen4 core). The buffer
// holds exactly what gemm would pack, for the kernel active at packing time: KC-deep slabs (KC from K alone),
// each the NR-column strips of all of N, zero-padded to a multiple of NR. It also remembers B itself: narrow
// products (the narrow kernel reads B in place) and a kernel changed since packing run the ordinary gemm on it,
// so B must stay alive and unchanged while the packed copy is used.
struct GemmKernel;  // gemm_internal.hpp
struct GemmPackedB {
  bool trans_b = false;
  int64_t K = 0, N = 0;
  const float* B = nullptr;
  int64_t ldb = 0;
  const GemmKernel* kernel = nullptr;  // the kernel the strips are laid out for; null: not packed (use B)
  bool small_m = false;                // laid out for the small-M kernel instead (gemm_pack_b_small_m)
  int64_t KC = 0;                      // slab depth
  int64_t NP = 0;                      // N rounded up to a multiple of NR: slab p0 starts at p0 * NP
  ThreadBuffer buffer;                 // grow-only: packing into the same object again allocates only to grow
  const float* data() const { return kernel != nullptr ? buffer.data() : nullptr; }
};
// Packs op(B) into `packed` (reusing its buffer), or returns it freshly packed. trans_b and ldb as in gemm.
// max_m >= 0 promises products of at most max_m rows: when gemm reads B in place for all of them (the narrow and
// small-M kernels), nothing is packed.
void gemm_pack_b(bool trans_b, int64_t K, int64_t N, const float* B, int64_t ldb, GemmPackedB* packed,
                 int64_t max_m = -1);
GemmPackedB gemm_pack_b(bool trans_b, int64_t K, int64_t N, const float* B, int64_t ldb);
// Row-major B (K x N) packed for the small-M kernel (products of at most 256 rows: a dense layer's weights at
// inference), which otherwise reads B in place or copies it a panel at a time on every call. gemm_packed_b with it:
// the small-M kernel reads the packed units for M x N x K products where gemm_small_m_reads_packed says so (from 64
// rows: where it would copy B a panel at a time on every call), bit for bit what gemm computes; any other product
// (fewer or more rows, a kernel without the layout, or one changed since) runs the ordinary gemm on B.
void gemm_pack_b_small_m(int64_t K, int64_t N, const float* B, int64_t ldb, GemmPackedB* packed);
bool gemm_small_m_reads_packed(int64_t M, int64_t N, int64_t K);
// gemm with op(B) from `packed` (N and K must be its own; throws std::invalid_argument otherwise): the same
// blocking, thread grid and micro-kernel, so the same result as gemm computing C (not C^T) would give, bit for
// bit, and the same for every thread count. The _serial form runs on the calling thread only.
void gemm_packed_b(bool trans_a, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                   const GemmPackedB& packed, float beta, float* C, int64_t ldc,
                   const GemmEpilogue& epilogue = GemmEpilogue{});
void gemm_packed_b_serial(bool trans_a, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                          const GemmPackedB& packed, float beta, float* C, int64_t ldc,
                          const GemmEpilogue& epilogue = GemmEpilogue{});

// ---- int8 GEMM (quantized inference: gemm_s8.cpp) ----------------------------------------------------------------
// C (M x N, int32, row stride ldc) = A (M x K, int8, row stride lda) * B (K x N, int8), exact (int32 sums; K below
// 2^17). B is packed once for the fastest path of the active ISA: AVX-512 VNNI where CPUID reports it, AVX2, else
// generic; the packing remembers which, and gemm_s8 runs that path.
struct Int8PackedB {
  int64_t K = 0, N = 0;
  int path = 0;                   // the kernel its layout is for (gemm_s8_internal.hpp)
  std::vector<int8_t> data;       // that layout (int16 pairs, as bytes, for AVX2)
  std::vector<int32_t> col_sums;  // sum over k of B[k][j]
};
void gemm_s8_pack_b(int64_t K, int64_t N, const int8_t* B, int64_t ldb, Int8PackedB* packed);
void gemm_s8(int64_t M, const int8_t* A, int64_t lda, const Int8PackedB& packed, int32_t* C, int64_t ldc);
void gemm_s8_ref(int64_t M, int64_t N, int64_t K, const int8_t* A, int64_t lda, const int8_t* B, int64_t ldb,
                 int32_t* C, int64_t ldc);
const char* gemm_s8_path_name(const Int8PackedB& packed);  // "avx512_vnni", "avx2" or "generic"
bool cpu_has_avx512_vnni();
// AMX-INT8 tiles (Intel since Sapphire Rapids) where the CPU has them and Linux grants the process their state: the
// VNNI-packed int8 GEMM runs blocks of 16 rows on them (same exact sums). On by default where usable; NNCORE_AMX=0
// or set_amx_int8(false) keeps the AVX-512 VNNI kernel (set_amx_int8(true) throws without AMX). Only while the
// active ISA is avx512 (amx_int8_active: enabled and avx512 active).
bool cpu_has_amx_int8();
bool amx_int8_enabled();
bool amx_int8_active();
void set_amx_int8(bool on);

// ---- int8 quantization (Keras's "int8" mode: symmetric absmax into [-127, 127], no zero point) ------------------
// Per row i of A (M x K, row stride lda): scale[i] = 127 / (max_k |A[i][k]| + 1e-7) and Q[i][k] = A[i][k] * scale[i]
// rounded half to even, clamped to [-127, 127]: float32 arithmetic exactly as Keras's abs_max_quantize, so every
// ISA path gives the same bytes and scales.
void quantize_rows_s8(int64_t M, int64_t K, const float* A, int64_t lda, int8_t* Q, int64_t ldq, float* scale);
void quantize_rows_s8_ref(int64_t M, int64_t K, const float* A, int64_t lda, int8_t* Q, int64_t ldq, float* scale);
// Per column j of W (K x N, row-major): the weights' form (Keras quantizes a kernel over its input axis, one scale
// per output unit). Q is K x N.
void quantize_columns_s8(int64_t K, int64_t N, const float* W, int8_t* Q, float* scale);
// C (M x N) = beta * C + (A B) * (1 / row_scale[i * row_scale_stride]) * (1 / col_scale[j]) + bias[j], then relu
// when ep.relu (ep.preact is not supported): the int32 products of int8 A (M x K) and packed B, dequantized as
// Keras's quantized Dense does (its (A B) / (row scale * col scale), within float rounding: the reciprocals make it
// two multiplies). beta is 0 or 1. row_scale_stride 0: one scale for every row (a per-sample scale).
void gemm_s8_dequant(int64_t M, const int8_t* A, int64_t lda, const float* row_scale, int64_t row_scale_stride,
                     const Int8PackedB& B, const float* col_scale, float beta, float* C, int64_t ldc,
                     const GemmEpilogue& ep, bool serial = false);
// Float A (M x K) quantized per row (quantize_rows_s8), then gemm_s8_dequant: Keras's int8 Dense product. Blocks of
// rows over the threads (serial: all on the calling thread); the result never depends on the thread count.
void gemm_q8(int64_t M, const float* A, int64_t lda, const Int8PackedB& B, const float* col_scale, float beta,
             float* C, int64_t ldc, const GemmEpilogue& ep = GemmEpilogue{}, bool serial = false);
// Reference twin: quantize_rows_s8_ref, gemm_s8_ref on row-major int8 B (K x N), the same dequantization.
void gemm_q8_ref(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const int8_t* B, int64_t ldb,
                 const float* col_scale, float beta, float* C, int64_t ldc, const GemmEpilogue& ep = GemmEpilogue{});

}  // namespace nncore::kernels

namespace nncore::kernels {

// ---- activations (elementwise; softmax over the last axis of a rows x cols matrix) -----------------------
enum class Act { linear, relu, sigmoid, tanh, softmax, leaky_relu, gelu, elu };

// y = act(x); y may alias x except for gelu/elu/leaky_relu backward needs (callers keep x when needed).
void act_forward(Act act, float* y, const float* x, int64_t rows, int64_t cols, float alpha);
// dx = dy * act'(x), from the pre-activation x and/or the output y (whichever the function needs).
// dx may alias dy.
void act_backward(Act act, float* dx, const float* dy, const float* x, const float* y, int64_t rows,
                  int64_t cols, float alpha);
// dx = y > 0 ? dy : 0 for n floats on the calling thread: relu's derivative inside a kernel's own parallel loop.
void relu_backward_serial(float* dx, const float* dy, const float* y, int64_t n);

// ---- batches of a shuffled epoch ----------------------------------------------------------------------------
// dst row i = src row idx[i] (rows of `row` floats), i < n.
void gather_rows(float* dst, const float* src, const int64_t* idx, int64_t n, int64_t row);
// A hint to the caches that src rows idx[0..n) are read soon (the next batch, while this one trains): a data set
// larger than the caches otherwise costs a trip to memory per row of every batch. No effect on any result.
void prefetch_rows(const float* src, const int64_t* idx, int64_t n, int64_t row);

// ---- small reductions and broadcasts used by dense layers --------------------------------------------------
void broadcast_rows(float* y, const float* b, int64_t rows, int64_t cols);        // y[r,:] = b
void col_sum_accumulate(float* db, const float* dz, int64_t rows, int64_t cols);  // db += sum_r dz[r,:]
void add_rows_bias(float* y, const float* b, int64_t rows, int64_t cols);         // y[r,:] += b
// Weight penalty l1*sum|w| + l2*sum w^2 (summed in double, in order); when grad != nullptr also
// grad += l1*sign(w) + 2*l2*w.
double regularize(float* grad, const float* w, int64_t n, float l1, float l2);
// Keras's OrthogonalRegularizer on w (rows x cols): the R vectors (its rows, or its columns when `columns`) scaled
// to unit length, n_i = w_i * min(1 / |w_i|, 1e7), G = N N^T; penalty = factor / (R (R - 1)) * sum_{i != j} |G_ij|
// (the mean over pairs of |n_i . n_j|, halved as Keras does). When grad != nullptr also grad += d penalty / dw.
// scratch: orthogonal_scratch_size floats. Fewer than 2 vectors: no pairs, no penalty.
double orthogonal_regularize(float* grad, const float* w, int64_t rows, int64_t cols, bool columns, float factor,
                             float* scratch);
int64_t orthogonal_scratch_size(int64_t rows, int64_t cols, bool columns);
// Counts non-finite values (NaN, +-inf).
int64_t count_nonfinite(const float* x, int64_t n);

// ---- losses ----------------------------------------------------------------------------------------------
// Each returns the SUM over the batch of the per-sample loss (Keras's per-sample reduction, i.e. the mean over
// the last axis for mse/mae/bce) and, when grad != nullptr, writes grad = grad_scale * d(sum)/d(input).
// `*_logits` variants take pre-activation logits (softmax / sigmoid fused: stable and cheap).
double loss_mse(float* grad, const float* p, const float* y, int64_t B, int64_t D, float grad_scale);
double loss_mae(float* grad, const float* p, const float* y, int64_t B, int64_t D, float grad_scale);
double loss_bce(float* grad, const float* p, const float* y, int64_t B, int64_t D, float grad_scale);
double loss_bce_logits(float* grad, const float* z, const float* y, int64_t B, int64_t D, float grad_scale);
double loss_cce(float* grad, const float* p, const float* y, int64_t B, int64_t C, float grad_scale);
double loss_cce_logits(float* grad, const float* z, const float* y, int64_t B, int64_t C, float grad_scale);
// labels: B class indices stored as floats (validated by the caller to be integers in [0, C)).
double loss_scce(float* grad, const float* p, const float* labels, int64_t B, int64_t C, float grad_scale);
double loss_scce_logits(float* grad, const float* z, const float* labels, int64_t B, int64_t C,
                        float grad_scale);

// ---- metrics (return the SUM over the batch of the per-sample value) --------------------------------------
double metric_sparse_categorical_accuracy(const float* p, const float* labels, int64_t B, int64_t C);
double metric_categorical_accuracy(const float* p, const float* y, int64_t B, int64_t C);
double metric_binary_accuracy(const float* p, const float* y, int64_t B, int64_t D, float threshold);
double metric_mse(const float* p, const float* y, int64_t B, int64_t D);
double metric_mae(const float* p, const float* y, int64_t B, int64_t D);
// Hits of "the target class is among the k largest predictions" (ties at the boundary count as in, as
// tf.math.in_top_k); the target is labels[b] (sparse) or argmax of the one-hot row y (B, C).
double metric_sparse_top_k_accuracy(const float* p, const float* labels, int64_t B, int64_t C, int64_t k);
double metric_top_k_accuracy(const float* p, const float* y, int64_t B, int64_t C, int64_t k);
double metric_accuracy(const float* p, const float* y, int64_t B, int64_t D);  // exact equality, mean per sample

// ---- confusion-matrix metrics (add to double counts; Keras's update_confusion_matrix_variables) -----------
// Values: R rows of D values at p[r*ld + c0 + d] (targets alike in y), row r weighted by w[r / rows_per_weight]
// (w null: 1). A value is positive when it is > a threshold, its target when it is non-zero. With `per_value`
// (AUC's multi_label) each of the D columns has its own counts (count arrays [D][T]), else all are pooled ([T]).
// Adds to tp/fp/tn/fn[T] (any may be null).
void confusion_thresholds(const float* p, const float* y, const float* w, int64_t R, int64_t ld, int64_t c0, int64_t D,
                          int64_t rows_per_weight, const float* thresholds, int64_t T, bool per_value, double* tp,
                          double* fp, double* tn, double* fn);
// The same for T evenly spaced thresholds {-eps, 1/(T-1), ..., 1+eps} in O(R*D + T): each prediction (clipped to
// [0, 1]) lands in bucket max(ceil(p*(T-1)) - 1, 0), then reversed cumulative sums (Keras's optimized path).
// `buckets` is scratch of 2*T doubles.
void confusion_buckets(const float* p, const float* y, const float* w, int64_t R, int64_t ld, int64_t c0, int64_t D,
                       int64_t rows_per_weight, int64_t T, bool per_value, double* tp, double* fp, double* tn,
                       double* fn, double* buckets);
// Keeps the k largest values of each of R rows of C (ties: the lower index) and sets the others to -1e10 (Keras's
// top_k filter for Precision/Recall): out may equal p.
void keep_top_k(const float* p, float* out, int64_t R, int64_t C, int64_t k);
// F-beta counts over R rows of C classes: a class is predicted when its value is > threshold (has_threshold) or
// is the row's maximum and non-zero; adds w*pred*y, w*pred*(1-y), w*(1-pred)*y, w*y per class (counts [4][C]), or
// pooled over classes when `micro` (counts [4]).
void fbeta_counts(const float* p, const float* y, const float* w, int64_t R, int64_t C, int64_t rows_per_weight,
                  bool has_threshold, float threshold, bool micro, double* counts);

// ---- optimizer updates (memory-bound loops over one parameter tensor) -------------------------------------
// SGD with momentum (Keras form): v = momentum*v - lr*g; w += v  (nesterov: w += momentum*v - lr*g).
void sgd_update(float* w, float* v, const float* g, int64_t n, float lr, float momentum, bool nesterov);
// Adam: m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2; w -= lr_t * m / (sqrt(v) + eps_hat).
// amsgrad when v_hat is not null: v_hat = max(v_hat, v) replaces v in the denominator.
void adam_update(float* w, float* m, float* v, float* v_hat, const float* g, int64_t n, float lr_t, float b1,
                 float b2, float eps_hat);
// Adagrad (Keras's form): acc += g^2; w -= lr * g / sqrt(acc + eps).
void adagrad_update(float* w, float* acc, const float* g, int64_t n, float lr, float eps);
// RMSprop (Keras's form): ms = rho*ms + (1-rho)*g^2; d = ms + eps, or centered (mg not null): mg = rho*mg +
// (1-rho)*g, d = ms - mg^2 + eps; inc = lr*g/sqrt(d); w -= inc, or (vel not null) vel = momentum*vel + inc; w -= vel.
void rmsprop_update(float* w, float* ms, float* mg, float* vel, const float* g, int64_t n, float lr, float rho,
                    float momentum, float eps);
// Decoupled weight decay (Keras's order of operations): w -= w * wd * lr.
void weight_decay_update(float* w, int64_t n, float wd, float lr);
// sum(g^2) in double, over fixed blocks of 4096 added in order: the result does not depend on the thread count.
double sum_squares(const float* g, int64_t n);
void clip_scale(float* y, const float* x, int64_t n, float s);  // y = s * x (clipping by a norm)
void clip_value(float* y, const float* x, int64_t n, float v);  // y = min(max(x, -v), v)

// ---- dropout -------------------------------------------------------------------------------------------
// Inverted dropout: mask[i] = keep ? 1/(1-rate) : 0 from a counter-based hash of (seed, i), so the mask does
// not depend on the thread count; y = x * mask.
void dropout_forward(float* y, float* mask, const float* x, int64_t n, float rate, uint64_t seed);
// The mask alone: mask[i] = keep ? 1/(1-rate) : 0, from the same hash as dropout_forward (serial; for small n).
void dropout_mask(float* mask, int64_t n, float rate, uint64_t seed);
// Spatial dropout on x (B, HW, C): one mask entry per (b, c), mask (B, C) from the same hash as dropout_forward
// with index b*C + c, broadcast over HW. y = x * mask.
void spatial_dropout_forward(float* y, float* mask, const float* x, int64_t B, int64_t HW, int64_t C, float rate,
                             uint64_t seed);
// y (B, HW, C) = x * mask (B, C) broadcast over HW; the backward of spatial_dropout_forward (dx = dy * mask).
void mul_channels(float* y, const float* x, const float* mask, int64_t B, int64_t HW, int64_t C);
void mul(float* y, const float* a, const float* b, int64_t n);  // y = a * b
void add(float* y, const float* a, const float* b, int64_t n);  // y = a + b

// ---- utility layers (utility.cpp) ---------------------------------------------------------------------------
// Keras's ReLU: y = x > threshold ? min(x, max_value) : negative_slope * (x - threshold) (max_value: +inf for none).
void relu_ext_forward(float* y, const float* x, int64_t n, float max_value, float negative_slope, float threshold);
// dx = dy * (x > threshold ? (x < max_value ? 1 : 0) : negative_slope), overwritten.
void relu_ext_backward(float* dx, const float* dy, const float* x, int64_t n, float max_value, float negative_slope,
                       float threshold);
// PReLU on x (B, E) with alpha (A) read through amap (E entries in [0, A); null: the identity, A == E):
// y = x > 0 ? x : alpha[amap[e]] * x.
void prelu_forward(float* y, const float* x, const float* alpha, const int64_t* amap, int64_t B, int64_t E);
// dx = x > 0 ? dy : alpha * dy (overwritten; null: not needed); dalpha[a] += sum over the batch and the elements
// sharing entry a of dy * min(x, 0) (null: not needed). order/starts list those elements per entry: order[starts[a]
// .. starts[a + 1]) ascending (both null with amap null). Each entry sums in one order whatever the thread count.
void prelu_backward(float* dx, float* dalpha, const float* dy, const float* x, const float* alpha,
                    const int64_t* amap, const int64_t* order, const int64_t* starts, int64_t B, int64_t E, int64_t A);
// y = elementwise max (max true) or min of k inputs of n values each; arg = the index of the input chosen, the
// first one on ties. backward: dx = arg == which ? dy : 0 (overwritten).
void extremum_forward(float* y, int32_t* arg, const float* const* xs, int64_t k, int64_t n, bool max);
void extremum_backward(float* dx, const float* dy, const int32_t* arg, int32_t which, int64_t n);
// x (B, F) -> y (B, N, F), y[b, i, :] = x[b, :]; backward dx[b, :] = sum_i dy[b, i, :] (overwritten, i ascending).
void repeat_vector_forward(float* y, const float* x, int64_t B, int64_t N, int64_t F);
void repeat_vector_backward(float* dx, const float* dy, int64_t B, int64_t N, int64_t F);
// B samples of per-sample shape dims, each permuted: y's axis i is x's axis perm[i] (perm a permutation of 0..r-1).
void permute_samples(float* y, const float* x, int64_t B, const std::vector<int64_t>& dims,
                     const std::vector<int64_t>& perm);
void scale_shift(float* y, const float* x, int64_t n, float scale, float offset);  // y = x * scale + offset
// Gaussian noise from a counter-based hash of (seed, i) (Box-Muller), so the draws do not depend on the thread
// count: y = x + stddev * z; gaussian_dropout_forward: mask = 1 + stddev * z, y = x * mask.
void add_gaussian_noise(float* y, const float* x, int64_t n, float stddev, uint64_t seed);
void gaussian_dropout_forward(float* y, float* mask, const float* x, int64_t n, float stddev, uint64_t seed);
// dx = dy + l1 * sign(x) + 2 * l2 * x (the factors already scaled by 1 / batch).
void activity_regularization_backward(float* dx, const float* dy, const float* x, int64_t n, float l1, float l2);

// ---- Masking, Dot, Normalization (masking_dot_norm.cpp) ---------------------------------------------------------
// x (R, F): mask[r] = any_f x[r, f] != value (1 or 0), y[r, :] = x[r, :] * mask[r] (Keras's Masking).
void masking_forward(float* y, float* mask, const float* x, int64_t R, int64_t F, float value);
// y[r, :] = x[r, :] * s[r] (overwritten): Masking's backward (dx = dy * mask).
void scale_rows(float* y, const float* x, const float* s, int64_t R, int64_t F);
// x viewed as (O, L, I), normalized along L: inv[o, i] = min(1 / ||x[o, :, i]||, inv_eps) (the norm's square summed in
// double), y = x * inv (Keras's ops.normalize with order 2).
void l2_normalize_forward(float* y, float* inv, const float* x, int64_t O, int64_t L, int64_t I, float inv_eps);
// Backward of the line above from its output y: dx = inv * (dy - y * sum_l dy * y) where the norm was above eps,
// dx = inv * dy where inv was clamped to inv_eps (overwritten).
void l2_normalize_backward(float* dx, const float* dy, const float* y, const float* inv, int64_t O, int64_t L,
                           int64_t I, float inv_eps);
// P independent products C[p] (M x N) = op(A[p]) op(B[p]) with op and storage as in gemm (trans_a: A[p] stored K x M;
// trans_b: B[p] stored N x K), samples packed back to back. The result does not depend on the thread count.
void batch_matmul(float* C, const float* A, const float* B, int64_t P, int64_t M, int64_t N, int64_t K, bool trans_a,
                  bool trans_b);
// s = max(sqrt(var), floor): Normalization's divisor.
void sqrt_floor(float* s, const float* var, int64_t n, float floor);
// x (B, E) with statistics m, s (K) read through kmap (E entries in [0, K); null: k = e % K, K dividing E):
// y = (x - m[k]) / s[k], or y = x * s[k] + m[k] with invert.
void standardize_forward(float* y, const float* x, const float* m, const float* s, const int64_t* kmap, int64_t B,
                         int64_t E, int64_t K, bool invert);
// Its backward: dx = dy / s[k], or dy * s[k] with invert (overwritten).
void standardize_backward(float* dx, const float* dy, const float* s, const int64_t* kmap, int64_t B, int64_t E,
                          int64_t K, bool invert);
// The moments of x (B, E) per group k = kmap[e] in [0, K) (null: k = e % K, K dividing E): mean[k] and m2[k], the sum
// of squared deviations from it, over the batch and the elements of group k, in double (two passes). Serial, so the
// sums run in one order whatever the thread count; returns false when a value is NaN or infinite.
bool group_moments(double* mean, double* m2, const float* x, const int64_t* kmap, int64_t B, int64_t E, int64_t K);

}  // namespace nncore::kernels

namespace nncore::kernels {

// ---- 2-D convolution, channels-last -----------------------------------------------------------------------
// x (B, H, W, C), w (KH, KW, C, OC) viewed as (KH*KW*C, OC), y (B, OH, OW, OC).
// Input pixel of output (oh, ow) and tap (kh, kw): (oh*sh - pt + kh*dh, ow*sw - pl + kw*dw); outside is zero.
struct ConvGeom {
  int64_t B, H, W, C, KH, KW, OC, OH, OW, sh, sw, dh, dw, pt, pl;
  int64_t taps() const { return KH * KW * C; }  // GEMM K
  int64_t rows_per_image() const { return OH * OW; }
};
// Floats of workspace conv2d_forward/backward want: backward-weights' partial sums (the im2col and input
// buffers of the blocks are per thread and reused).
int64_t conv2d_workspace_size(const ConvGeom& g);
// Activations the convolution applies as it stores each output tile (forward) and folds into its read of dy
// (backward); others cost a separate pass.
bool conv2d_fuses(Act act);
// y = act(x * w + bias) (no bias when null); y is written, not accumulated. z, when not null, receives the
// pre-activation x * w + bias too (for backward or loss fusion).
void conv2d_forward(float* y, float* z, const float* x, const float* w, const float* bias, Act act, float alpha,
                    const ConvGeom& g, float* ws, int64_t ws_size);
// Backward of y = act(x * w + bias) for act linear or relu (relu' from the forward's output y, y > 0; y is
// not read for linear): dw, db accumulate (+=); dx is overwritten. Any of dx/dw/db may be null (not needed).
// ws: at least conv2d_workspace_size floats.
void conv2d_backward(float* dx, float* dw, float* db, const float* dy, const float* y, Act act, const float* x,
                     const float* w, const ConvGeom& g, float* ws, int64_t ws_size);
// Plain direct loops (test oracle), same contracts.
// int8 convolution (a quantized Conv2D/Conv1D): each image quantized whole (one absmax scale per sample, so an
// im2col of int8 values keeps one scale per row), the int8 GEMM against w packed as (KH*KW*C, OC), dequantized with
// the image's scale and w's per-filter scales (as gemm_s8_dequant); bias and relu in the store. Groups 1 only.
void conv2d_forward_s8(float* y, const float* x, const Int8PackedB& w, const float* w_scale, const float* bias,
                       bool relu, const ConvGeom& g);
void conv2d_forward_ref(float* y, float* z, const float* x, const float* w, const float* bias, Act act,
                        float alpha, const ConvGeom& g);
void conv2d_backward_ref(float* dx, float* dw, float* db, const float* dy, const float* y, Act act, const float* x,
                         const float* w, const ConvGeom& g);

// ---- depthwise 2-D convolution, channels-last -------------------------------------------------------------
// x (B, H, W, C), w (KH, KW, C, M) with M = OC / C (the depth multiplier), y (B, OH, OW, OC): output channel
// c * M + m is input channel c convolved with filter (.., c, m); geometry as ConvGeom's. No activation.
// y overwritten; bias (OC floats) added when not null.
void depthwise_conv2d_forward(float* y, const float* x, const float* w, const float* bias, const ConvGeom& g);
// Floats of workspace backward wants for dw (per-chunk partial sums).
int64_t depthwise_conv2d_workspace_size(const ConvGeom& g);
// dx overwritten, dw accumulated (+=); either may be null.
void depthwise_conv2d_backward(float* dx, float* dw, const float* dy, const float* x, const float* w,
                               const ConvGeom& g, float* ws, int64_t ws_size);
void depthwise_conv2d_forward_ref(float* y, const float* x, const float* w, const float* bias, const ConvGeom& g);
void depthwise_conv2d_backward_ref(float* dx, float* dw, const float* dy, const float* x, const float* w,
                                   const ConvGeom& g);

// ---- image augmentation, channels-last ------------------------------------------------------------------------
struct ImageGeom {
  int64_t B, H, W, C;  // the input images
  int64_t OH, OW;      // the output images' size (the resampling; H, W for the others)
};
// Where a sample outside the image reads (TensorFlow's fill modes): reflect (d c b a | a b c d | d c b a), wrap
// (a b c d | a b c d), nearest (the edge pixel), constant (fill_value).
enum class ImageFill { reflect, wrap, nearest, constant };
// y (B, OH, OW, C): output pixel (row i, column j) of image b samples x at column t[0] j + t[1] i + t[2], row
// t[3] j + t[4] i + t[5], t = transforms + 6 b (TensorFlow's ImageProjectiveTransformV3 order, affine), by nearest
// pixel (rounded) or bilinear interpolation; each tap outside the image after the fill mode's mapping reads
// fill_value (constant) or nothing.
void image_transform_forward(float* y, const float* x, const ImageGeom& g, const float* transforms, bool bilinear,
                             ImageFill fill, float fill_value);
// Its adjoint: dx (B, H, W, C, overwritten) = the sum of dy (B, OH, OW, C) over the taps that read each input pixel,
// by the same weights.
void image_transform_backward(float* dx, const float* dy, const ImageGeom& g, const float* transforms, bool bilinear,
                              ImageFill fill);
// y = clip((x - mean) * factors[b] + mean, lo, hi), the mean over each image's pixels per channel.
void adjust_contrast_forward(float* y, const float* x, const ImageGeom& g, const float* factors, float lo, float hi);
// dx (overwritten) from dy and the forward's y (no gradient where y was clipped).
void adjust_contrast_backward(float* dx, const float* dy, const float* y, const ImageGeom& g, const float* factors,
                              float lo, float hi);
// y = clip(x + deltas[b], lo, hi).
void adjust_brightness_forward(float* y, const float* x, const ImageGeom& g, const float* deltas, float lo, float hi);
// dx = dy where lo < y < hi, else 0 (n values).
void clipped_backward(float* dx, const float* dy, const float* y, int64_t n, float lo, float hi);

// ---- 2-D pooling, channels-last ------------------------------------------------------------------------
struct PoolGeom {
  int64_t B, H, W, C, PH, PW, OH, OW, sh, sw, pt, pl;
};
// Max pooling; argmax[o] = flat input index (within the image) of the max, for backward (null: not kept). Padding
// never wins.
void maxpool2d_forward(float* y, int32_t* argmax, const float* x, const PoolGeom& g);
void maxpool2d_backward(float* dx, const float* dy, const int32_t* argmax, const PoolGeom& g);  // dx overwritten
void maxpool2d_forward_ref(float* y, int32_t* argmax, const float* x, const PoolGeom& g);
void maxpool2d_backward_ref(float* dx, const float* dy, const int32_t* argmax, const PoolGeom& g);
// Average pooling over the window's in-bounds elements (Keras's 'same' padding excludes the padding).
void avgpool2d_forward(float* y, const float* x, const PoolGeom& g);
void avgpool2d_backward(float* dx, const float* dy, const PoolGeom& g);  // dx overwritten
// Global pooling: (B, HW, C) -> (B, C). The average takes an optional 0/1 mask (B, HW) (null: all valid) and
// averages over the valid positions only; a sample without any gets 0 (and a zero gradient).
void global_avgpool_forward(float* y, const float* x, const float* mask, int64_t B, int64_t HW, int64_t C);
void global_avgpool_backward(float* dx, const float* dy, const float* mask, int64_t B, int64_t HW, int64_t C);
void global_maxpool_forward(float* y, int32_t* argmax, const float* x, int64_t B, int64_t HW, int64_t C);
void global_maxpool_backward(float* dx, const float* dy, const int32_t* argmax, int64_t B, int64_t HW, int64_t C);

// ---- zero padding (channels-last) -------------------------------------------------------------------------
void pad2d_forward(float* y, const float* x, int64_t B, int64_t H, int64_t W, int64_t C, int64_t top, int64_t bottom,
                   int64_t left, int64_t right);
void pad2d_backward(float* dx, const float* dy, int64_t B, int64_t H, int64_t W, int64_t C, int64_t top,
                    int64_t bottom, int64_t left, int64_t right);

// ---- upsampling (channels-last): x (B, H, W, C) -> y (B, H*sh, W*sw, C) ------------------------------------
// Nearest: y[b, oh, ow, :] = x[b, oh / sh, ow / sw, :]. Backward: dx (overwritten) = the sum of dy over each block.
void upsample2d_nearest_forward(float* y, const float* x, int64_t B, int64_t H, int64_t W, int64_t C, int64_t sh,
                                int64_t sw);
void upsample2d_nearest_backward(float* dx, const float* dy, int64_t B, int64_t H, int64_t W, int64_t C, int64_t sh,
                                 int64_t sw);
// Bilinear with half-pixel centers (tf.image.resize, antialias=False): output row oh samples input row
// (oh + 0.5) / sh - 0.5 clamped to [0, H - 1], between its two neighbours; the same across the columns.
// Backward: dx (overwritten) = the adjoint, each dy spread over the four pixels it was read from.
void upsample2d_bilinear_forward(float* y, const float* x, int64_t B, int64_t H, int64_t W, int64_t C, int64_t sh,
                                 int64_t sw);
void upsample2d_bilinear_backward(float* dx, const float* dy, int64_t B, int64_t H, int64_t W, int64_t C,
                                  int64_t sh, int64_t sw);

}  // namespace nncore::kernels

namespace nncore::kernels {

// ---- embedding lookup (ids arrive as floats: the model's inputs are float32) -----------------------------------
// Index of the first id that is not an integer in [0, V) (NaN included), or -1 when all are valid.
int64_t embedding_first_invalid(const float* ids, int64_t n, int64_t V);
// y (n, D) = table[ids] for table (V, D); ids valid (see above). mask, when not null, receives ids != 0 as 0/1.
// row_scale (V), when not null: an int8-quantized table, each row read as table[id] / row_scale[id] (Keras).
void embedding_forward(float* y, float* mask, const float* ids, const float* table, int64_t n, int64_t D,
                       const float* row_scale = nullptr);
// dtable[ids[i], :] += dy[i, :]. Parallel over column blocks, each row summed in the order of i: the result does
// not depend on the thread count.
void embedding_backward(float* dtable, const float* dy, const float* ids, int64_t n, int64_t D);

}  // namespace nncore::kernels
