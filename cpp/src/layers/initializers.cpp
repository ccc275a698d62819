// Keras's weight initializers (keras/src/initializers in Keras 3), with their arguments and seeds.
#include "nncore/initializers.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <mutex>
#include <vector>

#include "nncore/check.hpp"
#include "nncore/runtime.hpp"

namespace nncore {

namespace {

// Every accepted name, its Keras class. Snake-case names and Keras's aliases first (initializer_names lists them).
struct NameEntry {
  const char* name;
  const char* class_name;
};
const std::vector<NameEntry>& name_table() {
  static const std::vector<NameEntry> table{
      {"glorot_uniform", "GlorotUniform"},   {"glorot_normal", "GlorotNormal"},
      {"he_uniform", "HeUniform"},           {"he_normal", "HeNormal"},
      {"lecun_uniform", "LecunUniform"},     {"lecun_normal", "LecunNormal"},
      {"zeros", "Zeros"},                    {"ones", "Ones"},
      {"uniform", "RandomUniform"},          {"random_uniform", "RandomUniform"},
      {"orthogonal", "Orthogonal"},          {"random_normal", "RandomNormal"},
      {"normal", "RandomNormal"},            {"truncated_normal", "TruncatedNormal"},
      {"constant", "Constant"},              {"identity", "Identity"},
      {"variance_scaling", "VarianceScaling"}, {"zero", "Zeros"},
      {"one", "Ones"},
      // Keras's class names, and its other spellings of two of them.
      {"GlorotUniform", "GlorotUniform"},    {"GlorotNormal", "GlorotNormal"},
      {"HeUniform", "HeUniform"},            {"HeNormal", "HeNormal"},
      {"LecunUniform", "LecunUniform"},      {"LecunNormal", "LecunNormal"},
      {"Zeros", "Zeros"},                    {"Ones", "Ones"},
      {"RandomUniform", "RandomUniform"},    {"RandomNormal", "RandomNormal"},
      {"TruncatedNormal", "TruncatedNormal"}, {"Constant", "Constant"},
      {"Identity", "Identity"},              {"IdentityInitializer", "Identity"},
      {"VarianceScaling", "VarianceScaling"}, {"Orthogonal", "Orthogonal"},
      {"OrthogonalInitializer", "Orthogonal"}, {"orthogonal_initializer", "Orthogonal"},
      {"identity_initializer", "Identity"}};
  return table;
}

const char* class_of(const std::string& name) {
  for (const NameEntry& e : name_table())
    if (name == e.name) return e.class_name;
  return nullptr;
}

// "GlorotUniform" -> "glorot_uniform".
std::string snake(const std::string& class_name) {
  std::string out;
  for (size_t i = 0; i < class_name.size(); ++i) {
    const char c = class_name[i];
    if (c >= 'A' && c <= 'Z') {
      if (i > 0) out += '_';
      out += static_cast<char>(c - 'A' + 'a');
    } else {
      out += c;
    }
  }
  return out;
}

std::string valid_list() {
  std::string valid;
  for (const auto& n : initializer_names()) valid += (valid.empty() ? "" : ", ") + n;
  return valid;
}

std::mutex resolver_mutex;
InitializerResolver& resolver() {
  static InitializerResolver r;
  return r;
}

// The stddev of N(0, 1) truncated to [-2, 2]: Keras divides by it so a truncated normal keeps the asked variance.
constexpr double kTruncatedStd = 0.87962566103423978;

void fill_uniform(Tensor& w, double lo, double hi, std::mt19937_64& rng) {
  std::uniform_real_distribution<float> u(static_cast<float>(lo), static_cast<float>(hi));
  for (int64_t i = 0; i < w.size(); ++i) w.data()[i] = u(rng);
}

// mean + stddev * z, z ~ N(0, 1), redrawn while |z| > 2 when truncated.
void fill_normal(Tensor& w, double mean, double stddev, bool truncated, std::mt19937_64& rng) {
  std::normal_distribution<float> n(0.f, 1.f);
  const float m = static_cast<float>(mean), s = static_cast<float>(stddev);
  for (int64_t i = 0; i < w.size(); ++i) {
    float z;
    do z = n(rng);
    while (truncated && std::fabs(z) > 2.f);
    w.data()[i] = m + s * z;
  }
}

// Keras's Orthogonal: w viewed as (rows, cols) = (prod of all axes but the last, last axis) gets orthonormal rows
// or columns, whichever there are fewer of: the Q factor of a standard-normal matrix of shape (max, min), made
// unique by a positive diagonal of R (modified Gram-Schmidt gives that directly), transposed when rows < cols.
// In double, then scaled by gain and rounded.
void fill_orthogonal(Tensor& w, double gain, std::mt19937_64& rng) {
  const int64_t cols = w.dim(-1), rows = cols > 0 ? w.size() / cols : 0;
  const int64_t n = std::max(rows, cols), k = std::min(rows, cols);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> a(static_cast<size_t>(n * k));  // column j is a[j*n .. j*n+n)
  for (double& v : a) v = normal(rng);
  for (int64_t j = 0; j < k; ++j) {
    double* q = &a[static_cast<size_t>(j * n)];
    for (int64_t p = 0; p < j; ++p) {
      const double* e = &a[static_cast<size_t>(p * n)];
      double dot = 0.0;
      for (int64_t i = 0; i < n; ++i) dot += e[i] * q[i];
      for (int64_t i = 0; i < n; ++i) q[i] -= dot * e[i];
    }
    double norm = 0.0;
    for (int64_t i = 0; i < n; ++i) norm += q[i] * q[i];
    norm = std::sqrt(norm);
    for (int64_t i = 0; i < n; ++i) q[i] /= norm;
  }
  // Q is (n, k) with Q[i][j] = a[j*n + i]; w is Q (rows >= cols) or Q^T.
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      w.data()[r * cols + c] = static_cast<float>(
          gain * (rows >= cols ? a[static_cast<size_t>(c * n + r)] : a[static_cast<size_t>(r * n + c)]));
}

// A number member of a config, finite.
double number(const Json& v, const std::string& what) {
  const double d = v.as_number(what);
  NNC_CHECK(std::isfinite(d), what, ": expected a finite number, got ", d);
  return d;
}

}  // namespace

const std::vector<std::string>& initializer_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const NameEntry& e : name_table())
      if (!(e.name[0] >= 'A' && e.name[0] <= 'Z') && std::string(e.name).find("_initializer") == std::string::npos)
        out.emplace_back(e.name);
    return out;
  }();
  return names;
}

