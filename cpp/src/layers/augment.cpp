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
  }
  return "RandomImageLayer";
}


bool geometric(Kind k) { return k == Kind::rotation || k == Kind::zoom || k == Kind::translation; }

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

const Tensor& RandomImageLayer::forward_one(LayerCall& call, const Tensor& x, bool training) {
  Call& c = as<Call>(call);
  c.active = training;
  if (!training) return x;
  const kernels::ImageGeom g{x.dim(0), x.dim(1), x.dim(2), x.dim(3)};
  draw(c, g.B, g.H, g.W);
  c.y.resize(x.shape());
  const Options& o = options_;
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
  const kernels::ImageGeom g{x.dim(0), x.dim(1), x.dim(2), x.dim(3)};
  c.dx.resize(x.shape());
  const Options& o = options_;
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
  }
  if (geometric(kind_)) {
    c["fill_mode"] = o.fill_mode;
    c["interpolation"] = o.interpolation;
    c["fill_value"] = o.fill_value;
  }
  c["seed"] = o.seed >= 0 ? Json(o.seed) : Json();
  return c;
}

template <Kind K>
LayerPtr RandomImageLayer::from_config(const Json& c) {
  const std::string who = str_cat(kind_name(K), " config");
  Options o;
  o.mode = c.get("mode", o.mode);
  const char* main_key = K == Kind::zoom || K == Kind::translation ? "height_factor" : "factor";
  if (K != Kind::flip) o.factor = factor_of(c.at(main_key, who), K != Kind::contrast, str_cat(who, " ", main_key));
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

}  // namespace nncore
