// The batch-normalization streaming kernels of norm_internal.hpp, written once over a vector type V. Included by
// norm_avx2.cpp and norm_avx512.cpp inside an anonymous namespace, after each defines its V:
//   V::reg, V::L (floats per register), V::kRegs (register budget of a column block), zero(), set1, add, sub,
//   fmadd(a, b, c)
//   (a*b + c, one rounding), load_n(p, k) (k floats, zeros after them; k may be <= 0 or >= L), store_n(p, v, k),
//   keep_n(v, k) (lanes from k on set to zero).
// So every definition here has internal linkage and is compiled once per ISA: nothing is shared with the
// baseline TUs. Every product that feeds an add is an explicit fused multiply-add and adds follow the segment
// order, so both ISAs give the same bits whatever the compiler contracts.
//
// Each kernel is an Op: per register of a column block it keeps a State (accumulators, table entries) in
// registers across all segments. run<V, Op> walks the segment positions in column blocks as wide as the
// registers allow and instantiates each block for its register count, so whole blocks of whole segments run
// without masks; only the short last segment and a ragged block end (W % L != 0) take the masked path.

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

template <class V, int N, class Op>
void run_block(const Op& op_in, int64_t W, int64_t n, int64_t j0, int64_t nb) {
  constexpr int64_t L = V::L;
  const Op op = op_in;  // a local copy: its pointers stay in registers, whatever the stores may alias
  typename Op::template State<V> st[N];
#pragma GCC unroll 16
  for (int v = 0; v < N; ++v) op.init(st[v], j0 + v * L, nb - v * L);
  const int64_t whole = n / W, tail = n - whole * W;
  auto last = [&] {  // the short last segment
    if (tail <= j0) return;
    const int64_t cnt = min64(nb, tail - j0);
#pragma GCC unroll 16
    for (int v = 0; v < N; ++v) op.step(st[v], whole * W + j0 + v * L, cnt - v * L, whole);
  };
  // Reductions walk the segments in order (their sums depend on it); elementwise ops walk backwards, so that
  // a pass that runs over the chunks in descending order streams through memory in one direction.
  if (Op::kDescending) last();
  for (int64_t i = 0; i < whole; ++i) {
    const int64_t s = Op::kDescending ? whole - 1 - i : i;
    if (nb == N * L) {
#pragma GCC unroll 16
      for (int v = 0; v < N; ++v) op.step(st[v], s * W + j0 + v * L, L, s);  // constant count: no masks
    } else {
#pragma GCC unroll 16
      for (int v = 0; v < N; ++v) op.step(st[v], s * W + j0 + v * L, nb - v * L, s);
    }
  }
  if (!Op::kDescending) last();
#pragma GCC unroll 16
  for (int v = 0; v < N; ++v) op.finish(st[v], j0 + v * L, nb - v * L);
}

// Registers per column block: what V::kRegs holds next to Op::kPerReg live values per register, at most 16.
// kRegs (64) exceeds the ISA's 16 or 32 registers on purpose: every block walks the whole chunk again, strided,
// which costs far more (measured 1.3-2x on wide layers) than the compiler spilling some table entries and
// accumulators to L1.
template <class V, class Op>
constexpr int block_registers() {
  const int n = (V::kRegs - 4) / Op::kPerReg;
  return n < 1 ? 1 : (n > 16 ? 16 : n);
}

template <class V, int N, class Op>
void run_block_of(int nreg, const Op& op, int64_t W, int64_t n, int64_t j0, int64_t nb) {
  if constexpr (N > 1) {
    if (nreg < N) return run_block_of<V, N - 1>(nreg, op, W, n, j0, nb);
  }
  run_block<V, N>(op, W, n, j0, nb);
}

template <class V, class Op>
void run(const Op& op, int64_t W, int64_t n) {
  constexpr int NV = block_registers<V, Op>();
  constexpr int64_t L = V::L;
  for (int64_t j0 = 0; j0 < W; j0 += NV * L) {
    const int64_t nb = min64(NV * L, W - j0);
    run_block_of<V, NV>(static_cast<int>((nb + L - 1) / L), op, W, n, j0, nb);
  }
}

