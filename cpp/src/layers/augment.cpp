// The random image augmentation layers (nncore/layers/augment.hpp) and their Keras configs.
#include "nncore/layers/augment.hpp"

#include <cmath>

#include "kernels/kernels.hpp"
#include "layers/common.hpp"
#include "nncore/check.hpp"
#include "ops/conv_geometry.hpp"

namespace nncore {

using detail::layer_name;
using Kind = RandomImageLayer::Kind;

namespace {
constexpr double kTwoPi = 6.283185307179586;

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::flip: return "RandomFlip";
    case Kind::rotation: return "RandomRotation";
    case Kind::zoom: return "RandomZoom";
    case Kind::translation: return "RandomTranslation";
    case Kind::contrast: return "RandomContrast";
    case Kind::brightness: return "RandomBrightness";
    case Kind::crop: return "RandomCrop";
    case Kind::resizing: return "Resizing";
    case Kind::center_crop: return "CenterCrop";
  }
  return "RandomImageLayer";
}


bool geometric(Kind k) { return k == Kind::rotation || k == Kind::zoom || k == Kind::translation; }

// The transform that resamples window (x0, y0, cw, ch) of the input to oh x ow with half-pixel centres (as
// tf.image.resize): output column j reads x0 + (j + 0.5) cw / ow - 0.5; a same-size window is a plain crop.
void window_transform(float* t, double x0, double y0, double cw, double ch, int64_t oh, int64_t ow) {
  const double sx = cw / static_cast<double>(ow), sy = ch / static_cast<double>(oh);
  t[0] = static_cast<float>(sx);
  t[1] = 0.f;
  t[2] = static_cast<float>(x0 + 0.5 * sx - 0.5);
  t[3] = 0.f;
  t[4] = static_cast<float>(sy);
  t[5] = static_cast<float>(y0 + 0.5 * sy - 0.5);
}

void check_range(const std::array<float, 2>& f, float lo, float hi, const std::string& who, const char* what,
                 const char* meaning) {
  NNC_CHECK(std::isfinite(f[0]) && std::isfinite(f[1]) && f[0] >= lo && f[1] <= hi && f[0] <= f[1], who, ": ", what,
            " must lie in [", lo, ", ", hi, "] (", meaning, ") with lower <= upper, got (", f[0], ", ", f[1], ")");
}
}  // namespace

RandomImageLayer::RandomImageLayer(Kind kind, const Options& o, const std::string& name)
    : Layer(layer_name(name, kind_name(kind))), kind_(kind), options_(o) {
  if (o.seed >= 0) rng_.seed(static_cast<uint64_t>(o.seed));
  switch (kind) {
    case Kind::flip:
      NNC_CHECK(o.mode == "horizontal" || o.mode == "vertical" || o.mode == "horizontal_and_vertical", who(),
                ": mode must be 'horizontal', 'vertical' or 'horizontal_and_vertical', got '", o.mode, "'");
      break;
    case Kind::rotation:
      check_range(o.factor, -1.f, 1.f, who(), "factor", "a fraction of a full turn");
      break;
    case Kind::zoom:
      check_range(o.factor, -1.f, 10.f, who(), "height_factor", "-0.3: zoom in by up to 30%, 0.3: out");
      if (o.has_width_factor)
        check_range(o.width_factor, -1.f, 10.f, who(), "width_factor", "-0.3: zoom in by up to 30%, 0.3: out");
      break;
    case Kind::translation:
      check_range(o.factor, -1.f, 1.f, who(), "height_factor", "a fraction of the height");
      check_range(o.width_factor, -1.f, 1.f, who(), "width_factor", "a fraction of the width");
      break;
    case Kind::contrast:
      check_range(o.factor, 0.f, 1.f, who(), "factor", "the contrast varies in [1 - lower, 1 + upper]");
      break;
    case Kind::brightness:
      check_range(o.factor, -1.f, 1.f, who(), "factor", "a fraction of value_range");
      break;
    case Kind::crop:
    case Kind::resizing:
    case Kind::center_crop:
      NNC_CHECK(o.height >= 1 && o.width >= 1 && o.height <= (int64_t{1} << 20) && o.width <= (int64_t{1} << 20),
                who(), ": height and width must be positive (at most 2^20), got ", o.height, " and ", o.width);
      NNC_CHECK(!(o.crop_to_aspect_ratio && o.pad_to_aspect_ratio), who(),
                ": crop_to_aspect_ratio and pad_to_aspect_ratio cannot both be set");
      NNC_CHECK(o.interpolation == "nearest" || o.interpolation == "bilinear", who(),
                ": interpolation must be 'nearest' or 'bilinear' (nncore has no '", o.interpolation,
                "' resampling yet), got '", o.interpolation, "'");
      if (kind == Kind::resizing) detail::image_fill(o.fill_mode, who());
      break;
  }
  if (geometric(kind)) {
    detail::image_fill(o.fill_mode, who());
    NNC_CHECK(o.interpolation == "nearest" || o.interpolation == "bilinear", who(),
              ": interpolation must be 'nearest' or 'bilinear', got '", o.interpolation, "'");
  }
  if (kind == Kind::contrast || kind == Kind::brightness)
    NNC_CHECK(o.value_range[0] < o.value_range[1], who(), ": value_range must be (low, high) with low < high, got (",
              o.value_range[0], ", ", o.value_range[1], ")");
}