void check_initializer(const std::string& name, const std::string& where) { Initializer(name).check(where); }

void set_initializer_resolver(InitializerResolver r) {
  std::lock_guard<std::mutex> lock(resolver_mutex);
  resolver() = std::move(r);
}

std::pair<int64_t, int64_t> compute_fans(const Shape& s) {
  if (s.empty()) return {1, 1};
  if (s.size() == 1) return {s[0], s[0]};
  if (s.size() == 2) return {s[0], s[1]};
  int64_t receptive = 1;
  for (size_t i = 0; i + 2 < s.size(); ++i) receptive *= s[i];
  return {s[s.size() - 2] * receptive, s.back() * receptive};
}

// ---- construction -----------------------------------------------------------------------------------------------
void Initializer::set_class(const std::string& cls) {
  class_ = cls;
  if (cls == "Zeros") kind_ = Kind::zeros;
  else if (cls == "Ones") kind_ = Kind::ones;
  else if (cls == "Constant") kind_ = Kind::constant;
  else if (cls == "Identity") kind_ = Kind::identity;
  else if (cls == "RandomNormal") kind_ = Kind::random_normal;
  else if (cls == "RandomUniform") kind_ = Kind::random_uniform;
  else if (cls == "TruncatedNormal") kind_ = Kind::truncated_normal;
  else if (cls == "Orthogonal") kind_ = Kind::orthogonal;
  else {
    kind_ = Kind::variance_scaling;
    const bool glorot = cls.rfind("Glorot", 0) == 0, he = cls.rfind("He", 0) == 0;
    scale_ = he ? 2.0 : 1.0;
    mode_ = glorot ? "fan_avg" : "fan_in";
    const bool uniform = cls.size() > 7 && cls.compare(cls.size() - 7, 7, "Uniform") == 0;
    distribution_ = uniform ? "uniform" : "truncated_normal";  // VarianceScaling's default too
  }
}

