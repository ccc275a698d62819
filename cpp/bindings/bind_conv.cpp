#include "convert.hpp"

namespace nncore::bindings {

namespace {
Conv2DOptions conv_options(Pair strides, const std::string& padding, Pair dilation) {
  Conv2DOptions o;
  o.strides = strides;
  o.padding = padding;
  o.dilation = dilation;
  return o;
}
}  // namespace

void bind_conv(py::module_& m) {
  py::class_<Conv2D, Layer, std::shared_ptr<Conv2D>>(m, "Conv2D")
      .def(py::init<int64_t, Pair, Pair, const std::string&, Pair, const std::string&, bool, const Initializer&,
                    const Initializer&, const std::string&, int64_t>(),
           py::arg("filters"), py::arg("kernel_size"), py::arg("strides"), py::arg("padding"), py::arg("dilation_rate"),
           py::arg("activation"), py::arg("use_bias"), py::arg("kernel_initializer"), py::arg("bias_initializer"),
           py::arg("name"), py::arg("groups") = 1)
      .def_property_readonly("groups", &Conv2D::groups)
      .def_property_readonly("filters", &Conv2D::filters)
      .def_property_readonly("kernel_size", &Conv2D::kernel_size)
      .def_property_readonly("strides", &Conv2D::strides)
      .def_property_readonly("padding", &Conv2D::padding)
      .def_property_readonly("dilation_rate", &Conv2D::dilation_rate);
  py::class_<Conv2DTranspose, Layer, std::shared_ptr<Conv2DTranspose>>(m, "Conv2DTranspose")
      .def(py::init<int64_t, Pair, Pair, const std::string&, Pair, Pair, const std::string&, bool, const Initializer&,
                    const Initializer&, const std::string&>(),
           py::arg("filters"), py::arg("kernel_size"), py::arg("strides"), py::arg("padding"),
           py::arg("output_padding"), py::arg("dilation_rate"), py::arg("activation"), py::arg("use_bias"),
           py::arg("kernel_initializer"), py::arg("bias_initializer"), py::arg("name"))
      .def_property_readonly("filters", &Conv2DTranspose::filters)
      .def_property_readonly("kernel_size", &Conv2DTranspose::kernel_size)
      .def_property_readonly("strides", &Conv2DTranspose::strides)
      .def_property_readonly("padding", &Conv2DTranspose::padding)
      .def_property_readonly("output_padding",
                             [](const Conv2DTranspose& l) -> py::object {
                               if (!l.has_output_padding()) return py::none();
                               return py::make_tuple(l.output_padding()[0], l.output_padding()[1]);
                             })
      .def_property_readonly("dilation_rate", &Conv2DTranspose::dilation_rate)
      .def_property_readonly("use_bias", &Conv2DTranspose::use_bias);
  py::class_<DepthwiseConv2D, Layer, std::shared_ptr<DepthwiseConv2D>>(m, "DepthwiseConv2D")
      .def(py::init<Pair, Pair, const std::string&, int64_t, Pair, const std::string&, bool, const Initializer&,
                    const Initializer&, const std::string&>(),
           py::arg("kernel_size"), py::arg("strides"), py::arg("padding"), py::arg("depth_multiplier"),
           py::arg("dilation_rate"), py::arg("activation"), py::arg("use_bias"), py::arg("depthwise_initializer"),
           py::arg("bias_initializer"), py::arg("name"))
      .def_property_readonly("kernel_size", &DepthwiseConv2D::kernel_size)
      .def_property_readonly("strides", &DepthwiseConv2D::strides)
      .def_property_readonly("padding", &DepthwiseConv2D::padding)
      .def_property_readonly("depth_multiplier", &DepthwiseConv2D::depth_multiplier)
      .def_property_readonly("dilation_rate", &DepthwiseConv2D::dilation_rate)
      .def_property_readonly("use_bias", &DepthwiseConv2D::use_bias);
  py::class_<SeparableConv2D, DepthwiseConv2D, std::shared_ptr<SeparableConv2D>>(m, "SeparableConv2D")
      .def(py::init<int64_t, Pair, Pair, const std::string&, int64_t, Pair, const std::string&, bool,
                    const Initializer&, const Initializer&, const Initializer&, const std::string&>(),
           py::arg("filters"), py::arg("kernel_size"), py::arg("strides"), py::arg("padding"),
           py::arg("depth_multiplier"), py::arg("dilation_rate"), py::arg("activation"), py::arg("use_bias"),
           py::arg("depthwise_initializer"), py::arg("pointwise_initializer"), py::arg("bias_initializer"),
           py::arg("name"))
      .def_property_readonly("filters", &SeparableConv2D::filters);
  py::class_<DepthwiseConv1D, DepthwiseConv2D, std::shared_ptr<DepthwiseConv1D>>(m, "DepthwiseConv1D")
      .def(py::init<int64_t, int64_t, const std::string&, int64_t, int64_t, const std::string&, bool,
                    const Initializer&, const Initializer&, const std::string&>(),
           py::arg("kernel_size"), py::arg("strides"), py::arg("padding"), py::arg("depth_multiplier"),
           py::arg("dilation_rate"), py::arg("activation"), py::arg("use_bias"), py::arg("depthwise_initializer"),
           py::arg("bias_initializer"), py::arg("name"));
  py::class_<SeparableConv1D, SeparableConv2D, std::shared_ptr<SeparableConv1D>>(m, "SeparableConv1D")
      .def(py::init<int64_t, int64_t, int64_t, const std::string&, int64_t, int64_t, const std::string&, bool,
                    const Initializer&, const Initializer&, const Initializer&, const std::string&>(),
           py::arg("filters"), py::arg("kernel_size"), py::arg("strides"), py::arg("padding"),
           py::arg("depth_multiplier"), py::arg("dilation_rate"), py::arg("activation"), py::arg("use_bias"),
           py::arg("depthwise_initializer"), py::arg("pointwise_initializer"), py::arg("bias_initializer"),
           py::arg("name"));
  // Made through layer_from_config (the Keras config, which the C++ side validates and normalizes).
  py::class_<RandomImageLayer, Layer, std::shared_ptr<RandomImageLayer>>(m, "RandomImageLayer");
  py::class_<Pooling2D, Layer, std::shared_ptr<Pooling2D>>(m, "Pooling2D")
      .def_property_readonly("pool_size", &Pooling2D::pool_size)
      .def_property_readonly("strides", &Pooling2D::strides)
      .def_property_readonly("padding", &Pooling2D::padding);
  py::class_<MaxPooling2D, Pooling2D, std::shared_ptr<MaxPooling2D>>(m, "MaxPooling2D")
      .def(py::init<Pair, Pair, const std::string&, const std::string&>(), py::arg("pool_size"), py::arg("strides"),
           py::arg("padding"), py::arg("name"));
  py::class_<AveragePooling2D, Pooling2D, std::shared_ptr<AveragePooling2D>>(m, "AveragePooling2D")
      .def(py::init<Pair, Pair, const std::string&, const std::string&>(), py::arg("pool_size"), py::arg("strides"),
           py::arg("padding"), py::arg("name"));
  py::class_<GlobalAveragePooling2D, Layer, std::shared_ptr<GlobalAveragePooling2D>>(m, "GlobalAveragePooling2D")
      .def(py::init<const std::string&>(), py::arg("name"));
  py::class_<GlobalMaxPooling2D, Layer, std::shared_ptr<GlobalMaxPooling2D>>(m, "GlobalMaxPooling2D")
      .def(py::init<const std::string&>(), py::arg("name"));
  py::class_<ZeroPadding2D, Layer, std::shared_ptr<ZeroPadding2D>>(m, "ZeroPadding2D")
      .def(py::init<Pair, Pair, const std::string&>(), py::arg("height"), py::arg("width"), py::arg("name"));
  py::class_<Cropping2D, Layer, std::shared_ptr<Cropping2D>>(m, "Cropping2D")
      .def(py::init<Pair, Pair, const std::string&>(), py::arg("height"), py::arg("width"), py::arg("name") = "")
      .def_property_readonly("height", &Cropping2D::height)
      .def_property_readonly("width", &Cropping2D::width);
  py::class_<UpSampling2D, Layer, std::shared_ptr<UpSampling2D>>(m, "UpSampling2D")
      .def(py::init<Pair, const std::string&, const std::string&>(), py::arg("size"), py::arg("interpolation"),
           py::arg("name"))
      .def_property_readonly("size", &UpSampling2D::size)
      .def_property_readonly("interpolation", &UpSampling2D::interpolation);

  m.def(
      "conv2d",
      [](FloatArray x, FloatArray w, std::optional<FloatArray> b, Pair strides, const std::string& padding,
         Pair dilation, bool reference) {
        Tensor tx = view_of(x), tw = view_of(w), tb, y;
        if (b) tb = view_of(*b);
        const Conv2DOptions o = conv_options(strides, padding, dilation);
        {
          py::gil_scoped_release nogil;
          y = reference ? conv2d_ref(tx, tw, tb, o) : conv2d(tx, tw, tb, o);
        }
        return to_numpy(y);
      },
      py::arg("x"), py::arg("w"), py::arg("b"), py::arg("strides"), py::arg("padding"), py::arg("dilation"),
      py::arg("reference") = false);
  m.def(
      "conv2d_backward",
      [](FloatArray dy, FloatArray x, FloatArray w, Pair strides, const std::string& padding, Pair dilation,
         bool reference) {
        Tensor tdy = view_of(dy), tx = view_of(x), tw = view_of(w);
        const Conv2DOptions o = conv_options(strides, padding, dilation);
        Conv2DGradients g;
        {
          py::gil_scoped_release nogil;
          g = reference ? conv2d_backward_ref(tdy, tx, tw, o) : conv2d_backward(tdy, tx, tw, o);
        }
        return py::make_tuple(to_numpy(g.dx), to_numpy(g.dw), to_numpy(g.db));
      },
      py::arg("dy"), py::arg("x"), py::arg("w"), py::arg("strides"), py::arg("padding"), py::arg("dilation"),
      py::arg("reference") = false);
  m.def(
      "depthwise_conv2d",
      [](FloatArray x, FloatArray w, Pair strides, const std::string& padding, Pair dilation, bool reference) {
        Tensor tx = view_of(x), tw = view_of(w), y;
        const Conv2DOptions o = conv_options(strides, padding, dilation);
        {
          py::gil_scoped_release nogil;
          y = depthwise_conv2d(tx, tw, o, reference);
        }
        return to_numpy(y);
      },
      py::arg("x"), py::arg("w"), py::arg("strides"), py::arg("padding"), py::arg("dilation"),
      py::arg("reference") = false);
  m.def(
      "depthwise_conv2d_backward",
      [](FloatArray dy, FloatArray x, FloatArray w, Pair strides, const std::string& padding, Pair dilation,
         bool reference) {
        Tensor tdy = view_of(dy), tx = view_of(x), tw = view_of(w);
        const Conv2DOptions o = conv_options(strides, padding, dilation);
        Conv2DGradients g;
        {
          py::gil_scoped_release nogil;
          g = depthwise_conv2d_backward(tdy, tx, tw, o, reference);
        }
        return py::make_tuple(to_numpy(g.dx), to_numpy(g.dw));
      },
      py::arg("dy"), py::arg("x"), py::arg("w"), py::arg("strides"), py::arg("padding"), py::arg("dilation"),
      py::arg("reference") = false);
  m.def(
      "image_transform",
      [](FloatArray x, FloatArray transforms, const std::string& interpolation, const std::string& fill_mode,
         float fill_value) {
        Tensor tx = view_of(x), tt = view_of(transforms), y;
        {
          py::gil_scoped_release nogil;
          y = image_transform(tx, tt, interpolation, fill_mode, fill_value);
        }
        return to_numpy(y);
      },
      py::arg("x"), py::arg("transforms"), py::arg("interpolation"), py::arg("fill_mode"), py::arg("fill_value"));
  m.def(
      "image_transform_backward",
      [](FloatArray dy, FloatArray transforms, const std::string& interpolation, const std::string& fill_mode) {
        Tensor tdy = view_of(dy), tt = view_of(transforms), dx;
        {
          py::gil_scoped_release nogil;
          dx = image_transform_backward(tdy, tt, interpolation, fill_mode);
        }
        return to_numpy(dx);
      },
      py::arg("dy"), py::arg("transforms"), py::arg("interpolation"), py::arg("fill_mode"));
}

}  // namespace nncore::bindings