std::string RandomImageLayer::class_name() const { return kind_name(kind_); }

Shape RandomImageLayer::infer_shape(const Shape& in) const {
  Shape shown{-1};
  shown.insert(shown.end(), in.begin(), in.end());
  NNC_CHECK(in.size() == 3, who(), ": expected images of shape (batch, height, width, channels), got ",
            shape_str(shown));
  if (sized()) return {options_.height, options_.width, in[2]};
  return in;
}

Shape RandomImageLayer::do_build(const Shape& in) { return infer_shape(in); }

float RandomImageLayer::uniform(float lo, float hi) {
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
  return static_cast<float>(lo + (static_cast<double>(hi) - lo) * u);
}

// Each image's draw: for the geometric kinds and flips the 6 values of the transform from output pixels to input
// pixels (kernels::image_transform_forward), else the contrast factor or brightness delta.
void RandomImageLayer::draw(Call& c, int64_t B, int64_t H, int64_t W) {
  const Options& o = options_;
  const float h1 = static_cast<float>(H - 1), w1 = static_cast<float>(W - 1);
  c.params.assign(static_cast<size_t>(B) * (kind_ == Kind::contrast || kind_ == Kind::brightness ? 1 : 6), 0.f);
  for (int64_t b = 0; b < B; ++b) {
    float* t = c.params.data() + 6 * b;
    switch (kind_) {
      case Kind::flip: {
        const bool hz = o.mode != "vertical" && (rng_() >> 63) != 0;
        const bool vt = o.mode != "horizontal" && (rng_() >> 63) != 0;
        const float tr[6] = {hz ? -1.f : 1.f, 0.f, hz ? w1 : 0.f, 0.f, vt ? -1.f : 1.f, vt ? h1 : 0.f};
        std::copy(tr, tr + 6, t);
        break;
      }
      case Kind::rotation: {  // about the image's center (Keras's rotation matrix)
        const double a = static_cast<double>(uniform(o.factor[0], o.factor[1])) * kTwoPi;
        const double cs = std::cos(a), sn = std::sin(a);
        const double xo = (w1 - (cs * w1 - sn * h1)) / 2.0, yo = (h1 - (sn * w1 + cs * h1)) / 2.0;
        const float tr[6] = {static_cast<float>(cs), static_cast<float>(-sn), static_cast<float>(xo),
                             static_cast<float>(sn), static_cast<float>(cs), static_cast<float>(yo)};
        std::copy(tr, tr + 6, t);
        break;
      }
      case Kind::zoom: {  // zoom > 1 samples a larger region: out
        const float zy = 1.f + uniform(o.factor[0], o.factor[1]);
        const float zx = o.has_width_factor ? 1.f + uniform(o.width_factor[0], o.width_factor[1]) : zy;
        const float tr[6] = {zx, 0.f, w1 / 2.f * (1.f - zx), 0.f, zy, h1 / 2.f * (1.f - zy)};
        std::copy(tr, tr + 6, t);
        break;
      }
      case Kind::translation: {  // output pixel j reads input j - shift: the content moves by +shift
        const float dy = uniform(o.factor[0], o.factor[1]) * static_cast<float>(H);
        const float dx = uniform(o.width_factor[0], o.width_factor[1]) * static_cast<float>(W);
        const float tr[6] = {1.f, 0.f, -dx, 0.f, 1.f, -dy};
        std::copy(tr, tr + 6, t);
        break;
      }
      case Kind::contrast:
        c.params[static_cast<size_t>(b)] = uniform(1.f - o.factor[0], 1.f + o.factor[1]);
        break;
      case Kind::brightness:
        c.params[static_cast<size_t>(b)] = uniform(o.factor[0], o.factor[1]) * (o.value_range[1] - o.value_range[0]);
        break;
    }
  }
}