Initializer::Initializer(const std::string& name) {
  const char* cls = class_of(name);
  if (cls == nullptr) {
    kind_ = Kind::unknown;
    unknown_ = name;
    return;
  }
  set_class(cls);
  // A class name is written back in snake case; "uniform", "normal" and the other aliases as given.
  name_ = name[0] >= 'A' && name[0] <= 'Z' ? snake(cls) : name;
}

Initializer::Initializer(const char* name) : Initializer(std::string(name)) {}

Initializer Initializer::custom(InitializerFill fill, Json spec) {
  Initializer init;
  init.kind_ = Kind::custom;
  init.fill_ = std::move(fill);
  init.spec_ = std::move(spec);
  const Json* cn = init.spec_.is_object() ? init.spec_.find("class_name") : nullptr;
  init.class_ = cn != nullptr && cn->type() == Json::Type::string ? cn->as_string("class_name") : "custom";
  return init;
}

Initializer Initializer::from_json(const Json& j, const std::string& where) {
  if (j.type() == Json::Type::string) {
    Initializer init(j.as_string(where));
    init.check(where);
    return init;
  }
  NNC_CHECK(j.is_object(), where, ": expected an initializer name or a config {\"class_name\": ..., \"config\": "
            "{...}}, got ", j.dump());
  const std::string cls = j.at("class_name", where).as_string(where + " class_name");
  const Json* reg = j.find("registered_name");
  const Json* mod = j.find("module");
  const bool registered = reg != nullptr && !reg->is_null() && reg->as_string(where + " registered_name") != cls;
  const bool from_keras = mod != nullptr && mod->type() == Json::Type::string &&
                          mod->as_string(where + " module").rfind("keras", 0) == 0;
  const char* builtin = registered ? nullptr : class_of(cls);
  if (builtin == nullptr) {
    // Keras writes its own classes with module "keras.initializers" and no registered name: an unknown class
    // there is a mistake, not a user's class.
    NNC_CHECK(!(from_keras && !registered), where, ": unknown initializer class '", cls, "'; valid classes: ",
              "Zeros, Ones, Constant, Identity, RandomNormal, RandomUniform, TruncatedNormal, VarianceScaling, ",
              "GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal, Orthogonal");
    InitializerResolver resolve;
    {
      std::lock_guard<std::mutex> lock(resolver_mutex);  // a copy, called unlocked: it may wait for the host's lock
      resolve = resolver();
    }
    return custom(resolve ? resolve(j) : InitializerFill(), j);
  }
  Initializer init;
  init.set_class(builtin);
  const Json* cfg = j.find("config");
  if (cfg == nullptr || cfg->is_null()) return init;
  NNC_CHECK(cfg->is_object(), where, " (", cls, "): config must be an object, got ", cfg->dump());
  const std::string w = str_cat(where, " (", init.class_, ")");
  const Kind k = init.kind_;
  const bool named_vs = k == Kind::variance_scaling && init.class_ != "VarianceScaling";
  const bool random = k == Kind::random_normal || k == Kind::random_uniform || k == Kind::truncated_normal ||
                      k == Kind::variance_scaling || k == Kind::orthogonal;
  for (const auto& [key, v] : cfg->items()) {
    const std::string what = str_cat(w, " ", key);
    if (key == "seed" && random) {
      if (v.is_null()) continue;
      NNC_CHECK(v.type() == Json::Type::number, what, ": expected an integer >= 0 or null, got ", v.dump());
      init.seed_ = v.as_int(what);
      // Configs hold numbers as doubles: larger seeds would not come back as written.
      NNC_CHECK(init.seed_ >= 0 && init.seed_ <= (int64_t{1} << 53), what, ": expected an integer in [0, 2**53] or "
                "null, got ", init.seed_);
    } else if (key == "mean" && (k == Kind::random_normal || k == Kind::truncated_normal)) {
      init.mean_ = number(v, what);
    } else if (key == "stddev" && (k == Kind::random_normal || k == Kind::truncated_normal)) {
      init.stddev_ = number(v, what);
      NNC_CHECK(init.stddev_ >= 0.0, what, ": expected a number >= 0, got ", init.stddev_);
    } else if (key == "minval" && k == Kind::random_uniform) {
      init.minval_ = number(v, what);
    } else if (key == "maxval" && k == Kind::random_uniform) {
      init.maxval_ = number(v, what);
    } else if (key == "value" && k == Kind::constant) {
      NNC_CHECK(v.type() == Json::Type::number, what, ": Constant takes a scalar, got ", v.dump());
      init.value_ = number(v, what);
    } else if (key == "gain" && (k == Kind::identity || k == Kind::orthogonal)) {
      init.gain_ = number(v, what);
    } else if (key == "scale" && k == Kind::variance_scaling && !named_vs) {
      init.scale_ = number(v, what);
      NNC_CHECK(init.scale_ > 0.0, what, ": expected a number > 0, got ", init.scale_);
    } else if (key == "mode" && k == Kind::variance_scaling && !named_vs) {
      init.mode_ = v.as_string(what);
      NNC_CHECK(init.mode_ == "fan_in" || init.mode_ == "fan_out" || init.mode_ == "fan_avg", what,
                ": expected one of fan_in, fan_out, fan_avg, got '", init.mode_, "'");
    } else if (key == "distribution" && k == Kind::variance_scaling && !named_vs) {
      std::string d = v.as_string(what);
      for (char& ch : d) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (d == "normal") d = "truncated_normal";  // Keras's alias
      NNC_CHECK(d == "truncated_normal" || d == "untruncated_normal" || d == "uniform", what,
                ": expected one of truncated_normal, untruncated_normal, uniform, got '", v.as_string(what), "'");
      init.distribution_ = d;
    } else {
      const Json& args = init.arguments();
      std::string valid;
      for (const auto& kv : args.items()) valid += (valid.empty() ? "" : ", ") + kv.first;
      NNC_CHECK(false, w, ": unexpected argument '", key, "'; ", init.class_, " takes ",
                valid.empty() ? std::string("no arguments") : valid);
    }
  }
  NNC_CHECK(init.minval_ <= init.maxval_, w, ": minval must be <= maxval, got minval=", init.minval_, " maxval=",
            init.maxval_);
  return init;
}

