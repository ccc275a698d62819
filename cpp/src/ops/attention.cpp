#include <cmath>

#include "kernels/attention.hpp"
#include "nncore/check.hpp"
#include "nncore/ops.hpp"

namespace nncore {

namespace {
// Strides that read an array of shape `src` (row-major) broadcast numpy's way against (B, H, T, S) (right-aligned;
// a length 1 or a missing axis reads with stride 0). `what` names the operand in errors.
void broadcast_strides(const Shape& src, const int64_t dims[4], int64_t strides[4], const char* what) {
  NNC_CHECK(src.size() <= 4, "dot_product_attention: ", what, " must have at most 4 axes (batch, heads, T, S), got ",
            shape_str(src));
  int64_t stride = 1;
  for (int i = 3; i >= 0; --i) {
    const int j = i - (4 - static_cast<int>(src.size()));
    if (j < 0) {
      strides[i] = 0;
      continue;
    }
    const int64_t n = src[static_cast<size_t>(j)];
    NNC_CHECK(n == 1 || n == dims[i], "dot_product_attention: ", what, " of shape ", shape_str(src),
              " does not broadcast to (batch, heads, T, S) = (", dims[0], ", ", dims[1], ", ", dims[2], ", ", dims[3],
              ")");
    strides[i] = n == 1 ? 0 : stride;
    stride *= n;
  }
}

kernels::AttentionArgs attention_args(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& o) {
  NNC_CHECK(q.ndim() == 4 && k.ndim() == 4 && v.ndim() == 4, "dot_product_attention: query, key and value must be "
            "(batch, length, heads, dim), got ", q.shape_str(), ", ", k.shape_str(), " and ", v.shape_str());
  NNC_CHECK(k.dim(0) == q.dim(0) && v.dim(0) == q.dim(0), "dot_product_attention: query, key and value need the "
            "same batch, got ", q.shape_str(), ", ", k.shape_str(), " and ", v.shape_str());
  NNC_CHECK(k.dim(2) == q.dim(2) && v.dim(2) == q.dim(2), "dot_product_attention: query, key and value need the same "
            "number of heads (grouped-query attention is not supported), got ", q.dim(2), ", ", k.dim(2), " and ",
            v.dim(2));
  NNC_CHECK(k.dim(3) == q.dim(3), "dot_product_attention: query and key need the same dim, got ", q.dim(3), " and ",
            k.dim(3));
  NNC_CHECK(v.dim(1) == k.dim(1), "dot_product_attention: key and value need the same length, got ", k.dim(1),
            " and ", v.dim(1));
  NNC_CHECK(q.dim(3) > 0 && v.dim(3) > 0, "dot_product_attention: the dims must be positive, got query ",
            q.shape_str(), " and value ", v.shape_str());
  NNC_CHECK(std::isfinite(o.scale), "dot_product_attention: scale must be finite, got ", o.scale);
  NNC_CHECK(o.dropout >= 0.f && o.dropout < 1.f, "dot_product_attention: dropout must be in [0, 1), got ", o.dropout);
  kernels::AttentionArgs a;
  a.B = q.dim(0);
  a.T = q.dim(1);
  a.H = q.dim(2);
  a.D = q.dim(3);
  a.S = k.dim(1);
  a.Dv = v.dim(3);
  a.scale = o.scale > 0.f ? o.scale : 1.f / std::sqrt(static_cast<float>(a.D));
  a.causal = o.causal;
  a.dropout = o.dropout;
  a.seed = o.seed;
  const int64_t dims[4] = {a.B, a.H, a.T, a.S};
  if (o.mask != nullptr && o.mask->size() > 0) {
    a.mask = o.mask->data();
    broadcast_strides(o.mask->shape(), dims, a.mask_stride, "mask");
  }
  if (o.bias != nullptr && o.bias->size() > 0) {
    a.bias = o.bias->data();
    broadcast_strides(o.bias->shape(), dims, a.bias_stride, "bias");
  }
  return a;
}
}  // namespace

void attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& o, Tensor& out,
                       Tensor& lse, Tensor* probs) {
  const kernels::AttentionArgs a = attention_args(q, k, v, o);
  out.resize({a.B, a.T, a.H, a.Dv});
  lse.resize({a.B, a.H, a.T});
  float* p = nullptr;
  if (probs != nullptr) {
    probs->resize({a.B, a.H, a.T, a.S});
    p = probs->data();
  }
  (o.reference ? kernels::attention_forward_ref : kernels::attention_forward)(a, q.data(), k.data(), v.data(),
                                                                               out.data(), lse.data(), p);
}

void attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& lse, const Tensor& dout,
                        const AttentionOptions& o, Tensor& dq, Tensor& dk, Tensor& dv) {
  const kernels::AttentionArgs a = attention_args(q, k, v, o);
  NNC_CHECK(lse.size() == a.B * a.H * a.T, "attention_backward: lse must be (", a.B, ", ", a.H, ", ", a.T, "), got ",
            lse.shape_str());
  NNC_CHECK(dout.ndim() == 4 && dout.dim(0) == a.B && dout.dim(1) == a.T && dout.dim(2) == a.H && dout.dim(3) == a.Dv,
            "attention_backward: dout must be (", a.B, ", ", a.T, ", ", a.H, ", ", a.Dv, "), got ", dout.shape_str());
  dq.resize(q.shape());
  dk.resize(k.shape());
  dv.resize(v.shape());
  (o.reference ? kernels::attention_backward_ref : kernels::attention_backward)(
      a, q.data(), k.data(), v.data(), lse.data(), dout.data(), dq.data(), dk.data(), dv.data());
}

}  // namespace nncore