void RandomImageLayer::windows(Call& c, int64_t B, int64_t H, int64_t W, bool training) {
  const Options& o = options_;
  const int64_t oh = o.height, ow = o.width;
  c.params.assign(static_cast<size_t>(B) * 6, 0.f);
  c.cropped = false;
  const bool fits = H >= oh && W >= ow;
  for (int64_t b = 0; b < B; ++b) {
    float* t = c.params.data() + 6 * b;
    if (kind_ == Kind::crop && training && fits) {  // a random window of the target size
      const int64_t y0 = static_cast<int64_t>(rng_() % static_cast<uint64_t>(H - oh + 1));
      const int64_t x0 = static_cast<int64_t>(rng_() % static_cast<uint64_t>(W - ow + 1));
      window_transform(t, static_cast<double>(x0), static_cast<double>(y0), static_cast<double>(ow),
                       static_cast<double>(oh), oh, ow);
    } else if (kind_ == Kind::center_crop && fits) {
      window_transform(t, static_cast<double>((W - ow) / 2), static_cast<double>((H - oh) / 2),
                       static_cast<double>(ow), static_cast<double>(oh), oh, ow);
    } else if (kind_ != Kind::resizing || o.crop_to_aspect_ratio) {  // the largest centred window of the ratio
      const double aspect = static_cast<double>(ow) / static_cast<double>(oh);
      const int64_t ch = std::max<int64_t>(std::min<int64_t>(H, static_cast<int64_t>(static_cast<double>(W) / aspect)), 1);
      const int64_t cw = std::max<int64_t>(std::min<int64_t>(W, static_cast<int64_t>(static_cast<double>(H) * aspect)), 1);
      const int64_t y0 = (H - ch) / 2, x0 = (W - cw) / 2;
      c.cropped = true;  // the same window for every image: cut out, then resized whole
      c.box = {y0, H - y0 - ch, x0, W - x0 - cw};
      window_transform(t, 0.0, 0.0, static_cast<double>(cw), static_cast<double>(ch), oh, ow);
    } else if (o.pad_to_aspect_ratio) {  // the image centred in a window of the ratio, fill_value around it
      const double aspect = static_cast<double>(ow) / static_cast<double>(oh);
      const int64_t ph = std::max<int64_t>(H, static_cast<int64_t>(static_cast<double>(W) / aspect));
      const int64_t pw = std::max<int64_t>(W, static_cast<int64_t>(static_cast<double>(H) * aspect));
      window_transform(t, -static_cast<double>((pw - W) / 2), -static_cast<double>((ph - H) / 2),
                       static_cast<double>(pw), static_cast<double>(ph), oh, ow);
    } else {
      window_transform(t, 0.0, 0.0, static_cast<double>(W), static_cast<double>(H), oh, ow);
    }
  }
}

// How the resizing kinds sample: tf.image.resize clamps at the image's edges (fill "nearest"), except around a
// padded image, which reads fill_value.
kernels::ImageFill RandomImageLayer::resize_fill() const {
  return kind_ == Kind::resizing && options_.pad_to_aspect_ratio ? kernels::ImageFill::constant
                                                                 : kernels::ImageFill::nearest;
}

const Tensor& RandomImageLayer::forward_one(LayerCall& call, const Tensor& x, bool training) {
  Call& c = as<Call>(call);
  c.active = training || sized();
  if (!c.active) return x;
  const Options& o = options_;
  const int64_t oh = sized() ? o.height : x.dim(1), ow = sized() ? o.width : x.dim(2);
  const kernels::ImageGeom g{x.dim(0), x.dim(1), x.dim(2), x.dim(3), oh, ow};
  if (sized()) windows(c, g.B, g.H, g.W, training);
  else draw(c, g.B, g.H, g.W);
  c.y.resize({g.B, oh, ow, g.C});
  if (c.cropped) {
    const std::array<int64_t, 4>& k = c.box;
    const int64_t wh = g.H - k[0] - k[1], ww = g.W - k[2] - k[3];
    c.window.resize({g.B, wh, ww, g.C});
    kernels::pad2d_backward(c.window.data(), x.data(), g.B, wh, ww, g.C, k[0], k[1], k[2], k[3]);  // the cut
    const kernels::ImageGeom gw{g.B, wh, ww, g.C, oh, ow};
    kernels::image_transform_forward(c.y.data(), c.window.data(), gw, c.params.data(), o.interpolation == "bilinear",
                                     kernels::ImageFill::nearest, 0.f);
    return c.y;
  }
  switch (kind_) {
    case Kind::flip:
      kernels::image_transform_forward(c.y.data(), x.data(), g, c.params.data(), false,
                                       kernels::ImageFill::nearest, 0.f);
      break;
    case Kind::contrast:
      kernels::adjust_contrast_forward(c.y.data(), x.data(), g, c.params.data(), o.value_range[0], o.value_range[1]);
      break;
    case Kind::brightness:
      kernels::adjust_brightness_forward(c.y.data(), x.data(), g, c.params.data(), o.value_range[0],
                                         o.value_range[1]);
      break;
    case Kind::crop:
    case Kind::resizing:
    case Kind::center_crop:
      kernels::image_transform_forward(c.y.data(), x.data(), g, c.params.data(), o.interpolation == "bilinear",
                                       resize_fill(), o.fill_value);
      break;
    default:
      kernels::image_transform_forward(c.y.data(), x.data(), g, c.params.data(), o.interpolation == "bilinear",
                                       detail::image_fill(o.fill_mode, who()), o.fill_value);
  }
  return c.y;
}

