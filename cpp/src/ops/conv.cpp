#include "kernels/kernels.hpp"
#include "nncore/check.hpp"
#include "nncore/ops.hpp"
#include "ops/conv_geometry.hpp"

namespace nncore {

namespace {
kernels::ConvGeom conv_geometry(const Tensor& x, const Tensor& w, const Conv2DOptions& o,
                                const char* who = "conv2d") {
  NNC_CHECK(x.ndim() == 4, who, ": expected x of shape (batch, height, width, channels), got ", x.shape_str());
  NNC_CHECK(w.ndim() == 4, who, ": expected w of shape (kernel_h, kernel_w, in_channels, out_channels), got ",
            w.shape_str());
  NNC_CHECK(w.dim(2) == x.dim(3), who, ": w expects ", w.dim(2), " input channels, x has ", x.dim(3), " (x ",
            x.shape_str(), ", w ", w.shape_str(), ")");
  NNC_CHECK(o.strides[0] >= 1 && o.strides[1] >= 1 && o.dilation[0] >= 1 && o.dilation[1] >= 1,
            who, ": strides and dilation must be >= 1");
  detail::check_padding(o.padding, who);
  const auto h = detail::conv_axis(x.dim(1), w.dim(0), o.strides[0], o.dilation[0], o.padding);
  const auto ww = detail::conv_axis(x.dim(2), w.dim(1), o.strides[1], o.dilation[1], o.padding);
  NNC_CHECK(h.out >= 1 && ww.out >= 1, who, ": kernel ", w.dim(0), "x", w.dim(1), " is larger than the ", o.padding,
            "-padded input ", x.dim(1), "x", x.dim(2));
  return {x.dim(0), x.dim(1), x.dim(2),     x.dim(3),     w.dim(0),      w.dim(1),     w.dim(3),    h.out,
          ww.out,   o.strides[0], o.strides[1], o.dilation[0], o.dilation[1], h.pad_before, ww.pad_before};
}

Tensor conv2d_impl(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2DOptions& o, bool reference) {
  const kernels::ConvGeom g = conv_geometry(x, w, o);
  NNC_CHECK(bias.empty() || bias.shape() == Shape({g.OC}), "conv2d: expected bias of shape (", g.OC, ",), got ",
            bias.shape_str());
  Tensor y;
  y.resize({g.B, g.OH, g.OW, g.OC});  // fully written: no need to zero it first
  const float* b = bias.empty() ? nullptr : bias.data();
  if (reference) {
    kernels::conv2d_forward_ref(y.data(), nullptr, x.data(), w.data(), b, kernels::Act::linear, 0.f, g);
  } else {
    Tensor ws;
    ws.resize({kernels::conv2d_workspace_size(g)});
    kernels::conv2d_forward(y.data(), nullptr, x.data(), w.data(), b, kernels::Act::linear, 0.f, g, ws.data(),
                            ws.size());
  }
  return y;
}

Conv2DGradients conv2d_backward_impl(const Tensor& dy, const Tensor& x, const Tensor& w, const Conv2DOptions& o,
                                     bool reference) {
  const kernels::ConvGeom g = conv_geometry(x, w, o);
  NNC_CHECK(dy.shape() == Shape({g.B, g.OH, g.OW, g.OC}), "conv2d_backward: expected dy of shape ",
            shape_str({g.B, g.OH, g.OW, g.OC}), ", got ", dy.shape_str());
  Conv2DGradients grads{Tensor(), Tensor(w.shape()), Tensor({g.OC})};  // dw, db accumulate from zero
  grads.dx.resize(x.shape());                                          // dx is overwritten
  if (reference) {
    kernels::conv2d_backward_ref(grads.dx.data(), grads.dw.data(), grads.db.data(), dy.data(), nullptr,
                                 kernels::Act::linear, x.data(), w.data(), g);
  } else {
    Tensor ws;
    ws.resize({kernels::conv2d_workspace_size(g)});
    kernels::conv2d_backward(grads.dx.data(), grads.dw.data(), grads.db.data(), dy.data(), nullptr,
                             kernels::Act::linear, x.data(), w.data(), g, ws.data(), ws.size());
  }
  return grads;
}

// w (KH, KW, C, M): output channels C * M.
kernels::ConvGeom depthwise_geometry(const Tensor& x, const Tensor& w, const Conv2DOptions& o) {
  kernels::ConvGeom g = conv_geometry(x, w, o, "depthwise_conv2d");
  g.OC = g.C * w.dim(3);
  return g;
}
}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2DOptions& o) {
  return conv2d_impl(x, w, b, o, false);
}
Tensor conv2d_ref(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2DOptions& o) {
  return conv2d_impl(x, w, b, o, true);
}
Conv2DGradients conv2d_backward(const Tensor& dy, const Tensor& x, const Tensor& w, const Conv2DOptions& o) {
  return conv2d_backward_impl(dy, x, w, o, false);
}
Conv2DGradients conv2d_backward_ref(const Tensor& dy, const Tensor& x, const Tensor& w, const Conv2DOptions& o) {
  return conv2d_backward_impl(dy, x, w, o, true);
}