// Welford's update per position on x - shift (shift: an estimate of the mean, so that the running mean stays of
// the size of the spread, not of the values), segment s being the (s+1)-th value: mean += (x - mean) / (s+1),
// m2 += (x - mean_old) * (x - mean_new); inv[s] = 1 / (s+1). Lanes past a short last segment keep their values.
struct MomentsOp {
  static constexpr int kPerReg = 3;
  static constexpr bool kDescending = false;
  template <class V>
  struct State {
    typename V::reg shift, mean, m2;
  };
  float *mean, *m2;
  const float *x, *shift, *inv;
  template <class V>
  void init(State<V>& st, int64_t j, int64_t k) const {
    st.shift = V::load_n(shift + j, k);
    st.mean = st.m2 = V::zero();
  }
  template <class V>
  void step(State<V>& st, int64_t o, int64_t k, int64_t s) const {
    const typename V::reg xs = V::sub(V::load_n(x + o, k), st.shift);
    const typename V::reg d = V::keep_n(V::sub(xs, st.mean), k);
    st.mean = V::fmadd(d, V::set1(inv[s]), st.mean);
    st.m2 = V::fmadd(d, V::sub(xs, st.mean), st.m2);
  }
  template <class V>
  void finish(State<V>& st, int64_t j, int64_t k) const {
    V::store_n(mean + j, st.mean, k);
    V::store_n(m2 + j, st.m2, k);
  }
};

// y = (x - m) * a + b.
struct AffineOp {
  static constexpr int kPerReg = 3;
  static constexpr bool kDescending = true;
  template <class V>
  struct State {
    typename V::reg m, a, b;
  };
  float* y;
  const float *x, *m, *a, *b;
  template <class V>
  void init(State<V>& st, int64_t j, int64_t k) const {
    st.m = V::load_n(m + j, k);
    st.a = V::load_n(a + j, k);
    st.b = V::load_n(b + j, k);
  }
  template <class V>
  void step(State<V>& st, int64_t o, int64_t k, int64_t) const {
    V::store_n(y + o, V::fmadd(V::sub(V::load_n(x + o, k), st.m), st.a, st.b), k);
  }
  template <class V>
  void finish(State<V>&, int64_t, int64_t) const {}
};

// s = sum dy, sd = sum dy * (x - m).
struct GradSumsOp {
  static constexpr int kPerReg = 3;
  static constexpr bool kDescending = false;
  template <class V>
  struct State {
    typename V::reg m, s, sd;
  };
  float *s, *sd;
  const float *dy, *x, *m;
  template <class V>
  void init(State<V>& st, int64_t j, int64_t k) const {
    st.m = V::load_n(m + j, k);
    st.s = st.sd = V::zero();
  }
  template <class V>
  void step(State<V>& st, int64_t o, int64_t k, int64_t) const {
    const typename V::reg g = V::load_n(dy + o, k);
    const typename V::reg t = V::keep_n(V::sub(V::load_n(x + o, k), st.m), k);
    st.s = V::add(st.s, g);
    st.sd = V::fmadd(g, t, st.sd);
  }
  template <class V>
  void finish(State<V>& st, int64_t j, int64_t k) const {
    V::store_n(s + j, st.s, k);
    V::store_n(sd + j, st.sd, k);
  }
};

// dx = dy * k + ((x - m) * kd + k0).
struct GradInputOp {
  static constexpr int kPerReg = 4;
  static constexpr bool kDescending = true;
  template <class V>
  struct State {
    typename V::reg m, k, kd, k0;
  };
  float* dx;
  const float *dy, *x, *m, *k, *kd, *k0;
  template <class V>
  void init(State<V>& st, int64_t j, int64_t c) const {
    st.m = V::load_n(m + j, c);
    st.k = V::load_n(k + j, c);
    st.kd = V::load_n(kd + j, c);
    st.k0 = V::load_n(k0 + j, c);
  }
  template <class V>
  void step(State<V>& st, int64_t o, int64_t c, int64_t) const {
    const typename V::reg t = V::fmadd(V::sub(V::load_n(x + o, c), st.m), st.kd, st.k0);
    V::store_n(dx + o, V::fmadd(V::load_n(dy + o, c), st.k, t), c);
  }
  template <class V>
  void finish(State<V>&, int64_t, int64_t) const {}
};

template <class V>
void moments_kernel(float* mean, float* m2, const float* x, const float* shift, const float* inv, int64_t W,
                    int64_t n) {
  MomentsOp op{mean, m2, x, shift, inv};
  run<V>(op, W, n);
}
template <class V>
void affine_kernel(float* y, const float* x, const float* m, const float* a, const float* b, int64_t W,
                   int64_t n) {
  AffineOp op{y, x, m, a, b};
  run<V>(op, W, n);
}
template <class V>
void grad_sums_kernel(float* s, float* sd, const float* dy, const float* x, const float* m, int64_t W,
                      int64_t n) {
  GradSumsOp op{s, sd, dy, x, m};
  run<V>(op, W, n);
}
template <class V>
void grad_input_kernel(float* dx, const float* dy, const float* x, const float* m, const float* k,
                       const float* kd, const float* k0, int64_t W, int64_t n) {
  GradInputOp op{dx, dy, x, m, k, kd, k0};
  run<V>(op, W, n);
}

template <class V>
constexpr NormKernel make_norm_kernel(const char* name) {
  return {moments_kernel<V>, affine_kernel<V>, grad_sums_kernel<V>, grad_input_kernel<V>, name};
}