const Tensor& RandomImageLayer::backward_one(LayerCall& call, const Tensor& dy, bool need_dx) {
  Call& c = as<Call>(call);
  if (!c.active) return dy;
  if (!need_dx) return c.dx;
  const Tensor& x = c.inputs[0];
  const kernels::ImageGeom g{x.dim(0), x.dim(1), x.dim(2), x.dim(3), dy.dim(1), dy.dim(2)};
  c.dx.resize(x.shape());
  const Options& o = options_;
  if (c.cropped) {  // the resize's adjoint into the window, then the window back in place, zeros around it
    const std::array<int64_t, 4>& k = c.box;
    const int64_t wh = g.H - k[0] - k[1], ww = g.W - k[2] - k[3];
    const kernels::ImageGeom gw{g.B, wh, ww, g.C, g.OH, g.OW};
    c.dwindow.resize({g.B, wh, ww, g.C});
    kernels::image_transform_backward(c.dwindow.data(), dy.data(), gw, c.params.data(), o.interpolation == "bilinear",
                                      kernels::ImageFill::nearest);
    kernels::pad2d_forward(c.dx.data(), c.dwindow.data(), g.B, wh, ww, g.C, k[0], k[1], k[2], k[3]);
    return c.dx;
  }
  switch (kind_) {
    case Kind::flip:
      kernels::image_transform_backward(c.dx.data(), dy.data(), g, c.params.data(), false,
                                        kernels::ImageFill::nearest);
      break;
    case Kind::contrast:
      kernels::adjust_contrast_backward(c.dx.data(), dy.data(), c.y.data(), g, c.params.data(), o.value_range[0],
                                        o.value_range[1]);
      break;
    case Kind::brightness:
      kernels::clipped_backward(c.dx.data(), dy.data(), c.y.data(), dy.size(), o.value_range[0], o.value_range[1]);
      break;
    case Kind::crop:
    case Kind::resizing:
    case Kind::center_crop:
      kernels::image_transform_backward(c.dx.data(), dy.data(), g, c.params.data(), o.interpolation == "bilinear",
                                        resize_fill());
      break;
    default:
      kernels::image_transform_backward(c.dx.data(), dy.data(), g, c.params.data(), o.interpolation == "bilinear",
                                        detail::image_fill(o.fill_mode, who()));
  }
  return c.dx;
}

// ---- configs (Keras's keys) ------------------------------------------------------------------------------------
namespace {
Json pair_json(const std::array<float, 2>& p) {
  Json a = Json::array();
  a.push_back(p[0]);
  a.push_back(p[1]);
  return a;
}

// A factor as Keras takes it: a number x (symmetric: (-x, x); contrast: (x, x)) or [lower, upper].
std::array<float, 2> factor_of(const Json& v, bool symmetric, const std::string& what) {
  if (!v.is_array()) {
    const float x = static_cast<float>(v.as_number(what));
    return {symmetric ? -std::fabs(x) : x, std::fabs(x)};
  }
  const std::vector<Json>& a = v.as_array(what);
  NNC_CHECK(a.size() == 2, what, ": expected a number or [lower, upper], got ", a.size(), " values");
  return {static_cast<float>(a[0].as_number(what)), static_cast<float>(a[1].as_number(what))};
}
}  // namespace

