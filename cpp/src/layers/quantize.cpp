// int8 quantization of a layer (Layer::quantize, nncore/layers/layer.hpp): the weights' side of Keras's "int8"
// mode. The layers' quantized forwards live beside their float ones.
#include <cmath>

#include "layers/common.hpp"
#include "nncore/check.hpp"

namespace nncore {

namespace {

const char* const kQuantizable =
    "int8 quantization applies to Dense, Embedding, Conv1D, Conv2D, SimpleRNN, LSTM and GRU (and Bidirectional or "
    "TimeDistributed around them)";

}  // namespace

void Layer::quantize(const std::string& mode) {
  NNC_CHECK(mode == "int8", "Invalid quantization mode for ", who(), ": expected 'int8' (Keras's 'float8', 'int4', "
            "'gptq' and 'awq' modes are not supported by nncore), got '", mode, "'");
  NNC_CHECK(built_, "Cannot quantize a layer that isn't yet built: ", who(), " is not built yet (build it, or call the "
            "model on data, first)");
  NNC_CHECK(!quantized_, who(), " is already quantized with dtype_policy='int8_from_float32': quantize the float "
            "model once");
  NNC_CHECK(quantizable(), who(), " cannot be quantized: ", kQuantizable);
  do_quantize();
  quantized_ = true;
  refresh_quantized();
}

void Layer::do_quantize() {
  const std::vector<Int8Weight> spec = int8_weights();
  const auto is_int8 = [&](const std::string& name) {
    for (const Int8Weight& w : spec)
      if (w.name == name) return true;
    return false;
  };
  std::vector<Param> out;
  for (const Param& p : params_)
    if (!is_int8(p.name)) out.push_back(p);  // shallow copies: the same storage
  for (const Int8Weight& w : spec) {
    const Tensor& f = weight(w.name);
    const int64_t n = f.size();
    const int64_t rows = w.per_row ? f.dim(0) : n / f.dim(-1), cols = n / rows;
    Param q, s;
    q.name = w.name;
    q.value = Tensor(f.shape());
    q.grad = Tensor(Shape{0});  // never trained: no gradient storage
    q.trainable = false;
    q.int8 = true;
    s.name = w.name + "_scale";
    s.value = Tensor({w.per_row ? rows : cols});
    s.grad = Tensor(Shape{0});
    s.trainable = false;
    std::vector<int8_t> bytes(static_cast<size_t>(n));
    if (w.per_row) kernels::quantize_rows_s8(rows, cols, f.data(), cols, bytes.data(), cols, s.value.data());
    else kernels::quantize_columns_s8(rows, cols, f.data(), bytes.data(), s.value.data());
    for (int64_t i = 0; i < n; ++i) q.value.data()[i] = bytes[static_cast<size_t>(i)];
    out.push_back(std::move(q));
    out.push_back(std::move(s));
  }
  params_ = std::move(out);
}

void Layer::refresh_quantized() {
  if (!quantized_) return;
  const std::vector<Int8Weight> spec = int8_weights();
  int8_packed_.assign(spec.size(), nullptr);
  for (size_t i = 0; i < spec.size(); ++i) {
    const Int8Weight& w = spec[i];
    const Tensor& q = weight(w.name);
    const Tensor& s = weight(w.name + "_scale");
    const int64_t n = q.size();
    const int64_t rows = w.per_row ? q.dim(0) : n / q.dim(-1), cols = n / rows;
    NNC_CHECK(s.size() == (w.per_row ? rows : cols), who(), ": weight '", w.name, "_scale' has shape ",
              s.shape_str(), ", expected (", w.per_row ? rows : cols, ")");
    for (int64_t j = 0; j < s.size(); ++j)
      NNC_CHECK(std::isfinite(s.data()[j]) && s.data()[j] > 0.f, who(), ": weight '", w.name, "_scale' holds ",
                s.data()[j], " at index ", j, " (expected finite positive scales)");
    std::vector<int8_t> bytes(static_cast<size_t>(n));
    for (int64_t j = 0; j < n; ++j) {
      const float v = q.data()[j];
      NNC_CHECK(v >= -127.f && v <= 127.f && v == std::nearbyint(v), who(), ": int8 weight '", w.name, "' holds ", v,
                " at index ", j, " (expected integers in [-127, 127])");
      bytes[static_cast<size_t>(j)] = static_cast<int8_t>(v);
    }
    if (w.per_row) continue;  // read in place (an embedding table)
    auto packed = std::make_shared<kernels::Int8PackedB>();
    kernels::gemm_s8_pack_b(rows, cols, bytes.data(), cols, packed.get());
    int8_packed_[i] = std::move(packed);
  }
}

const Tensor& Layer::weight(const std::string& name) const {
  for (const Param& p : params_)
    if (p.name == name) return p.value;
  throw std::logic_error(str_cat(who(), " has no weight '", name, "'"));
}

void Layer::check_not_quantized(const char* what) const {
  NNC_CHECK(!quantized_, who(), " is quantized (int8) and runs inference only: ", what, " needs the float model "
            "(train it before model.quantize('int8'), then quantize again)");
}

}  // namespace nncore