Tensor depthwise_conv2d(const Tensor& x, const Tensor& w, const Conv2DOptions& o, bool reference) {
  const kernels::ConvGeom g = depthwise_geometry(x, w, o);
  Tensor y;
  y.resize({g.B, g.OH, g.OW, g.OC});
  if (reference) kernels::depthwise_conv2d_forward_ref(y.data(), x.data(), w.data(), nullptr, g);
  else kernels::depthwise_conv2d_forward(y.data(), x.data(), w.data(), nullptr, g);
  return y;
}

Conv2DGradients depthwise_conv2d_backward(const Tensor& dy, const Tensor& x, const Tensor& w, const Conv2DOptions& o,
                                          bool reference) {
  const kernels::ConvGeom g = depthwise_geometry(x, w, o);
  NNC_CHECK(dy.shape() == Shape({g.B, g.OH, g.OW, g.OC}), "depthwise_conv2d_backward: expected dy of shape ",
            shape_str({g.B, g.OH, g.OW, g.OC}), ", got ", dy.shape_str());
  Conv2DGradients grads{Tensor(), Tensor(w.shape()), Tensor()};  // dw accumulates from zero
  grads.dx.resize(x.shape());
  if (reference) {
    kernels::depthwise_conv2d_backward_ref(grads.dx.data(), grads.dw.data(), dy.data(), x.data(), w.data(), g);
  } else {
    Tensor ws;
    ws.resize({kernels::depthwise_conv2d_workspace_size(g)});
    kernels::depthwise_conv2d_backward(grads.dx.data(), grads.dw.data(), dy.data(), x.data(), w.data(), g, ws.data(),
                                       ws.size());
  }
  return grads;
}

namespace {
kernels::ImageGeom image_geometry(const Tensor& x, const Tensor& t, const std::string& interpolation,
                                  const std::string& fill_mode, kernels::ImageFill* fill) {
  NNC_CHECK(x.ndim() == 4, "image_transform: expected images of shape (batch, height, width, channels), got ",
            x.shape_str());
  NNC_CHECK(t.shape() == Shape({x.dim(0), 6}), "image_transform: expected transforms of shape (", x.dim(0),
            ", 6), got ", t.shape_str());
  NNC_CHECK(interpolation == "nearest" || interpolation == "bilinear",
            "image_transform: interpolation must be 'nearest' or 'bilinear', got '", interpolation, "'");
  *fill = detail::image_fill(fill_mode, "image_transform");
  return {x.dim(0), x.dim(1), x.dim(2), x.dim(3), x.dim(1), x.dim(2)};
}
}  // namespace

Tensor image_transform(const Tensor& x, const Tensor& transforms, const std::string& interpolation,
                       const std::string& fill_mode, float fill_value) {
  kernels::ImageFill fill;
  const kernels::ImageGeom g = image_geometry(x, transforms, interpolation, fill_mode, &fill);
  Tensor y;
  y.resize(x.shape());
  kernels::image_transform_forward(y.data(), x.data(), g, transforms.data(), interpolation == "bilinear", fill,
                                   fill_value);
  return y;
}

Tensor image_transform_backward(const Tensor& dy, const Tensor& transforms, const std::string& interpolation,
                                const std::string& fill_mode) {
  kernels::ImageFill fill;
  const kernels::ImageGeom g = image_geometry(dy, transforms, interpolation, fill_mode, &fill);
  Tensor dx;
  dx.resize(dy.shape());
  kernels::image_transform_backward(dx.data(), dy.data(), g, transforms.data(), interpolation == "bilinear", fill);
  return dx;
}

}  // namespace nncore