Json RandomImageLayer::config() const {
  Json c = Layer::config();
  const Options& o = options_;
  switch (kind_) {
    case Kind::flip:
      c["mode"] = o.mode;
      break;
    case Kind::rotation:
      c["factor"] = pair_json(o.factor);
      break;
    case Kind::zoom:
      c["height_factor"] = pair_json(o.factor);
      c["width_factor"] = o.has_width_factor ? pair_json(o.width_factor) : Json();
      break;
    case Kind::translation:
      c["height_factor"] = pair_json(o.factor);
      c["width_factor"] = pair_json(o.width_factor);
      break;
    case Kind::contrast:
    case Kind::brightness:
      c["factor"] = pair_json(o.factor);
      c["value_range"] = pair_json(o.value_range);
      break;
    case Kind::crop:
    case Kind::resizing:
    case Kind::center_crop:
      c["height"] = o.height;
      c["width"] = o.width;
      if (kind_ == Kind::resizing) {
        c["interpolation"] = o.interpolation;
        c["crop_to_aspect_ratio"] = o.crop_to_aspect_ratio;
        c["pad_to_aspect_ratio"] = o.pad_to_aspect_ratio;
        c["fill_mode"] = o.fill_mode;
        c["fill_value"] = o.fill_value;
      }
      break;
  }
  if (geometric(kind_)) {
    c["fill_mode"] = o.fill_mode;
    c["interpolation"] = o.interpolation;
    c["fill_value"] = o.fill_value;
  }
  if (kind_ != Kind::resizing && kind_ != Kind::center_crop) c["seed"] = o.seed >= 0 ? Json(o.seed) : Json();
  return c;
}

template <Kind K>
LayerPtr RandomImageLayer::from_config(const Json& c) {
  const std::string who = str_cat(kind_name(K), " config");
  Options o;
  o.mode = c.get("mode", o.mode);
  const char* main_key = K == Kind::zoom || K == Kind::translation ? "height_factor" : "factor";
  constexpr bool sized = K == Kind::crop || K == Kind::resizing || K == Kind::center_crop;
  if (sized) {
    o.height = c.at("height", who).as_int(who + " height");
    o.width = c.at("width", who).as_int(who + " width");
    o.crop_to_aspect_ratio = c.get("crop_to_aspect_ratio", false);
    o.pad_to_aspect_ratio = c.get("pad_to_aspect_ratio", false);
    if (K == Kind::resizing) o.fill_mode = "constant";  // Keras's Resizing: the padding's fill
    if (K != Kind::resizing) o.interpolation = "bilinear";
  }
  if (K != Kind::flip && !sized) o.factor = factor_of(c.at(main_key, who), K != Kind::contrast, str_cat(who, " ", main_key));
  if (K == Kind::translation || K == Kind::zoom) {
    const Json* wf = c.find("width_factor");
    NNC_CHECK(K == Kind::zoom || (wf != nullptr && !wf->is_null()), who, ": width_factor is required");
    if (wf != nullptr && !wf->is_null()) {
      o.width_factor = factor_of(*wf, true, who + " width_factor");
      o.has_width_factor = true;
    }
  }
  o.fill_mode = c.get("fill_mode", o.fill_mode);
  o.interpolation = c.get("interpolation", o.interpolation);
  o.fill_value = c.get("fill_value", o.fill_value);
  if (const Json* vr = c.find("value_range"); vr != nullptr && !vr->is_null()) {
    const std::vector<Json>& a = vr->as_array(who + " value_range");
    NNC_CHECK(a.size() == 2, who, ": value_range must be (low, high), got ", a.size(), " values");
    o.value_range = {static_cast<float>(a[0].as_number(who)), static_cast<float>(a[1].as_number(who))};
  }
  if (const Json* s = c.find("seed"); s != nullptr && !s->is_null()) o.seed = s->as_int(who + " seed");
  auto layer = std::make_shared<RandomImageLayer>(K, o, c.get("name", ""));
  layer->apply_base_config(c);
  return layer;
}

template LayerPtr RandomImageLayer::from_config<Kind::flip>(const Json&);
template LayerPtr RandomImageLayer::from_config<Kind::rotation>(const Json&);
template LayerPtr RandomImageLayer::from_config<Kind::zoom>(const Json&);
template LayerPtr RandomImageLayer::from_config<Kind::translation>(const Json&);
template LayerPtr RandomImageLayer::from_config<Kind::contrast>(const Json&);
template LayerPtr RandomImageLayer::from_config<Kind::brightness>(const Json&);
template LayerPtr RandomImageLayer::from_config<Kind::crop>(const Json&);
template LayerPtr RandomImageLayer::from_config<Kind::resizing>(const Json&);
template LayerPtr RandomImageLayer::from_config<Kind::center_crop>(const Json&);

}  // namespace nncore