// ---- serialization ----------------------------------------------------------------------------------------------
Json Initializer::arguments() const {
  Json c = Json::object();
  const bool random = kind_ == Kind::random_normal || kind_ == Kind::random_uniform ||
                      kind_ == Kind::truncated_normal || kind_ == Kind::variance_scaling || kind_ == Kind::orthogonal;
  if (random) c["seed"] = seed_ < 0 ? Json() : Json(seed_);
  switch (kind_) {
    case Kind::constant: c["value"] = value_; break;
    case Kind::identity: c["gain"] = gain_; break;
    case Kind::orthogonal: c["gain"] = gain_; break;
    case Kind::random_normal:
    case Kind::truncated_normal:
      c["mean"] = mean_;
      c["stddev"] = stddev_;
      break;
    case Kind::random_uniform:
      c["minval"] = minval_;
      c["maxval"] = maxval_;
      break;
    case Kind::variance_scaling:
      if (class_ == "VarianceScaling") {
        c["scale"] = scale_;
        c["mode"] = mode_;
        c["distribution"] = distribution_;
      }
      break;
    default: break;
  }
  return c;
}

Json Initializer::to_json() const {
  if (kind_ == Kind::custom) return spec_;
  if (kind_ == Kind::unknown) return Json(unknown_);
  if (!name_.empty()) return Json(name_);
  Initializer plain;
  plain.set_class(class_);
  const Json args = arguments();
  if (args.dump() == plain.arguments().dump()) return Json(snake(class_));
  Json j = Json::object();
  j["module"] = "keras.initializers";
  j["class_name"] = class_;
  j["config"] = args;
  j["registered_name"] = Json();
  return j;
}

void Initializer::check(const std::string& where) const {
  NNC_CHECK(kind_ != Kind::unknown, where, ": unknown initializer '", unknown_, "'; valid initializers: ",
            valid_list());
}

// ---- drawing ----------------------------------------------------------------------------------------------------
void Initializer::fill(Tensor& w, std::mt19937_64& layer_rng, const std::string& where) const {
  check(where);
  if (kind_ == Kind::custom) {
    NNC_CHECK(fill_, where, ": its initializer ", spec_.dump(), " is a user's function or class that is not known "
              "here; register it (in Python: @nncore.saving.register_keras_serializable(), or custom_objects=) "
              "before reading the config");
    fill_(w, where);
    return;
  }
  std::mt19937_64 own(static_cast<uint64_t>(seed_ < 0 ? 0 : seed_));
  std::mt19937_64& rng = seed_ < 0 ? layer_rng : own;
  const auto [fan_in, fan_out] = compute_fans(w.shape());
  switch (kind_) {
    case Kind::zeros: w.fill(0.f); break;
    case Kind::ones: w.fill(1.f); break;
    case Kind::constant: w.fill(static_cast<float>(value_)); break;
    case Kind::identity: {
      NNC_CHECK(w.ndim() == 2, where, ": the Identity initializer needs a 2-D weight, got shape ", w.shape_str());
      w.fill(0.f);
      for (int64_t i = 0; i < std::min(w.dim(0), w.dim(1)); ++i) w.data()[i * w.dim(1) + i] = static_cast<float>(gain_);
      break;
    }
    case Kind::random_normal: fill_normal(w, mean_, stddev_, false, rng); break;
    case Kind::truncated_normal: fill_normal(w, mean_, stddev_, true, rng); break;
    case Kind::random_uniform: fill_uniform(w, minval_, maxval_, rng); break;
    case Kind::orthogonal:
      NNC_CHECK(w.ndim() >= 2, where, ": the Orthogonal initializer needs a weight of rank >= 2, got shape ",
                w.shape_str());
      fill_orthogonal(w, gain_, rng);
      break;
    case Kind::variance_scaling: {
      const double fi = static_cast<double>(fan_in), fo = static_cast<double>(fan_out);
      const double fan = mode_ == "fan_in" ? fi : (mode_ == "fan_out" ? fo : (fi + fo) / 2.0);
      const double s = scale_ / std::max(1.0, fan);
      if (distribution_ == "truncated_normal") fill_normal(w, 0.0, std::sqrt(s) / kTruncatedStd, true, rng);
      else if (distribution_ == "untruncated_normal") fill_normal(w, 0.0, std::sqrt(s), false, rng);
      else {
        const double limit = std::sqrt(3.0 * s);
        fill_uniform(w, -limit, limit, rng);
      }
      break;
    }
    default: break;
  }
}

Initializer initializer_from_config(const Json& c, const std::string& key, const std::string& def,
                                    const std::string& who) {
  const Json* v = c.find(key);
  if (v == nullptr || v->is_null()) return Initializer(def);
  return Initializer::from_json(*v, str_cat(who, " ", key));
}

Tensor initializer_values(const Initializer& init, const Shape& shape) {
  for (int64_t d : shape) NNC_CHECK(d >= 0, "initializer: shape must have dimensions >= 0, got ", shape_str(shape));
  Tensor w(shape);
  std::mt19937_64 rng(next_seed());
  init.fill(w, rng, "initializer");
  return w;
}

}  // namespace nncore
